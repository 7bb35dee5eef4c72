"""Data shipped with Bordin: the sample clinic of ``bordin demo``.

:func:`sample_dir` is the folder of its tidy CSV files (organizations,
clinicians, episodes, administrations, responses); see
:mod:`bordin.data.make_sample` for what it holds and how it was made.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["sample_dir"]


def sample_dir() -> Path:
    """The folder of the sample clinic's tidy CSV files."""
    return Path(__file__).with_name("sample")
