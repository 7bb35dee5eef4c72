"""The sample clinic's tidy CSV files (a package so that installs carry them)."""
