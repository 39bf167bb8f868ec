"""The generalisation lattice of a partition's quasi-identifiers, and the search for its best node.

A node gives every quasi-identifier a level of its ladder (the declared operator, coarser ones, then ``suppress``).
It is *feasible* when at most the budget of rows falls in equivalence classes smaller than k (those rows are then
suppressed). Among feasible nodes the search returns one of least information loss, as ARX does:

- **Loss** is ARX's generalised information loss (Iyengar's LM): a value generalised to a node that covers
  ``n`` of the column's ``N`` distinct values loses ``(n - 1) / (N - 1)``; a suppressed row loses 1 in every
  column; a missing value loses nothing. The partition's loss is the mean over its rows and quasi-identifiers.
- **Search** is branch and bound over the whole lattice: a node's *generalisation loss* (every row generalised,
  none suppressed) is additive over columns, never decreases up the lattice, and is a lower bound of the loss of
  the node and of every coarser node. Nodes are visited in order of that bound, and the search stops at the first
  bound no better than the best feasible node found: the result is optimal, usually after visiting a few nodes.

Everything works on the distinct combinations of level-0 values with their row counts, never on rows: ladders are
monotone, so every level is a function of the level-0 value, computed once per distinct value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Most nodes a lattice may have (the product of its ladders' lengths).
MAX_NODES = 200_000


def factorize(values: np.ndarray) -> np.ndarray:
    import pandas as pd

    return pd.factorize(values, sort=False)[0].astype(np.int64, copy=False)


def combine(columns: list[np.ndarray]) -> np.ndarray:
    """Exact class ids over several code columns: packed into one integer while the product of their code ranges
    fits in 62 bits, re-numbered when it would not (nothing overflows)."""
    n = len(columns[0]) if columns else 0
    ids, span = np.zeros(n, dtype=np.int64), 1
    for c in columns:
        width = int(c.max(initial=0)) + 1
        if span * width >= 1 << 62:
            ids = factorize(ids)
            span = int(ids.max(initial=0)) + 1
        ids = ids * width + c
        span *= width
    return factorize(ids) if columns else ids


@dataclass
class Lattice:
    """A partition's quasi-identifiers as the search needs them.

    ``tuples[c]``: the level-0 code of each distinct combination, per column; ``weights``: each combination's row
    count; ``maps[c][level]``: level-0 code -> code at that level; ``row_loss[c][level]``: the loss of one row with
    each level-0 code at that level."""

    columns: list[str]
    tuples: dict[str, np.ndarray]
    weights: np.ndarray
    maps: dict[str, list[np.ndarray]]
    row_loss: dict[str, list[np.ndarray]]
    rows: int = 0
    #: Generalisation loss of each column at each level, summed over rows.
    column_loss: dict[str, np.ndarray] = field(default_factory=dict)
    #: The distinct combination of each row.
    row_ids: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(self.maps[c]) for c in self.columns)

    def classes(self, node: tuple[int, ...]) -> np.ndarray:
        """The class id of each distinct combination at ``node``."""
        return combine([self.maps[c][lvl][self.tuples[c]] for c, lvl in zip(self.columns, node)])

    def below_k(self, node: tuple[int, ...], k: int) -> tuple[np.ndarray, int]:
        """(which combinations fall in classes smaller than k, how many rows that is) at ``node``."""
        ids = self.classes(node)
        sizes = np.bincount(ids, weights=self.weights)
        small = sizes[ids] < k
        return small, int(self.weights[small].sum())

    def generalisation_loss(self, node: tuple[int, ...]) -> float:
        """Loss of ``node`` with every row generalised and none suppressed (a lower bound of the loss of this node
        and of every coarser one)."""
        return float(sum(self.column_loss[c][lvl] for c, lvl in zip(self.columns, node)))

    def loss(self, node: tuple[int, ...], small: np.ndarray) -> float:
        """Mean loss per row and column at ``node`` with the ``small`` combinations suppressed (loss 1 each)."""
        m = len(self.columns)
        total = self.generalisation_loss(node)
        for c, lvl in zip(self.columns, node):
            total -= float((self.row_loss[c][lvl][self.tuples[c]][small] * self.weights[small]).sum())
        total += float(self.weights[small].sum()) * m
        return total / (self.rows * m) if self.rows and m else 0.0

    def column_losses(self, node: tuple[int, ...], small: np.ndarray) -> dict[str, float]:
        """Per column, the mean loss per row at ``node`` with the ``small`` combinations suppressed."""
        out = {}
        kept = ~small
        for c, lvl in zip(self.columns, node):
            gen = float((self.row_loss[c][lvl][self.tuples[c]][kept] * self.weights[kept]).sum())
            out[c] = round((gen + float(self.weights[small].sum())) / self.rows, 6) if self.rows else 0.0
        return out


def build(codes0: dict[str, np.ndarray], maps: dict[str, list[np.ndarray]], null_code: dict[str, int | None]
          ) -> Lattice:
    """A lattice from each column's level-0 code per row (``codes0[c]``, the declared operator's values encoded),
    the code of each level-0 code at every level of its ladder (``maps[c][level]``, level 0 the identity) and the
    level-0 code of a missing value (``null_code[c]``, if any)."""
    columns = list(codes0)
    rows = len(codes0[columns[0]]) if columns else 0
    tuple_ids = combine([codes0[c] for c in columns])
    first = np.full(int(tuple_ids.max(initial=-1)) + 1, rows, dtype=np.int64)
    np.minimum.at(first, tuple_ids, np.arange(rows, dtype=np.int64))
    weights = np.bincount(tuple_ids).astype(np.float64)
    lat = Lattice(columns, {c: codes0[c][first] for c in columns}, weights, maps, {}, rows=rows)
    lat.row_ids = tuple_ids
    for c in columns:
        n0 = len(maps[c][0])
        per_code_rows = np.bincount(codes0[c], minlength=n0).astype(np.float64)
        present = per_code_rows > 0
        missing = np.zeros(n0, dtype=bool)
        if null_code.get(c) is not None and null_code[c] < n0:
            missing[null_code[c]] = True
        domain = int((present & ~missing).sum())
        lat.row_loss[c], losses = [], []
        for m in maps[c]:
            if domain > 1:
                leaves = np.bincount(m[present & ~missing], minlength=int(m.max(initial=0)) + 1)
                loss = np.where(missing | ~present, 0.0, (leaves[m] - 1) / (domain - 1))
            else:
                loss = np.zeros(n0)
            lat.row_loss[c].append(loss)
            losses.append(float((loss * per_code_rows).sum()))
        lat.column_loss[c] = np.array(losses)
    return lat


@dataclass
class SearchResult:
    node: tuple[int, ...]
    feasible: bool
    suppressed: int
    loss: float
    small: np.ndarray
    visited: int


def search(lat: Lattice, k: int, budget: float, groups: np.ndarray | None = None,
           group_budgets: np.ndarray | None = None) -> SearchResult:
    """The feasible node of least loss (see the module docstring); when no node is feasible, the top of the lattice
    (every column suppressed), marked not feasible. With ``groups`` (a group per distinct combination, such as its
    day) a node is feasible only if every group's suppressed rows are within its ``group_budgets`` too (fewer
    suppressed rows in each group up the lattice: still monotone)."""
    top = tuple(n - 1 for n in lat.shape)
    if not lat.columns or not lat.rows:
        small = np.zeros(len(lat.weights), dtype=bool)
        return SearchResult(top, True, 0, 0.0, small, 0)
    if int(np.prod(lat.shape, dtype=np.float64)) > MAX_NODES:
        raise ValueError(f"a lattice of {int(np.prod(lat.shape, dtype=np.float64)):,} nodes is too large to search "
                         f"(at most {MAX_NODES:,}); declare fewer quasi-identifiers or shorter ladders")
    grids = np.meshgrid(*[lat.column_loss[c] for c in lat.columns], indexing="ij")
    bounds = np.sum(grids, axis=0).ravel()
    order = np.argsort(bounds, kind="stable")
    best: SearchResult | None = None
    visited = 0
    for i in order:
        if best is not None and bounds[i] / (lat.rows * len(lat.columns)) >= best.loss - 1e-12:
            break
        node = tuple(int(x) for x in np.unravel_index(i, lat.shape))
        visited += 1
        small, suppressed = lat.below_k(node, k)
        if suppressed > budget or (groups is not None and (np.bincount(
                groups[small], weights=lat.weights[small], minlength=len(group_budgets)) > group_budgets).any()):
            continue
        loss = lat.loss(node, small)
        if best is None or loss < best.loss - 1e-12:
            best = SearchResult(node, True, suppressed, loss, small, visited)
    if best is None:
        small, suppressed = lat.below_k(top, k)
        return SearchResult(top, False, suppressed, lat.loss(top, small), small, visited)
    best.visited = visited
    return best
