"""Data files of the web app (a package so that wheels carry them)."""
