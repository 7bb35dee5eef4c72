"""alliance"""
