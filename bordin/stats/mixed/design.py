"""The nesting structure of a model: which cells belong to which group at every level.

Random-effects terms are ordered from the innermost (most groups) to the outermost. The
sufficient-statistics estimator needs every term's groups to nest in the next term's
groups; designs whose grouping factors cross are handed to
:func:`bordin.stats.mixed.crossed.build_crossed_design` instead.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bordin.engines import GroupedCrossproducts, ModelSpec
from bordin.errors import InputError, StatisticalWarning

__all__ = ["Design", "Level", "build_design"]


@dataclass
class Level:
    """One random-effects term after sorting.

    Attributes
    ----------
    name
        Grouping factor name (``"clinic:therapist"``).
    z
        Indices of the term's columns in ``W``.
    terms
        Names of the term's columns (``["Intercept", "session"]``).
    starts
        ``np.add.reduceat`` offsets that sum the previous level's nodes into this level's
        nodes (``None`` for the innermost level, whose nodes are the cells).
    labels
        One label per node, in node order.
    keys
        Grouping-variable values per node.
    node_of_cell
        Node index of every cell (cells in sorted order).
    """

    name: str
    z: np.ndarray
    terms: list[str]
    starts: np.ndarray | None
    labels: list[str]
    keys: pd.DataFrame
    node_of_cell: np.ndarray

    @property
    def q(self) -> int:
        """Number of random effects per group."""
        return len(self.z)

    @property
    def n_nodes(self) -> int:
        """Number of groups."""
        return len(self.labels)


@dataclass
class Design:
    """Sorted cells and levels ready for the profiled likelihood."""

    crossprod: np.ndarray
    counts: np.ndarray
    levels: list[Level]
    p: int
    n: int
    fixed_names: list[str]
    stats: GroupedCrossproducts
    term_order: list[int]


def group_labels(keys: pd.DataFrame) -> list[str]:
    """Each group's label: its key columns joined by ``:`` (as lme4 names nested groups)."""
    cols = [keys[c].astype(str) for c in keys.columns]
    out = cols[0]
    for c in cols[1:]:
        out = out + ":" + c
    return out.tolist()


def lme4_term_order(n_groups: list[int]) -> list[int]:
    """The order in which lme4 puts random-effects terms (``mkReTrms``).

    Terms are reordered only when some term has more groups than the one before it;
    then by decreasing number of groups, ties in reverse formula order
    (``rev(order(nl))``).
    """
    k = len(n_groups)
    if not any(b > a for a, b in itertools.pairwise(n_groups)):
        return list(range(k))
    asc = sorted(range(k), key=lambda i: n_groups[i])  # stable, as R's order()
    return asc[::-1]


def build_design(stats: GroupedCrossproducts, spec: ModelSpec) -> Design:
    """Order the random terms, check the nesting and sort the cells.

    Crossed (non-nested) grouping factors give a
    :class:`~bordin.stats.mixed.crossed.CrossedDesign` instead.

    Raises
    ------
    InputError
        For a grouping factor with fewer than two groups, or more random effects than
        observations.
    """
    keys = stats.keys
    n_cells = len(keys)
    node_ids: list[np.ndarray] = []
    n_nodes: list[int] = []
    for part in spec.random:
        sub = keys[list(part.grouping)]
        ids = sub.groupby(list(part.grouping), sort=True, observed=True).ngroup().to_numpy()
        node_ids.append(ids)
        n_nodes.append(int(ids.max()) + 1 if n_cells else 0)
    # lme4's order (finest first), so θ, varcomp and confint's names come out as lme4's.
    order = lme4_term_order(n_nodes)
    n = stats.nobs
    for k in order:
        part = spec.random[k]
        if n_nodes[k] < 2:
            raise InputError(field=part.name, value=f"{n_nodes[k]} group(s)",
                             allowed="a grouping factor with at least 2 groups")
        if n_nodes[k] >= n:
            raise InputError(field=part.name, value=f"{n_nodes[k]} groups for {n} observations",
                             allowed="fewer groups than observations")
    # nesting: every node of a finer level lies in exactly one node of the next level,
    # and the finest level's nodes are the cells
    finest = order[0]
    crossed = n_nodes[finest] != n_cells or any(
        len(np.unique(node_ids[fine].astype(np.int64) * (n_nodes[coarse] + 1)
                      + node_ids[coarse])) != n_nodes[fine]
        for fine, coarse in itertools.pairwise(order))
    for k in order:
        if n_nodes[k] < 5:
            warnings.warn(
                f"grouping factor {spec.random[k].name} has only {n_nodes[k]} groups; its "
                "variance is poorly estimated", StatisticalWarning, stacklevel=3)
    if crossed:
        from bordin.stats.mixed.crossed import build_crossed_design

        return build_crossed_design(stats, spec)
    # sort cells: outermost level first, then inward
    sort_keys = tuple(node_ids[k] for k in order)  # lexsort: last key is primary
    perm = np.lexsort(sort_keys)
    levels: list[Level] = []
    prev_runs = np.arange(n_cells)  # representative cell (sorted position) of each node
    for rank, k in enumerate(order):
        part = spec.random[k]
        ids_sorted = node_ids[k][perm]
        if rank == 0:
            starts = None
            runs = np.arange(n_cells)
        else:
            seq = ids_sorted[prev_runs]
            change = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])
            starts = change
            runs = prev_runs[change]
        # renumber nodes in sorted order
        change_cells = np.r_[True, ids_sorted[1:] != ids_sorted[:-1]]
        node_of_cell = np.cumsum(change_cells) - 1
        lkeys = keys.iloc[perm[runs]][list(part.grouping)].reset_index(drop=True)
        levels.append(Level(
            name=part.name, z=np.asarray(stats.z_columns[k], dtype=np.intp),
            terms=list(stats.z_names[k]), starts=starts, labels=group_labels(lkeys),
            keys=lkeys, node_of_cell=node_of_cell,
        ))
        prev_runs = runs
    n_re = sum(lv.q * lv.n_nodes for lv in levels)
    if n_re >= n:
        raise InputError(field="formula", value=f"{n_re} random effects for {n} observations",
                         allowed="fewer random effects than observations")
    return Design(
        crossprod=np.ascontiguousarray(stats.crossprod[perm]),
        counts=stats.counts[perm], levels=levels, p=stats.p, n=n,
        fixed_names=list(stats.fixed_names), stats=stats, term_order=order,
    )
