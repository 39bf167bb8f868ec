"""Differentially private aggregates: the counts and sums analysts ask for, with a formal guarantee instead of
k-anonymity, computed with OpenDP (its Polars API: noise, truncation and accounting are OpenDP's, not piiflow's).

One day of one aggregate release is one OpenDP context over that day's rows: the privacy unit is one subject (the
dataset's ``subject_key`` as OpenDP's identifier), whose influence is bounded, not assumed, by truncation (at most
``max_rows_per_day`` rows per cell, in at most ``max_cells_per_day`` cells; rows past the bounds are not counted).
Each measure family is one query and the day's epsilon (and delta) is split evenly over them:

- ``users``: distinct subjects per cell (each subject's rows in a cell truncated to one);
- ``rows`` and ``sum`` (of a column clipped to declared bounds): rows per cell, and sums over them;
- a mean is a sum divided by its rows: post-processing, no budget of its own.

Cells: when every dimension's values are public (declared, or the operator's own table, as the cities of
:mod:`transforms.places`), every combination is published, zeros included; otherwise a cell is published only past
a threshold OpenDP derives from delta, so a value seen for a few subjects only is not published. Counts are clamped
at zero (a cell's noisy count is never negative: small counts are biased up by the clamp).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pyarrow as pa

from configs.catalog import Aggregate, Dataset
from transforms import places
from transforms.operators import apply_operator

#: Confidence of the published intervals.
ALPHA = 0.05


@dataclass(frozen=True)
class MeasureNoise:
    """How a published measure was noised: OpenDP's distribution and scale, the half-width of its 95% interval,
    and, for a thresholded release, the count under which a cell is not published."""

    measure: str
    distribution: str
    scale: float
    ci95: float
    threshold: int | None = None


def dimension_table(table: pa.Table, agg: Aggregate, ds: Dataset, *, tz: str) -> pa.Table:
    """The day's rows as the aggregate reads them: the subject key (the privacy unit), each dimension through its
    operator, and the columns its sums read."""
    cols = {"__unit__": table.column(ds.subject_key)}
    for name, dim in agg.dimensions.items():
        cols[name] = apply_operator(dim.op, table.column(dim.column), tz=tz).cast(pa.string())
    for m in agg.measures.values():
        if m.column:
            cols[f"__{m.column}__"] = table.column(m.column).cast(pa.float64())
    return with_cell_order(pa.table(cols), list(agg.dimensions))


#: A column of a cell's hash, first in the keys OpenDP truncates by: a subject past ``max_cells_per_day`` keeps the
#: cells that come first in this order (a hash, unrelated to the cells' names or sizes), not those first by name.
ORDER = "__order__"


def with_cell_order(table: pa.Table, dims: list[str]) -> pa.Table:
    import polars as pl

    frame = pl.from_arrow(table).with_columns(
        pl.concat_str([pl.col(d).fill_null("\x00") for d in dims], separator="\x1f").hash(seed=2026).alias(ORDER))
    return frame.to_arrow()


def public_keys(agg: Aggregate) -> pa.Table | None:
    """Every cell of a release whose dimensions are all public (their cross product), or None."""
    import polars as pl

    domains = {name: _public_values(dim) for name, dim in agg.dimensions.items()}
    if any(v is None for v in domains.values()):
        return None
    keys = None
    for name, values in domains.items():
        one = pl.DataFrame({name: pl.Series(list(values), dtype=pl.String)})
        keys = one if keys is None else keys.join(one, how="cross")
    return with_cell_order(keys.to_arrow(), list(domains))


def _public_values(dim) -> list[str] | None:
    if dim.values is not None:
        return list(dim.values)
    if dim.public and dim.op.op == "generalize_place":  # the division table is public: every name at the level
        return sorted(set(places.divisions().names[dim.op.to].tolist()))
    return None


@dataclass(frozen=True)
class Measurements:
    """OpenDP's measurements of one definition: per query (measure family), its measures and the measurement that
    answers them on a day's rows, how each measure is noised, and what one day costs by OpenDP's own accounting."""

    queries: list[tuple[list[str], object]]
    noise: list[MeasureNoise]
    epsilon: float
    delta: float


def measurements(agg: Aggregate, schema: pa.Schema) -> Measurements:
    """The measurements that answer ``agg`` on rows of ``schema`` (:func:`dimension_table`'s), built once: OpenDP
    searches each query's noise scale (and threshold) for the day's budget, split evenly over the queries. The
    scales depend on the definition only, never on the data, so one search serves every day of a run."""
    import opendp.prelude as dp
    import polars as pl

    dp.enable_features("contrib")
    dims = list(agg.dimensions)
    by = [ORDER, *dims]
    families = agg.measure_families()
    keys = public_keys(agg)
    delta = agg.delta if keys is None else 0.0
    ctx = dp.Context.compositor(
        data=pl.from_arrow(schema.empty_table()).lazy(),
        privacy_unit=dp.unit_of(contributions=1, identifier=pl.col("__unit__")),
        privacy_loss=dp.loss_of(epsilon=agg.epsilon, delta=delta) if delta else dp.loss_of(epsilon=agg.epsilon),
        split_evenly_over=len(families))
    queries, noise, eps, dlt = [], [], 0.0, 0.0
    for family, measures in families.items():
        per_cell = 1 if family == "users" else agg.max_rows_per_day
        # Two workarounds for OpenDP 0.16 on Polars 1.36, neither weakening the guarantee: keep="first" in the
        # order of ORDER (a hash of the cell), as "sample" fails with a duplicate struct field; and k + 1, as its
        # filter keeps the cells whose dense rank (from 1) is below k, so k - 1 cells, while its accounting charges
        # k: asking k + 1 keeps the declared k cells and is charged for k + 1 (more noise than needed, never less).
        q = (ctx.query().truncate_per_group(per_cell, by=by)
             .truncate_num_groups(agg.max_cells_per_day + 1, by=by, keep="first"))
        exprs = []
        for name, m in measures:
            if m.of in ("users", "rows"):
                exprs.append(dp.len(signed=False).alias(name))
            else:
                lo, hi = m.clip
                exprs.append(pl.col(f"__{m.column}__").fill_null(0.0).clip(lo, hi).dp.sum((lo, hi)).alias(name))
        q = q.group_by(*by).agg(*exprs)
        if keys is not None:
            q = q.join(pl.from_arrow(keys).lazy(), on=by, how="right")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            meas = q.resolve()
            summary = dp.summarize_polars_measurement(meas, alpha=ALPHA)
        loss = meas.map(object.__getattribute__(q, "_query")._d_in)
        e, d = loss if isinstance(loss, tuple) else (loss, 0.0)
        eps, dlt = eps + float(e), dlt + float(d)
        queries.append(([n for n, _ in measures], meas))
        for (name, _), row in zip(measures, summary.iter_rows(named=True)):
            noise.append(MeasureNoise(name, row["distribution"], float(row["scale"]), float(row["accuracy"]),
                                      int(row["threshold"]) if row.get("threshold") is not None else None))
    return Measurements(queries, noise, eps, dlt)


def release_day(rows: pa.Table, agg: Aggregate, ms: Measurements) -> pa.Table:
    """One day's noisy aggregate from :func:`dimension_table` rows: the dimensions, each measure and its 95%
    interval (``<m>_low``, ``<m>_high``), sorted by the dimensions. Every call draws fresh noise (OpenDP's own
    generator): a published day must be republished from what was stored, never recomputed."""
    import polars as pl

    dims = list(agg.dimensions)
    frame = pl.from_arrow(rows).lazy()
    out = None
    for names, meas in ms.queries:
        got = meas(frame).collect().select(*dims, *names)
        out = got if out is None else out.join(got, on=dims, how="full", coalesce=True)
    return _with_intervals(out, ms.noise, agg)


def _with_intervals(frame, noise: list[MeasureNoise], agg: Aggregate) -> pa.Table:
    import polars as pl

    cols = []
    for n in noise:
        value = pl.col(n.measure).cast(pl.Float64)
        low = value - n.ci95
        if agg.measures[n.measure].of != "sum":
            low = low.clip(lower_bound=0.0)  # a count is never negative
        cols += [pl.col(n.measure).cast(pl.Int64 if agg.measures[n.measure].of != "sum" else pl.Float64),
                 low.alias(f"{n.measure}_low"), (value + n.ci95).alias(f"{n.measure}_high")]
    for name, m in agg.measures.items():
        if m.of == "mean":
            total, rows = agg.mean_parts(name)
            cols.append(pl.when(pl.col(rows) > 0).then(pl.col(total).cast(pl.Float64) / pl.col(rows))
                        .otherwise(None).alias(name))
    frame = frame.with_columns(*cols).sort(list(agg.dimensions))
    return frame.to_arrow()
