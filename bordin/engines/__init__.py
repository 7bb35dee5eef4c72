"""Engines: reduce data where it lives to the sufficient statistics the estimators need.

The linear mixed models in :mod:`bordin.stats.mixed` depend on the data only through
per-group cross-products. An *engine* computes those cross-products from a source — a
pandas or polars frame (:mod:`bordin.engines.frame`), a Parquet file or DuckDB query
(:mod:`bordin.engines.duckdb`) — and hands back a small :class:`GroupedCrossproducts`.
Another engine (Spark, Dask, a stream of chunks) only has to implement the
:class:`SufficientStatistics` protocol.

The statistics are additive: cells computed on separate partitions can be merged with
:func:`merge_crossproducts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = [
    "GroupedCrossproducts",
    "ModelSpec",
    "RandomPart",
    "SufficientStatistics",
    "merge_crossproducts",
]

Missing = Literal["drop", "raise"]


@dataclass(frozen=True)
class RandomPart:
    """One random-effects term, ``(expr | g1:g2)``.

    Attributes
    ----------
    expr
        The right-hand side of the term's model formula (``"1 + session"``).
    grouping
        The variables whose combinations define the groups (``("clinic", "therapist")``).
    """

    expr: str
    grouping: tuple[str, ...]

    @property
    def name(self) -> str:
        """The grouping factor's name, variables joined by ``:``."""
        return ":".join(self.grouping)


@dataclass(frozen=True)
class ModelSpec:
    """What an engine must reduce: response, fixed part, random terms.

    Attributes
    ----------
    response
        Name of the response column.
    fixed
        Right-hand side of the fixed part, in formulaic syntax (``"session + alliance"``).
    random
        The random-effects terms.
    """

    response: str
    fixed: str
    random: tuple[RandomPart, ...]

    @property
    def grouping_variables(self) -> tuple[str, ...]:
        """All grouping variables, in first-seen order."""
        seen: dict[str, None] = {}
        for term in self.random:
            for var in term.grouping:
                seen.setdefault(var, None)
        return tuple(seen)


@dataclass
class GroupedCrossproducts:
    """Per-cell cross-products of ``W = [X, Z_extra, y]``.

    A *cell* is one combination of all grouping variables (for nested designs: one
    group of the innermost level). Everything an exact REML/ML fit needs is here.

    Attributes
    ----------
    fixed_names
        Names of the ``p`` fixed-effect columns (the first ``p`` columns of ``W``).
    extra_names
        Random-effect columns that are not fixed-effect columns (next columns of ``W``).
    z_columns
        For each random term (in ``ModelSpec.random`` order): indices into ``W``.
    z_names
        For each random term: the names of its columns.
    crossprod
        ``(G, m, m)`` array, ``W_g' W_g`` for every cell ``g``; the last column is ``y``.
    counts
        ``(G,)`` number of rows in each cell.
    keys
        ``G`` rows, one column per grouping variable: the cell's labels.
    n_dropped
        Rows dropped for missing values.
    response
        Name of the response.
    source
        Which engine produced the statistics (``"frame"``, ``"duckdb"``, ...).
    fixed_matrix
        Builds the fixed-effect design for new data (used by ``predict``).
    random_matrices
        Builds each random term's design for new data (used by ``predict``).
    """

    fixed_names: list[str]
    extra_names: list[str]
    z_columns: list[list[int]]
    z_names: list[list[str]]
    crossprod: np.ndarray
    counts: np.ndarray
    keys: pd.DataFrame
    n_dropped: int
    response: str
    source: str
    fixed_matrix: Callable[[pd.DataFrame], np.ndarray] | None = field(default=None, repr=False)
    random_matrices: Callable[[pd.DataFrame], list[np.ndarray]] | None = field(
        default=None, repr=False
    )

    @property
    def nobs(self) -> int:
        """Number of rows used."""
        return int(self.counts.sum())

    @property
    def p(self) -> int:
        """Number of fixed-effect columns."""
        return len(self.fixed_names)


@runtime_checkable
class SufficientStatistics(Protocol):
    """Anything that can reduce a data source to :class:`GroupedCrossproducts`."""

    def grouped_crossproducts(
        self, spec: ModelSpec, *, missing: Missing = "drop"
    ) -> GroupedCrossproducts:
        """Reduce the source to per-cell cross-products for ``spec``."""
        ...


def merge_crossproducts(parts: Sequence[GroupedCrossproducts]) -> GroupedCrossproducts:
    """Add up statistics computed on disjoint partitions of the same data.

    Parameters
    ----------
    parts
        Statistics with identical columns, e.g. one per file or per worker.

    Returns
    -------
    GroupedCrossproducts
        Cells with the same keys are summed.
    """
    first = parts[0]
    keys = pd.concat([p.keys for p in parts], ignore_index=True)
    codes = keys.groupby(list(keys.columns), sort=True, observed=True).ngroup().to_numpy()
    n_cells = int(codes.max()) + 1
    m = first.crossprod.shape[1]
    cross = np.zeros((n_cells, m, m))
    np.add.at(cross, codes, np.concatenate([p.crossprod for p in parts]))
    counts = np.bincount(codes, weights=np.concatenate([p.counts for p in parts]),
                         minlength=n_cells).astype(np.int64)
    first_idx = pd.Series(np.arange(len(codes))).groupby(codes).first().to_numpy()
    return GroupedCrossproducts(
        fixed_names=first.fixed_names, extra_names=first.extra_names,
        z_columns=first.z_columns, z_names=first.z_names, crossprod=cross, counts=counts,
        keys=keys.iloc[first_idx].reset_index(drop=True),
        n_dropped=sum(p.n_dropped for p in parts), response=first.response,
        source=first.source, fixed_matrix=first.fixed_matrix,
        random_matrices=first.random_matrices,
    )
