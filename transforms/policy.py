"""Applying a dataset's column policy, and the release gate (DESIGN.md, clause 6.5).

``apply_policy`` turns a raw table into its de-identified form; ``policy_violations`` checks the declarations
before any row is read; ``k_anonymize`` enforces k over the quasi-identifiers; ``rescan`` looks for direct
identifiers left anywhere in the output. ``flows.deidentify`` publishes only when all of them pass.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from presidio_analyzer import AnalyzerEngine

from configs.catalog import Dataset
from configs.checks import policy_violations  # noqa: F401  (re-exported: the gate's check)
from configs.operators import OperatorSpec
from transforms import lattice
from transforms import operators as ops
from transforms.detection import DIRECT_ENTITIES, detect, mask_value
from transforms.operators import IMPLEMENTATIONS, apply_operator
from transforms.operators.suppress_operator import hide
from transforms.tables import cast_to, concat, distinct_texts


def dictionary_columns(dataset: Dataset) -> list[str]:
    """Columns whose operator works on distinct values: read them dictionary-encoded (from Parquet that costs
    nothing: the file stores them so) and the distinct values come for free."""
    return [c for c, pol in dataset.columns.items() if IMPLEMENTATIONS[pol.op.op].distinct]


def columns_to_read(dataset: Dataset, row_key: bool = True) -> list[str]:
    """The columns a release needs from the raw data: those its policy does not drop, and the keys that decide
    which rows may be released (subject and organisation keys for erasures, the event time for dates, and the row
    key for quarantine unless ``row_key`` is False: nothing is quarantined)."""
    keys = [dataset.subject_key, dataset.org_key, dataset.row_key if row_key else None, dataset.event_time]
    return list(dict.fromkeys([c for c, pol in dataset.columns.items() if pol.op.op != "drop"]
                              + [k for k in keys if k]))


def apply_policy(table: pa.Table, dataset: Dataset, *, key: bytes, analyzer: AnalyzerEngine | None,
                 tz: str = "Asia/Shanghai") -> tuple[pa.Table, list[str]]:
    """The de-identified table (columns in input order, dropped ones removed) and the names of input columns the
    catalog does not declare (dropped: what is not declared is not released).

    Columns are independent: on large tables they are worked on by a few threads (Arrow and numpy release the GIL).
    """
    undeclared = [n for n in table.column_names if n not in dataset.columns]
    todo = [n for n in table.column_names if n in dataset.columns and dataset.columns[n].op.op != "drop"]

    def one(name: str) -> pa.Array:
        pol = dataset.columns[name]
        values = apply_operator(pol.op, table.column(name), key=key, analyzer=analyzer, tz=tz)
        return cast_to(values, pol.type) if pol.type else values

    return pa.table(dict(zip(todo, _map_columns(one, todo, table.num_rows)))), undeclared


#: Tables at least this long have their columns worked on by several threads.
_THREADED_ROWS = 200_000


def _map_columns(fn, names: list[str], rows: int) -> list:
    """``[fn(name) for name in names]``, by a few threads when the table is long (Arrow and numpy release the GIL)."""
    if rows < _THREADED_ROWS or len(names) < 2:
        return [fn(n) for n in names]
    with ThreadPoolExecutor(max_workers=min(len(names), os.cpu_count() or 1, 4)) as pool:
        return list(pool.map(fn, names))


def _codes(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Integer codes of a column's values (null gets its own code) and the distinct values they stand for."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    enc = pc.dictionary_encode(arr)
    codes = enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, enc.dictionary


def _decode(codes: np.ndarray, values: pa.Array) -> pa.Array:
    """``values`` taken at ``codes``, where the code ``len(values)`` stands for null (as :func:`_codes` gives)."""
    return pa.concat_arrays([values, pa.nulls(1, values.type)]).take(pa.array(codes))


def _quasi_lattice(raw: pa.Table, out: pa.Table, quasi: list[str], ladders: dict[str, list[OperatorSpec]], *,
                   key: bytes, tz: str, extra: dict[str, np.ndarray] | None = None):
    """The lattice of ``quasi`` over these rows (``extra``: further code columns that are part of every class and
    never generalised, such as the day), with what decoding a level needs: (lattice, level-0 codes, maps, each
    level's distinct values, each column's level-0 encoding)."""
    encoded = dict(zip(quasi, _map_columns(lambda c: _codes(out.column(c)), quasi, out.num_rows)))
    codes0 = {c: encoded[c][0] for c in quasi}
    maps: dict[str, list[np.ndarray]] = {}
    values: dict[str, list[pa.Array | None]] = {}  # level -> that level's distinct values, by its codes
    for c in quasi:  # level -> map from level-0 code to that level's code, via one raw value per level-0 code
        reps = ops.first_index(codes0[c])
        reps = reps[reps < len(codes0[c])]
        rep_raw = raw.column(c).take(pa.array(reps))
        n0 = int(codes0[c].max(initial=0)) + 1
        maps[c], values[c] = [np.arange(n0)], [None]
        for op in ladders[c][1:]:
            m = np.zeros(n0, dtype=np.int64)
            level_codes, level_values = _codes(apply_operator(op, rep_raw, key=key, tz=tz))
            m[codes0[c][reps]] = level_codes
            maps[c].append(m)
            values[c].append(level_values)
    nulls = {c: len(encoded[c][1]) if out.column(c).null_count else None for c in quasi}
    for name, codes in (extra or {}).items():
        codes0[name], maps[name], nulls[name] = codes, [np.arange(int(codes.max(initial=0)) + 1)], None
    return lattice.build(codes0, maps, nulls), codes0, maps, values, encoded


def release_levels(days: list[tuple[pa.Table, pa.Table]], dataset: Dataset, k: int, max_suppression: float, *,
                   key: bytes, tz: str = "Asia/Shanghai") -> tuple[dict[str, str], list[int]]:
    """One level per quasi-identifier for every day of a release (ARX's global recoding), so that a daily series
    compares like with like: the lattice search over all days together, each day its own partition (the day is part
    of every class) and each day within its own suppression budget (``max_suppression`` of its rows). ``days``:
    each day's raw rows and their declared (level-0) quasi-identifiers, as :func:`declared_quasi` gives them.

    Returns (each quasi-identifier's operator at the chosen level, described; the indexes of days that no level
    brings within budget: then the coarsest levels, those days reported by their gates)."""
    quasi = [c for c in dataset.columns_of_kind("quasi") if days and c in days[0][1].column_names]
    ladders = {c: dataset.columns[c].op.ladder() for c in quasi}
    sizes = np.array([out.num_rows for _, out in days], dtype=np.int64)
    if not quasi or not sizes.sum():
        return {c: ladders[c][0].describe() for c in quasi}, []
    raw, out = concat([r.select(quasi) for r, _ in days]), concat([o.select(quasi) for _, o in days])
    day = np.repeat(np.arange(len(days), dtype=np.int64), sizes)
    lat, *_ = _quasi_lattice(raw, out, quasi, ladders, key=key, tz=tz, extra={"__day__": day})
    budgets = max_suppression * sizes
    found = lattice.search(lat, k, float(budgets.sum()), groups=lat.tuples["__day__"], group_budgets=budgets)
    node = dict(zip(lat.columns, found.node))
    over = []
    if not found.feasible:
        per_day = np.bincount(lat.tuples["__day__"][found.small], weights=lat.weights[found.small],
                              minlength=len(days))
        over = [int(i) for i in np.flatnonzero(per_day > budgets)]
    return {c: ladders[c][node[c]].describe() for c in quasi}, over


def declared_quasi(table: pa.Table, dataset: Dataset, *, key: bytes, tz: str = "Asia/Shanghai") -> pa.Table:
    """``table``'s quasi-identifiers at their declared level: :func:`apply_policy` on those columns alone."""
    quasi = [c for c in dataset.columns_of_kind("quasi") if c in table.column_names]
    return apply_policy(table.select(quasi), dataset, key=key, analyzer=None, tz=tz)[0] if quasi else table.select([])


def generalize_to_k(raw: pa.Table, out: pa.Table, dataset: Dataset, k: int, max_suppression: float, *,
                    key: bytes, tz: str = "Asia/Shanghai", levels: dict[str, str] | None = None
                    ) -> tuple[pa.Table, "KReport"]:
    """Give each quasi-identifier the level of its ladder that keeps the most information while at most
    ``max_suppression`` of the rows fall in classes smaller than k, then suppress those (:func:`k_anonymize`).

    The levels are the optimum of a search over the lattice of the ladders (:mod:`transforms.lattice`: ARX's
    generalised information loss, branch and bound), or, with ``levels`` (each quasi-identifier's operator,
    described, as :func:`release_levels` chose them for the whole release), those. It works on the distinct
    combinations of the declared (level-0) values: ladders are monotone, so a coarser level is a function of the
    level-0 value, computed once per distinct value from a representative raw value. Only the chosen levels are
    applied to the full columns at the end.
    """
    quasi = [c for c in dataset.columns_of_kind("quasi") if c in out.column_names and c in raw.column_names]
    ladders: dict[str, list[OperatorSpec]] = {c: dataset.columns[c].op.ladder() for c in quasi}
    budget = max_suppression * out.num_rows
    named = {c: [op.describe() for op in ladders[c]] for c in quasi}
    given = {c: named[c].index(levels[c]) for c in quasi if levels and levels.get(c) in named[c]}
    class_ids, node, result = None, {c: given.get(c, 0) for c in quasi}, None
    if quasi and out.num_rows:
        lat, codes0, maps, values, encoded = _quasi_lattice(raw, out, quasi, ladders, key=key, tz=tz)
        if levels is None:
            result = lattice.search(lat, k, budget)
        else:
            chosen = tuple(node[c] for c in quasi)
            small, suppressed = lat.below_k(chosen, k)
            result = lattice.SearchResult(chosen, suppressed <= budget, suppressed, lat.loss(chosen, small), small, 1)
        node = dict(zip(quasi, result.node))
        for c in quasi:
            if node[c]:
                like = out.column(c).type  # every level keeps the declared operator's type: one type per column
                op = ladders[c][node[c]]
                # the chosen level, from the level-0 codes: the very classes the search measured, and no operator
                # run again over every row
                col = hide(raw.column(c), like) if op.op == "suppress" else \
                    _decode(maps[c][node[c]][codes0[c]], values[c][node[c]])
                out = out.set_column(out.column_names.index(c), c, col)
        class_ids = lat.classes(result.node)[lat.row_ids]  # the rows' classes at the chosen levels
    declared = {c: len(encoded[c][1]) for c in quasi} if class_ids is not None else {}  # nulls have no entry
    out, rep = k_anonymize(out, quasi, k, class_ids)
    rep.distinct = {c: {"declared": declared[c], "released": pc.count_distinct(out.column(c)).as_py()}
                    for c in declared}
    rep.operators = {c: ladders[c][node[c]] for c in quasi}
    rep.generalisation = {c: op.describe() for c, op in rep.operators.items()}
    rep.within_budget = rep.suppressed <= budget
    if result is not None:
        rep.information_loss = round(result.loss, 6)
        rep.information_loss_by_column = lat.column_losses(result.node, result.small)
        rep.lattice = {"nodes": int(np.prod(lat.shape)), "visited": result.visited}
    rep.l_diversity = {c: l_diversity(out, quasi, c) for c in dataset.columns_of_kind("sensitive")
                       if c in out.column_names}
    return out, rep


@dataclass
class KReport:
    k: int
    quasi_identifiers: list[str]
    rows_in: int
    suppressed: int
    k_reached: int | None
    classes: int
    class_sizes: dict[str, int] = field(default_factory=dict)
    prosecutor_risk_max: float = 0.0
    prosecutor_risk_avg: float = 0.0
    journalist_risk_max: float = 0.0
    marketer_risk: float = 0.0
    generalisation: dict[str, str] = field(default_factory=dict)
    within_budget: bool = True
    #: Generalised information loss (0: nothing lost, 1: everything), mean over rows and quasi-identifiers, and per
    #: quasi-identifier (a suppressed row loses everything): see :mod:`transforms.lattice`.
    information_loss: float = 0.0
    information_loss_by_column: dict[str, float] = field(default_factory=dict)
    #: The lattice searched: its size and how many nodes were evaluated.
    lattice: dict[str, int] = field(default_factory=dict)
    #: Distinct l-diversity per sensitive column: the fewest distinct values of it within any class.
    l_diversity: dict[str, int] = field(default_factory=dict)
    #: Per quasi-identifier, how many distinct values it has at its declared level and as released (nulls aside).
    distinct: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Not recorded: which input rows were kept (a boolean per row), and each quasi-identifier's chosen operator.
    kept: pa.Array | None = field(default=None, repr=False)
    operators: dict[str, OperatorSpec] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict:
        """The report as a manifest records it."""
        return {k: v for k, v in self.__dict__.items() if k not in ("kept", "operators")}


_SIZE_BINS = [(1, 1), (2, 4), (5, 9), (10, 19), (20, 49), (50, None)]


def l_diversity(table: pa.Table, quasi: list[str], sensitive: str) -> int:
    """The fewest distinct values of ``sensitive`` found in any equivalence class over ``quasi`` (0 if empty)."""
    if table.num_rows == 0:
        return 0
    ids = lattice.combine([_codes(table.column(c))[0] for c in quasi]) if quasi else np.zeros(table.num_rows, np.int64)
    pair_ids = lattice.combine([ids, _codes(table.column(sensitive))[0]])
    class_of_pair = ids[ops.first_index(pair_ids)]
    per_class = np.bincount(class_of_pair)  # every class id occurs, so no zero counts
    return int(per_class.min())


def class_sizes(table: pa.Table, quasi: list[str], class_ids: np.ndarray | None = None) -> pa.Array:
    """For every row, the size of its equivalence class over ``quasi`` (a null is a value like any other).
    ``class_ids`` (one per row), when the caller already knows the classes, saves encoding the columns again."""
    if not quasi or table.num_rows == 0:
        return pa.array([table.num_rows] * table.num_rows, pa.int64())
    ids = class_ids if class_ids is not None else lattice.combine([_codes(table.column(c))[0] for c in quasi])
    return pa.array(np.bincount(ids)[ids], pa.int64())


def k_anonymize(table: pa.Table, quasi: list[str], k: int,
                class_ids: np.ndarray | None = None) -> tuple[pa.Table, KReport]:
    """Suppress the rows whose quasi-identifier combination is shared by fewer than ``k`` rows.

    Risks follow El Emam's definitions as ARX reports them, taking the release as the population (journalist =
    prosecutor): prosecutor max = 1 / smallest class, average = classes / rows; marketer = classes / rows.
    ``class_ids``: see :func:`class_sizes`.
    """
    n = table.num_rows
    sizes = class_sizes(table, quasi, class_ids)
    keep = pc.greater_equal(sizes, k)
    kept = table.filter(keep)
    kept_sizes = sizes.filter(keep)
    rep = KReport(k=k, quasi_identifiers=list(quasi), rows_in=n, suppressed=n - kept.num_rows, k_reached=None,
                  classes=0, kept=keep)
    if kept.num_rows:
        smallest = pc.min(kept_sizes).as_py()
        classes = int(pc.sum(pc.divide(pc.cast(kept_sizes, pa.float64()), pc.multiply(
            pc.cast(kept_sizes, pa.float64()), pc.cast(kept_sizes, pa.float64())))).as_py() + 0.5)
        rep.k_reached = smallest
        rep.classes = classes
        rep.prosecutor_risk_max = round(1.0 / smallest, 6)
        rep.journalist_risk_max = rep.prosecutor_risk_max
        rep.prosecutor_risk_avg = round(classes / kept.num_rows, 6)
        rep.marketer_risk = rep.prosecutor_risk_avg
        for lo, hi in _SIZE_BINS:
            sel = pc.greater_equal(kept_sizes, lo) if hi is None else pc.and_(
                pc.greater_equal(kept_sizes, lo), pc.less_equal(kept_sizes, hi))
            label = f"{lo}+" if hi is None else (str(lo) if lo == hi else f"{lo}-{hi}")
            rows_in_bin = pc.sum(sel.cast(pa.int64())).as_py() or 0
            rep.class_sizes[label] = rows_in_bin
    return kept, rep


@dataclass(frozen=True)
class Leak:
    column: str
    entity_type: str
    evidence: str
    count: int


def rescan(table: pa.Table, analyzer: AnalyzerEngine, dataset: Dataset) -> list[Leak]:
    """Direct identifiers found anywhere in ``table``: every distinct value of every column is scanned as text,
    whatever its type (numbers, decimals, lists and structs as :func:`transforms.tables.as_text` writes them).

    Findings an operator leaves by design (an IP network from ``generalize_ip``) are not leaks. A pseudonymised
    column is checked more strictly than a scan could: every value must be a well-formed token of the keyed
    function (a random token can look like a phone number by chance; a raw value cannot look like a token).
    Evidence is masked.
    """
    texts = list(table.column_names)  # every column, whatever its type: a phone number stored as a number too

    def column_leaks(name: str) -> list[Leak]:
        col = table.column(name)
        pol = dataset.columns.get(name)
        if pol is not None and pol.op.op == "pseudonymize":
            pattern = "^" + re.escape(pol.op.prefix) + f"[0-9a-f]{{{pol.op.length}}}$"
            bad = pc.invert(pc.match_substring_regex(col, pattern)).combine_chunks().fill_null(False)
            n_bad = pc.sum(bad.cast(pa.int64())).as_py() or 0
            return [Leak(name, "NOT_A_PSEUDONYM", mask_value(col.filter(bad)[0].as_py()), n_bad)] if n_bad else []
        allowed = IMPLEMENTATIONS[pol.op.op].leaves if pol is not None else frozenset()
        found: dict[str, Leak] = {}
        for value in distinct_texts(col):
            for f in detect(analyzer, value):
                if f.type in DIRECT_ENTITIES and f.type not in allowed:
                    prev = found.get(f.type)
                    found[f.type] = Leak(name, f.type, prev.evidence if prev else mask_value(value[f.start:f.end]),
                                         (prev.count if prev else 0) + 1)
        return list(found.values())

    return [leak for leaks in _map_columns(column_leaks, texts, table.num_rows) for leak in leaks]


def nested_quasi_identifiers(dataset: str, table: pa.Table, ds: Dataset) -> list[str]:
    """Reasons to block: quasi-identifier columns that hold lists, structs or maps. k-anonymity groups rows by their
    quasi-identifier values and no ladder generalises a nested value, so such a column must be dropped or declared
    another way; the gate refuses it, naming it, before anything is computed."""
    return [f"{dataset}.{c}: a quasi-identifier holding nested values ({table.schema.field(c).type}) cannot be "
            f"grouped into classes of k; drop it or release one of its fields as a column"
            for c in ds.columns_of_kind("quasi") if c in table.column_names and ds.columns[c].op.op != "drop"
            and pa.types.is_nested(table.schema.field(c).type)]
