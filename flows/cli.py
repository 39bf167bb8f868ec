"""The ``piiflow`` command line (DESIGN.md's table): one entry point per command. Each command builds its settings
once and passes them down; each command that has a flow runs it, with the same parameter names (``-c/--catalog``
is ``catalog_path``, ``--subjects`` is ``subjects_file``). Flow modules are imported inside the commands, after
Prefect's environment defaults are set (once, in the app's callback), so that start-up is offline and quiet."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from configs.errors import PiiflowError
from flows.runtime import configure_prefect_env, quiet_domain_errors

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Make a privacy policy true of stored data: scan, de-identify, purge.")
out = Console()
err = Console(stderr=True)

CatalogOpt = typer.Option(..., "-c", "--catalog", exists=False, help="catalog YAML file")
JsonOpt = typer.Option(False, "--json", help="machine-readable output on stdout")


#: Commands that run flows; they run them with :func:`flows.runtime.direct_run_settings`.
FLOW_COMMANDS = {"scan", "deidentify", "purge", "erase", "nightly", "demo"}


@app.callback()
def _session(ctx: typer.Context) -> None:
    configure_prefect_env()  # environment defaults only: detect and generate start without importing Prefect
    if ctx.invoked_subcommand in FLOW_COMMANDS:
        from flows.runtime import direct_run_settings

        quiet_domain_errors()
        ctx.with_resource(direct_run_settings())


def demo_catalog_path() -> Path:
    return Path(str(files("configs") / "demo.yaml"))


def _emit(result: dict, as_json: bool, human) -> None:
    if as_json:
        out.file.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
    else:
        human(result)


def _fail(e: BaseException) -> None:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    sys.stderr.write(f"piiflow: error: {msg}\n")
    raise typer.Exit(1)


@app.command()
def generate(dir: Path = typer.Option(..., "--dir", help="lake root to write"),
             rows: int = typer.Option(20_000, "--rows", help="device events in all; other datasets in proportion"),
             seed: int = typer.Option(42, "--seed"),
             start: Optional[str] = typer.Option(None, "--start", help="first date (default: 29 days before end)"),
             end: Optional[str] = typer.Option(None, "--end", help="last date (default: yesterday)"),
             catalog: Optional[Path] = typer.Option(None, "-c", "--catalog", help="layout (default: demo catalog)"),
             as_json: bool = JsonOpt) -> None:
    """Write a synthetic lake with the ground truth of every planted identifier."""
    try:
        result = _generate(dir, rows, seed, start, end, catalog, progress=not as_json)
    except (PiiflowError, ValueError) as e:
        _fail(e)
    _emit(result, as_json, lambda r: out.print(
        f"generated {sum(r['rows'].values()):,} rows in {r['files']} files under {r['root']} "
        f"({r['seconds']:.1f}s); truth: {r['truth']}"))


def _generate(dir: Path, rows: int, seed: int, start: str | None, end: str | None, catalog: Path | None,
              progress: bool) -> dict:
    from rich.progress import Progress

    from configs.catalog import load_catalog
    from flows.generate import generate_lake
    from transforms.synth import LakeSpec

    end_d = date.fromisoformat(end) if end else date.today() - timedelta(days=1)
    start_d = date.fromisoformat(start) if start else end_d - timedelta(days=29)
    cat = load_catalog(catalog or demo_catalog_path(), root=dir.resolve())
    spec = LakeSpec(seed=seed, rows=rows, start=start_d, end=end_d)
    t0 = time.perf_counter()
    with Progress(console=err, disable=not progress, transient=True) as bar:
        task = bar.add_task("generating", total=None)

        def tick(name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"generating {name}")

        res = generate_lake(cat, spec, progress=tick)
    return {"root": str(res.root), "rows": res.rows, "files": res.files, "truth": str(res.truth_path),
            "truth_rows": res.truth_rows, "seconds": round(time.perf_counter() - t0, 2)}


@app.command()
def detect(threshold: Optional[float] = typer.Option(None, "--threshold", help="minimum score"),
           workers: int = typer.Option(os.cpu_count() or 1, "--workers", min=1,
                                       help="processes for inputs longer than one batch (default: CPUs)"),
           batch: int = typer.Option(2000, "--batch", min=1, help="lines per batch (output comes per batch)")) -> None:
    """Read JSONL {"id","text","language"} on stdin; write {"id","entities":[...]} per line on stdout, in order."""
    from configs.settings import Settings
    from flows.detect import detect_lines
    from transforms.detection import build_analyzer

    settings = Settings(**({} if threshold is None else {"score_threshold": threshold}))
    try:
        analyzer = build_analyzer(settings)
        for chunk in detect_lines(sys.stdin, analyzer, workers=workers, batch_size=batch,
                                  threshold=settings.score_threshold, ner_model=settings.ner_model):
            sys.stdout.write(chunk)
    except (PiiflowError, ValueError) as e:
        _fail(e)


@app.command()
def scan(catalog_path: Path = CatalogOpt, dataset: Optional[str] = typer.Option(None, "--dataset"),
         as_json: bool = JsonOpt) -> None:
    """PII inventory per dataset and column; flags PII in columns the policy does not cover."""
    from configs.settings import Settings
    from flows.runtime import configured
    from flows.scan import scan_flow

    settings = Settings()
    try:
        result = configured(scan_flow, settings)(str(catalog_path), dataset, settings=settings)
    except PiiflowError as e:
        _fail(e)
    _emit(result, as_json, _print_scan)


def _print_scan(result: dict) -> None:
    t = Table(title="PII inventory (masked evidence)")
    for c in ("dataset", "column", "entities", "hit rate", "policy", "evidence", ""):
        t.add_column(c)
    for d in result["datasets"]:
        for c in d["columns"]:
            if c["entities"]:
                t.add_row(d["dataset"], c["column"], ", ".join(c["entities"]), f"{c['hit_rate']:.0%}",
                          f"{c['declared_kind'] or '-'}/{c['declared_op'] or 'undeclared'}", c["evidence"],
                          "[red]DRIFT[/red]" if c["drift"] else "")
    out.print(t)
    out.print(f"report: {result['report']}")


@app.command()
def deidentify(catalog_path: Path = CatalogOpt, release: str = typer.Option(..., "--release"),
               start: Optional[str] = typer.Option(None, "--start"), end: Optional[str] = typer.Option(None, "--end"),
               force: bool = typer.Option(False, "--force", help="redo partitions whose inputs are unchanged"),
               as_json: bool = JsonOpt) -> None:
    """Build and gate a release; a date range is a backfill. Unchanged partitions are skipped."""
    from configs.settings import Settings
    from flows.deidentify import deidentify_flow
    from flows.runtime import configured, task_runner_for

    settings = Settings()
    try:
        flow_ = configured(deidentify_flow, settings, task_runner=task_runner_for(settings))
        result = flow_(str(catalog_path), release, _date(start, "--start"), _date(end, "--end"), force=force,
                       settings=settings)
    except PiiflowError as e:
        _fail(e)
    _emit(result, as_json, _print_release)


def _print_release(r: dict) -> None:
    if r["status"] == "blocked":
        out.print(f"release {r['release']}: BLOCKED: {r.get('error', '')}")
        return
    out.print(f"release {r['release']} -> {r['path']}: {r['published']} partitions published, "
              f"{r['skipped']} unchanged (skipped); {r['rows_out']:,} rows "
              f"({r['suppressed']:,} suppressed for k-anonymity)")


def _date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(ValueError(f"{flag}: expected a date like 2026-11-01, found {value!r}"))


@app.command()
def purge(catalog_path: Path = CatalogOpt, as_of: Optional[str] = typer.Option(None, "--as-of"),
          execute: bool = typer.Option(False, "--execute", help="act on the plan (default: only print it)"),
          as_json: bool = JsonOpt) -> None:
    """Plan (default) or execute retention."""
    from configs.settings import Settings
    from flows.purge import purge_flow
    from flows.runtime import configured

    try:
        result = configured(purge_flow, Settings())(str(catalog_path), _date(as_of, "--as-of"), execute)
    except PiiflowError as e:
        _fail(e)
    _emit(result, as_json, _print_purge)


def _print_purge(r: dict) -> None:
    verb = "removed" if r["executed"] else "would remove"
    files = sum(1 for a in r["actions"] if a["action"] in ("delete", "rewrite"))
    out.print(f"purge as of {r['as_of']}: {verb} {r['rows']:,} rows from {files} files or partitions"
              + ("" if r["executed"] else " (plan only; --execute to act)"))
    by_target: dict[str, list[dict]] = {}
    for a in r["actions"]:
        by_target.setdefault(a["target"], []).append(a)
    for target, acts in by_target.items():
        kinds = ", ".join(f"{sum(a['action'] == k for a in acts)} {k}" for k in ("delete", "rewrite", "quarantine")
                          if any(a["action"] == k for a in acts))
        line = f"  {target}: {kinds} ({acts[0]['partition']} .. {acts[-1]['partition']})"
        deleted = sum(max(a["deleted"], 0) for a in acts)
        line += f", {deleted:,} rows" if deleted else ""
        held = sum(a["held"] for a in acts)
        line += f"; {held:,} rows kept by legal hold ({', '.join(sorted({h for a in acts for h in a['holds']}))})" \
            if held else ""
        q = sum(a["quarantined"] for a in acts)
        line += f"; {q:,} rows quarantined" if q else ""
        out.print(line + f"; {acts[0]['reason']}")
    for ds, why in r["held_datasets"].items():
        out.print(f"  {ds}: whole dataset under legal hold: {why}")
    for ds, n in r["missing_time"].items():
        out.print(f"  {ds}: {n:,} rows without a usable event time (never deleted)")


@app.command()
def erase(catalog_path: Path = CatalogOpt,
          subjects_file: Optional[Path] = typer.Option(None, "--subjects", help="file of subject ids, one a line"),
          org: Optional[str] = typer.Option(None, "--org", help="an organisation id"),
          execute: bool = typer.Option(False, "--execute", help="act on the plan (default: only print it)"),
          as_json: bool = JsonOpt) -> None:
    """Plan (default) or execute an erasure request (account cancellation)."""
    from configs.settings import Settings
    from flows.erase import erase_flow
    from flows.runtime import configured

    settings = Settings()
    try:
        result = configured(erase_flow, settings)(str(catalog_path), str(subjects_file) if subjects_file else None,
                                                  org, execute, settings=settings)
    except PiiflowError as e:
        _fail(e)
    _emit(result, as_json, _print_erase)


def _print_erase(r: dict) -> None:
    if r["already_processed"]:
        out.print(f"erasure request {r['request_id']} was already processed: nothing to do")
        return
    verb = "erased" if r["executed"] else "would erase"
    rows = r["receipt"]["rows"] if r["executed"] else r["planned"]
    out.print(f"erasure request {r['request_id']}: {r['subjects']} subject(s)"
              + (f" ({r['members_added']} found through the organisation)" if r["members_added"] else "")
              + f"; {verb} {sum(rows.values()):,} rows" + ("" if r["executed"] else " (plan only; --execute to act)"))
    for target, n in rows.items():
        out.print(f"  {target}: {n:,} rows")


audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(catalog_path: Path = CatalogOpt, as_json: bool = JsonOpt) -> None:
    """Check the audit log's hash chain: any edited, removed or reordered entry fails."""
    from configs.catalog import load_catalog
    from flows.audit import verify

    try:
        cat = load_catalog(catalog_path)
    except PiiflowError as e:
        _fail(e)
    v = verify(cat.state_path)
    _emit(v.__dict__, as_json, lambda r: out.print(f"audit log: {r['entries']} entries, chain intact"
                                                   if r["ok"] else ""))
    if not v.ok:
        sys.stderr.write(f"piiflow: error: audit log: {v.problem}\n")
        raise typer.Exit(1)


@app.command()
def nightly(catalog_path: Path = CatalogOpt, as_json: bool = JsonOpt) -> None:
    """Purge, scan, then every release."""
    from configs.settings import Settings
    from flows.nightly import nightly_flow
    from flows.runtime import configured

    settings = Settings()
    try:
        result = configured(nightly_flow, settings)(str(catalog_path), settings=settings)
    except PiiflowError as e:
        _fail(e)
    _emit(result, as_json, _print_nightly)


def _print_nightly(r: dict) -> None:
    _print_purge(r["purge"])
    drift = r["scan"]["drift"]
    out.print(f"scan: {len(r['scan']['datasets'])} datasets; policy drift in {drift or 'no column'}; "
              f"report {r['scan']['report']}")
    for rel in r["releases"].values():
        _print_release(rel)


@app.command()
def demo(rows: int = typer.Option(20_000, "--rows"), dir: Path = typer.Option(Path("demo-lake"), "--dir"),
         as_json: bool = JsonOpt) -> None:
    """Generate a synthetic lake and run the nightly pipeline on it with the embedded Prefect."""
    from configs.catalog import load_catalog
    from configs.settings import Settings
    from flows.runtime import ensure_demo_key

    if rows < 10_000:
        _fail(ValueError(f"--rows: expected at least 10,000 (fewer leave too few rows per day for the demo "
                         f"releases' k=5), found {rows:,}"))
    root = dir.resolve()
    settings = Settings()
    if settings.key is None and settings.key_file is None:  # the demo's own local key, beside the lake
        settings = Settings(key_file=ensure_demo_key(root.parent / f".{root.name}.key"))
    catalog_path = root / "catalog.yaml"
    end = date.today() - timedelta(days=1)
    try:
        if not (root / "_truth" / "identifiers.parquet").exists():
            # Five weeks: past the 30-day retention of the access logs, so the nightly purge has work to do.
            gen = _generate(root, rows, 42, (end - timedelta(days=34)).isoformat(), end.isoformat(), None,
                            progress=not as_json)
            if not as_json:
                out.print(f"generated {sum(gen['rows'].values()):,} rows under {root} in {gen['seconds']:.1f}s")
        text = demo_catalog_path().read_text(encoding="utf-8").replace("root: ../demo-lake", "root: .")
        catalog_path.write_text(text, encoding="utf-8")
        load_catalog(catalog_path)
        from flows.nightly import nightly_flow
        from flows.runtime import configured

        result = configured(nightly_flow, settings)(str(catalog_path), settings=settings)
    except PiiflowError as e:
        _fail(e)
    result["catalog"] = str(catalog_path)
    _emit(result, as_json, _print_nightly)
    if not as_json:
        out.print(f"catalog: {catalog_path}\nreleases: {root / 'releases'}\nreports: {root / 'state' / 'reports'}")


@app.command()
def serve(catalog_path: Path = CatalogOpt) -> None:
    """Serve the scheduled deployments (nightly at 02:00 and a weekly full scan, Asia/Shanghai) from this process."""
    from configs.settings import Settings
    from flows.deployments import serve_all

    serve_all(str(catalog_path.resolve()), Settings())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
