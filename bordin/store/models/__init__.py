"""store/models"""
