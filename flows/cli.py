"""The ``piiflow`` command line (DESIGN.md's table): one entry point per command. Each command builds its settings
once and passes them down; each command that has a flow runs it, with the same parameter names (``-c/--catalog``
is ``catalog_path``, ``--subjects`` is ``subjects_file``). Flow modules are imported inside the commands, after
Prefect's environment defaults are set (once, in the app's callback), so that start-up is offline and quiet."""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from collections import Counter
from datetime import date, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from configs.errors import PiiflowError
from flows.runtime import configure_prefect_env, quiet_domain_errors

EXAMPLES = """Examples:

\b
  piiflow demo                                        a synthetic lake and a nightly run on it
  piiflow scan -c catalog.yaml --dataset app_logs     the PII inventory of one dataset
  piiflow deidentify -c catalog.yaml --release analytics --start 2026-11-01 --end 2026-11-07
  piiflow purge -c catalog.yaml                       print the retention plan (--execute acts on it)
  piiflow erase -c catalog.yaml --subjects ids.txt    plan an erasure (--execute acts on it)
  piiflow object -c catalog.yaml --subjects ids.txt --purpose marketing --execute
  piiflow withdraw -c catalog.yaml --subjects ids.txt plan a withdrawal of consent (--execute records it)
  piiflow sunset -c catalog.yaml --datasets call_records --mode anonymise   plan a discontinued service's end

Dates are YYYY-MM-DD in the lake's time zone; ranges include both ends. Exit status: 0 done, 1 refused or done
with problems (one line on stderr says why), 2 a bug (PIIFLOW_DEBUG=1 shows its traceback)."""

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"max_content_width": 110}, help="Make a privacy policy true of stored data: scan, de-identify, purge.", epilog=EXAMPLES)
def shown(text: str) -> str:
    """``text`` as one printable line: a control character (a newline, a terminal escape) in a file name or any
    other value from the lake is written as its escape (``\\n``, ``\\x1b``), so no name can forge or hide a line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


class _Console(Console):
    """A console that prints every line through :func:`shown` (rich markup of the caller's own stays markup: a value
    is escaped before it reaches a markup string, see :func:`_print_problems`)."""

    def print(self, *objects, **kwargs) -> None:  # noqa: A003 - rich's name
        kwargs.setdefault("markup", False)  # a name like "x[/b]" is text, never markup (nor a MarkupError)
        super().print(*(shown(o) if isinstance(o, str) else o for o in objects), **kwargs)


out = _Console(soft_wrap=True)  # a line is a line, in a terminal or a log file
err = _Console(stderr=True, soft_wrap=True)

CatalogOpt = typer.Option(..., "-c", "--catalog", exists=False, metavar="CATALOG.yaml",
                          help="the catalog: the lake, its datasets, their policy and releases")
JsonOpt = typer.Option(False, "--json", metavar="", help="one JSON object on stdout instead of the summary")


def DateOpt(flag: str, help: str):  # noqa: N802  (an option factory, read like the Option constants above)
    return typer.Option(None, flag, metavar="YYYY-MM-DD", help=help)


def Flag(flag: str, help: str):  # noqa: N802
    return typer.Option(False, flag, metavar="", help=help)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"piiflow {version('piiflow')}")
        raise typer.Exit()


#: Commands that run flows; :func:`_run` runs them with :func:`flows.runtime.direct_run_settings`.
FLOW_COMMANDS = {"scan", "deidentify", "purge", "erase", "object", "withdraw", "sunset", "nightly", "demo"}


@app.callback()
def _session(ctx: typer.Context,
             version: bool = typer.Option(False, "--version", metavar="", callback=_version, is_eager=True,
                                          help="print the version and exit")) -> None:
    configure_prefect_env()  # environment defaults only: detect and generate start without importing Prefect
    if ctx.invoked_subcommand in FLOW_COMMANDS:
        quiet_domain_errors()  # logging only: Prefect is imported once the call has been checked (see _run)


def demo_catalog_path() -> Path:
    return Path(str(files("configs") / "demo.yaml"))


def _emit(result: dict, as_json: bool, human) -> None:
    if as_json:
        out.file.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
    else:
        human(result)


def _fail(e: BaseException) -> None:
    msg = shown(str(e).strip()) if str(e).strip() else type(e).__name__
    sys.stderr.write(f"piiflow: error: {msg}\n")
    raise typer.Exit(1)


def _guard(check):
    """``check()``'s value; a PiiflowError or an OS error becomes the one-line failure."""
    try:
        return check()
    except PiiflowError as e:
        _fail(e)
    except OSError as e:
        _fail(OSError(f"{e.strerror or type(e).__name__}" + (f": {e.filename}" if e.filename else "")))


def _preflight(catalog_path: Path, key: bool = True, flows: bool = True):
    """(settings, catalog), validated before Prefect starts: a bad catalog, a lake root that is not there (a
    missing folder, a missing bucket or one in another region, an s3 prefix with nothing under it, no credentials
    for the object store) or a missing key fails in a second. A command that runs ``flows`` then has its Prefect
    API made ready while it goes on (:mod:`flows.prefect_api`)."""
    from configs.catalog import load_catalog
    from configs.settings import Settings
    from flows.storage import lake_fs

    settings = _guard(Settings)
    catalog = _guard(lambda: load_catalog(catalog_path))
    _guard(lambda: lake_fs(catalog).check_root())
    if key:
        from flows.lake_key import check_lake_key

        _guard(lambda: check_lake_key(catalog, settings))
    if flows:
        from flows import prefect_api

        prefect_api.start()
    return settings, catalog


def _flow(flow_, settings, **options):
    from flows.runtime import configured

    return configured(flow_, settings, **options)


def _check_task_runner(settings) -> None:
    from flows.runtime import check_task_runner

    check_task_runner(settings)


def _run(call, as_json: bool, human) -> None:
    """Run a flow command: print its result; a run that finished with problems prints what it did, then fails in
    one line; any other failure is one line too."""
    from prefect.exceptions import CancelledRun

    from configs.errors import RunIncomplete
    from flows import prefect_api
    from flows.runtime import direct_run_settings

    try:
        with prefect_api.api(), direct_run_settings():
            result = call()
    except CancelledRun as e:  # the run did nothing (another run holds the lake): its message says why
        _fail(e)
    except RunIncomplete as e:
        _emit(e.result, as_json, human)
        _fail(e)
    except PiiflowError as e:
        _fail(e)
    except OSError as e:
        _fail(OSError(f"{e.strerror or type(e).__name__}" + (f": {e.filename}" if e.filename else "")))
    _emit(result, as_json, human)


@app.command()
def generate(dir: str = typer.Option(..., "--dir", metavar="DIR|s3://BUCKET/PREFIX",
                                     help="the lake root to write (a folder, created; or an s3:// URI)"),
             rows: int = typer.Option(20_000, "--rows", min=1, metavar="N",
                                      help="device events in all; the other datasets in proportion"),
             seed: int = typer.Option(42, "--seed", metavar="N", help="the same seed writes the same lake"),
             start: Optional[str] = DateOpt("--start", "first event date, included (default: 29 days before --end)"),
             end: Optional[str] = DateOpt("--end", "last event date, included (default: yesterday)"),
             catalog: Optional[Path] = typer.Option(None, "-c", "--catalog", metavar="CATALOG.yaml",
                                                    help="the layout to write (default: the demo catalog)"),
             as_json: bool = JsonOpt) -> None:
    """Write a synthetic lake with the ground truth of every planted identifier.

    Example: piiflow generate --dir ./lake --rows 100000 --seed 7"""
    try:
        result = _generate(dir, rows, seed, start, end, catalog, progress=not as_json)
    except (PiiflowError, ValueError) as e:
        _fail(e)
    _emit(result, as_json, lambda r: out.print(
        f"generated {sum(r['rows'].values()):,} rows in {r['files']} files under {r['root']} "
        f"({r['seconds']:.1f}s); truth: {r['truth']}"))


def _shown(where) -> str:
    """A location as a person writes it (``s3://...`` for an object store)."""
    return getattr(where, "uri", None) or str(where)


def _lake_dir(text) -> "Path":
    """``--dir`` as a lake root: a local folder (made absolute) or an ``s3://`` location (ValueError otherwise)."""
    from configs.locations import ObjectPath, parse_location

    where = parse_location(str(text))
    return where if isinstance(where, ObjectPath) else where.resolve()


def _generate(dir, rows: int, seed: int, start: str | None, end: str | None, catalog: Path | None,
              progress: bool) -> dict:
    from rich.progress import Progress

    from configs.catalog import load_catalog
    from configs.locations import ObjectPath
    from flows.generate import generate_lake
    from flows.storage import lake_fs
    from transforms.synth import LakeSpec

    end_d = date.fromisoformat(end) if end else date.today() - timedelta(days=1)
    start_d = date.fromisoformat(start) if start else end_d - timedelta(days=29)
    root = _lake_dir(dir)
    cat = load_catalog(catalog or demo_catalog_path(), root=root.uri if isinstance(root, ObjectPath) else root)
    if isinstance(root, ObjectPath):
        lake_fs(cat).check_root(must_exist=False)  # the bucket is there, reachable, in the region: before any write
    spec = LakeSpec(seed=seed, rows=rows, start=start_d, end=end_d)
    t0 = time.perf_counter()
    with Progress(console=err, disable=not progress, transient=True) as bar:
        task = bar.add_task("generating", total=None)

        def tick(name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"generating {name}")

        res = generate_lake(cat, spec, progress=tick)
    return {"root": _shown(res.root), "rows": res.rows, "files": res.files, "truth": _shown(res.truth_path),
            "truth_rows": res.truth_rows, "seconds": round(time.perf_counter() - t0, 2)}


@app.command()
def detect(threshold: Optional[float] = typer.Option(None, "--threshold", min=0.0, max=1.0, metavar="SCORE",
                                                     help="minimum score (default: the balanced point, "
                                                          "PIIFLOW_SCORE_THRESHOLD)"),
           workers: int = typer.Option(os.cpu_count() or 1, "--workers", min=1, metavar="N",
                                       help="processes for inputs longer than one batch (default: CPUs)"),
           batch: int = typer.Option(2000, "--batch", min=1, metavar="N",
                                     help="lines per batch (output comes per batch)"),
           release: bool = Flag("--release", "the engine that redacts releases and re-scans them: its readers and "
                                             "threshold (PIIFLOW_RELEASE_SCORE_THRESHOLD), to measure what a release "
                                             "would let through")) -> None:
    """Read JSONL {"id","text","language"} on stdin; write {"id","entities":[...]} per line on stdout, in order.

    Example: echo '{"id":1,"text":"请联系售后邱经理"}' | piiflow detect --release
    """
    from configs.settings import Settings
    from flows.detect import detect_lines
    from transforms.detection import build_analyzer

    if release and threshold is not None:
        _fail(ValueError("detect: --release uses the release engine's own threshold; give --threshold or --release, "
                         "not both"))
    settings = Settings()
    if release or threshold is not None:
        settings = settings.model_copy(update={
            "score_threshold": settings.release_score_threshold if release else threshold})
    try:
        analyzer = build_analyzer(settings)
        for chunk in detect_lines(sys.stdin, analyzer, workers=workers, batch_size=batch,
                                  threshold=settings.score_threshold, ner_model=settings.ner_model):
            sys.stdout.write(chunk)
    except (PiiflowError, ValueError) as e:
        _fail(e)


@app.command()
def scan(catalog_path: Path = CatalogOpt,
         dataset: Optional[str] = typer.Option(None, "--dataset", metavar="NAME",
                                               help="one dataset of the catalog (default: every dataset)"),
         changed: bool = Flag("--changed", "scan only partitions new or changed since the last scan under the same "
                                           "detector and policy, merged into its findings (what the nightly does)"),
         as_json: bool = JsonOpt) -> None:
    """PII inventory per dataset and column; flags PII in columns the policy does not cover.

    Example: piiflow scan -c catalog.yaml --dataset chat_messages"""
    from configs.checks import check_dataset

    settings, catalog = _preflight(catalog_path, key=False)
    _guard(lambda: check_dataset(catalog, dataset))
    from flows.scan import scan_flow

    _run(lambda: _flow(scan_flow, settings)(str(catalog_path), dataset, changed=changed, settings=settings), as_json,
         _print_scan)


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
    for d in result["datasets"]:
        if m := d.get("minors"):
            out.print(f"minors in {d['dataset']} (clause 7): {m['under_18']:,} rows under 18, {m['under_14']:,} under 14"
                      + (f", {m['guardian_consent']:,} with a guardian's consent" if "guardian_consent" in m else "")
                      + f" (of {m['with_age']:,} rows with an age)")
    out.print(f"report: {result['report']}")
    _print_problems(result)


@app.command()
def deidentify(catalog_path: Path = CatalogOpt,
               release: str = typer.Option(..., "--release", metavar="NAME", help="a release the catalog declares"),
               start: Optional[str] = DateOpt("--start", "first event date, included (default: the earliest)"),
               end: Optional[str] = DateOpt("--end", "last event date, included (default: the latest)"),
               force: bool = Flag("--force", "redo partitions whose inputs, policy, key and state are unchanged"),
               as_json: bool = JsonOpt) -> None:
    """Build, gate and publish a release; a date range is a backfill. Unchanged partitions are skipped, and each
    redone one says why (new, input, policy, key, ledger, forced).

    Example: piiflow deidentify -c catalog.yaml --release analytics --start 2026-11-01 --end 2026-11-07"""
    from configs.checks import check_release_request

    settings, catalog = _preflight(catalog_path)
    first, last = _date(start, "--start"), _date(end, "--end")
    _guard(lambda: check_release_request(catalog, release, first, last))
    _guard(lambda: _check_task_runner(settings))
    if release in catalog.aggregates:
        from flows.aggregate import aggregate_flow

        _run(lambda: _flow(aggregate_flow, settings)(str(catalog_path), release, first, last, settings=settings),
             as_json, _print_aggregate)
        return
    from flows.deidentify import deidentify_flow
    from flows.runtime import task_runner_for

    _run(lambda: _flow(deidentify_flow, settings, task_runner=task_runner_for(settings, catalog))(
        str(catalog_path), release, first, last, force=force, settings=settings), as_json, _print_release)


def _print_release(r: dict) -> None:
    if r["status"] == "blocked":
        out.print(f"release {r['release']}: BLOCKED: {r.get('error', '')}")
        return
    for w in r.get("warnings", []):
        err.print(f"piiflow: warning: release {r['release']}: {w}", highlight=False)
    if r["published"] == 0 and r["skipped"] and not r["problems"]:
        out.print(f"release {r['release']} -> {r['path']}: all {r['skipped']} partitions unchanged since they were "
                  f"published (inputs, policy, key and ledger); nothing to do (--force redoes them)")
        return
    redone = ", ".join(f"{n} {why}" for why, n in r.get("redone", {}).items())
    out.print(f"release {r['release']} -> {r['path']}: {r['published']} partitions published"
              + (f" ({redone})" if redone else "") + f", {r['skipped']} unchanged (skipped); "
              f"{r['rows_out']:,} rows out of {r['rows_in']:,} ({r['suppressed']:,} suppressed for k-anonymity)")
    if r.get("left_out"):
        out.print(f"  left out for the release's purpose before de-identification: "
                  f"{', '.join(f'{n:,} rows ({why})' for why, n in r['left_out'].items())}")
    if r.get("hidden_columns"):
        out.print(f"  hidden entirely on some days to reach k (the data allows no finer level there): "
                  f"{', '.join(r['hidden_columns'])}")
    _print_problems(r)


def _received(value: str | None) -> date | None:
    """``--received``: a date, not in the future (a request cannot have been received tomorrow)."""
    when = _date(value, "--received")
    if when is not None and when > date.today() + timedelta(days=1):
        _fail(ValueError(f"--received: expected a date that has passed, found {value!r}"))
    return when


def _date(value: str | None, flag: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(ValueError(f"{flag}: expected a date like 2026-11-01, found {value!r}"))


@app.command()
def purge(catalog_path: Path = CatalogOpt,
          as_of: Optional[str] = DateOpt("--as-of", "enforce retention as at the start (00:00, the lake's time "
                                                    "zone) of this day, not in the future (default: now)"),
          execute: bool = Flag("--execute", "act on the plan (default: only print it)"),
          as_json: bool = JsonOpt) -> None:
    """Plan (default) or execute retention: delete what is past its retention period, keep what a legal hold
    holds.

    Example: piiflow purge -c catalog.yaml (the plan), then piiflow purge -c catalog.yaml --execute"""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from transforms.retention import resolve_as_of

    settings, catalog = _preflight(catalog_path, key=execute)
    moment = _date(as_of, "--as-of")
    tz = catalog.lake.timezone
    _guard(lambda: resolve_as_of(moment, tz, datetime.now(ZoneInfo(tz))))
    from flows.purge import purge_flow

    _run(lambda: _flow(purge_flow, settings)(str(catalog_path), moment, execute, settings=settings), as_json,
         _print_purge)


def _print_purge(r: dict) -> None:
    verb = "removed" if r["executed"] else "would remove"
    files = sum(1 for a in r["actions"] if a["action"] in ("delete", "rewrite"))
    out.print(f"purge as of {r['as_of']}: {verb} {r['rows']:,} rows from {files} files or partitions"
              + ("" if r["executed"] else " (plan only; --execute to act)"))
    by_target: dict[str, list[dict]] = {}
    for a in r["actions"]:
        by_target.setdefault(a["target"], []).append(a)
    for target, acts in by_target.items():
        kinds = ", ".join(f"{sum(a['action'] == k for a in acts)} {k}" for k in ("delete", "rewrite", "quarantine",
                                                                                 "set_aside", "delete_unreadable")
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
    _print_problems(r)


@app.command()
def erase(catalog_path: Path = CatalogOpt,
          subjects_file: Optional[Path] = typer.Option(None, "--subjects", metavar="FILE",
                                                       help="the subjects' ids, one a line"),
          org: Optional[str] = typer.Option(None, "--org", metavar="ID",
                                            help="an organisation id: erase it and every member"),
          execute: bool = Flag("--execute", "act on the plan (default: only print it)"),
          ledger: bool = Flag("--ledger", "apply every processed request again to what arrived since (what the "
                                          "nightly does)"),
          received: Optional[str] = DateOpt("--received", "when the requester's identity was verified: the 30 "
                                                          "days to answer run from it (default today)"),
          as_json: bool = JsonOpt) -> None:
    """Plan (default) or execute an erasure request (account cancellation), in raw data and releases.

    Example: piiflow erase -c catalog.yaml --subjects /secure/requests/r1.txt --execute"""
    from configs.checks import check_erase_request
    from flows.subject_files import read_subjects_file

    settings, _ = _preflight(catalog_path)
    _guard(lambda: check_erase_request(subjects_file, org, ledger))
    when = _received(received)
    if subjects_file is not None:
        _guard(lambda: read_subjects_file(subjects_file))
    from flows.erase import erase_flow

    _run(lambda: _flow(erase_flow, settings)(str(catalog_path), str(subjects_file) if subjects_file else None, org,
                                             execute, ledger, settings=settings, received=when), as_json,
         _print_erase)


def _print_erase(r: dict) -> None:
    rows = r["receipt"]["rows"] if r["executed"] else r["planned"]
    if r["already_processed"] and not r["files"]:
        out.print(f"erasure request {r['request_id']} was already processed and nothing of it arrived since: "
                  f"nothing to do")
    else:
        verb = "erased" if r["executed"] else "would erase"
        what = "what arrived since of " if r["already_processed"] else ""
        out.print(f"erasure request {r['request_id']}: {verb} {what}{r['subjects']} subject(s)"
                  + (f" ({r['members_added']} found through the organisation)" if r["members_added"] else "")
                  + f": {sum(rows.values()):,} rows in {r['files']} file(s)"
                  + ("" if r["executed"] else " (plan only; --execute to act)"))
        cells = (r["receipt"]["cells"] if r["executed"] else r.get("planned_cells")) or {}
        for target in dict.fromkeys([*rows, *cells]):
            changed = ", ".join(f"{col} {k:,}" for col, k in sorted(cells.get(target, {}).items()))
            out.print(f"  {target}: {rows.get(target, 0):,} rows"
                      + (f"; cells in rows kept: {changed}" if changed else ""))
    if r.get("not_found"):
        out.print(f"  not found: {r['not_found']} requested subject(s) appear in no dataset")
    _print_problems(r)


SubjectsOpt = typer.Option(..., "--subjects", metavar="FILE", help="the subjects' ids, one a line (or the first "
                                                                   "column of a CSV)")


@app.command("object")
def object_(catalog_path: Path = CatalogOpt, subjects_file: Path = SubjectsOpt,
            purposes: list[str] = typer.Option(..., "--purpose", metavar="PURPOSE",
                                               help="a purpose objected to (repeat for more): marketing, "
                                                    "personalisation, partner_sharing, analytics"),
            execute: bool = Flag("--execute", "record the request (default: only print the plan)"),
            received: Optional[str] = DateOpt("--received", "when the requester's identity was verified: the 30 "
                                                            "days to answer run from it (default today)"),
            as_json: bool = JsonOpt) -> None:
    """Plan (default) or record an objection (clause 8.2): releases for those purposes leave the subjects out.

    Example: piiflow object -c catalog.yaml --subjects /secure/requests/o1.txt --purpose marketing --execute"""
    _consent(catalog_path, "objection", subjects_file, purposes, execute, as_json, received)


@app.command()
def withdraw(catalog_path: Path = CatalogOpt, subjects_file: Path = SubjectsOpt,
             execute: bool = Flag("--execute", "record the request (default: only print the plan)"),
             received: Optional[str] = DateOpt("--received", "when the requester's identity was verified: the 30 "
                                                             "days to answer run from it (default today)"),
             as_json: bool = JsonOpt) -> None:
    """Plan (default) or record a withdrawal of consent (clause 8.3): every release but security's leaves the
    subjects out.

    Example: piiflow withdraw -c catalog.yaml --subjects /secure/requests/w1.txt --execute"""
    _consent(catalog_path, "withdrawal", subjects_file, [], execute, as_json, received)


def _consent(catalog_path: Path, kind: str, subjects_file: Path, purposes: list[str], execute: bool,
             as_json: bool, received: str | None = None) -> None:
    from configs.checks import check_consent_request
    from flows.subject_files import read_subjects_file

    settings, _ = _preflight(catalog_path)
    _guard(lambda: check_consent_request(kind, purposes))
    _guard(lambda: read_subjects_file(subjects_file))
    when = _received(received)
    from flows.consent import consent_flow

    _run(lambda: _flow(consent_flow, settings)(str(catalog_path), kind, str(subjects_file), purposes or None,
                                               execute, settings=settings, received=when), as_json, _print_consent)


def _print_consent(r: dict) -> None:
    what = f"objection to {', '.join(r['purposes'])}" if r["kind"] == "objection" else "withdrawal of consent"
    if r["already_recorded"]:
        state = "already recorded: nothing new"
    else:
        state = "recorded" if r["executed"] else "plan only; --execute to record it"
    out.print(f"{what} {r['request_id']}: {r['subjects']} subject(s) ({state})")
    for rel, v in r["releases"].items():
        out.print(f"  {rel}: leaves them out from its next run ({v['rows']:,} published rows in {v['partitions']} "
                  f"partition(s) to redo)")
    if not r["releases"]:
        out.print("  no release of the catalog serves a purpose it reaches")
    if r.get("not_found"):
        out.print(f"  not found: {r['not_found']} requested subject(s) appear in no dataset")
    _print_problems(r)


@app.command()
def sunset(catalog_path: Path = CatalogOpt,
           datasets: str = typer.Option(..., "--datasets", metavar="A,B", help="the discontinued product's datasets, "
                                                                                 "comma-separated"),
           mode: str = typer.Option(..., "--mode", metavar="delete|anonymise",
                                    help="delete everything, or keep it anonymised to the release standard (no "
                                         "direct identifier, k met) as the sunset_archive release"),
           execute: bool = Flag("--execute", "act on the plan (default: only print it)"),
           as_json: bool = JsonOpt) -> None:
    """Plan (default) or carry out the end of a discontinued service's data (clause 5.2.2), in raw data and
    releases.

    Example: piiflow sunset -c catalog.yaml --datasets call_records --mode anonymise --execute"""
    from configs.checks import check_sunset_request

    names = [d.strip() for d in datasets.split(",") if d.strip()]
    settings, catalog = _preflight(catalog_path)
    _guard(lambda: check_sunset_request(catalog, names, mode))
    from flows.sunset import sunset_flow

    _run(lambda: _flow(sunset_flow, settings)(str(catalog_path), names, mode, execute, settings=settings), as_json,
         _print_sunset)


def _print_sunset(r: dict) -> None:
    verb = "deleted" if r["executed"] else "would delete"
    if r.get("nothing_left"):
        out.print(f"sunset {r['sunset_id']} ({r['mode']}) of {', '.join(r['datasets'])}: nothing left to do")
        return
    out.print(f"sunset {r['sunset_id']} ({r['mode']}) of {', '.join(r['datasets'])}"
              + ("" if r["executed"] else " (plan only; --execute to act)"))
    if r.get("archive"):
        a = r["archive"]
        out.print(f"  archived anonymised as releases/sunset_archive: {a['published']} partition(s) published, "
                  f"{a['skipped']} unchanged, {a['rows_out']:,} rows")
    elif r["mode"] == "anonymise" and not r["executed"]:
        out.print("  would archive every date anonymised as releases/sunset_archive, then delete:")
    for name, n in r["raw_files"].items():
        out.print(f"  {name}: {verb} {n} raw file(s)")
    for target, n in r["release_partitions"].items():
        out.print(f"  {target}: {verb} {n} release partition(s)")
    _print_problems(r)


def _print_problems(r: dict) -> None:
    for p in r.get("problems", []):
        out.print(f"  [red]problem[/red]: {escape(shown(p))}", markup=True, highlight=False)


audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(catalog_path: Path = CatalogOpt, as_json: bool = JsonOpt) -> None:
    """Check the audit log's keyed hash chain and its anchors: an edited, forged, removed, reordered or truncated
    log fails.

    Example: piiflow audit verify -c catalog.yaml"""
    from flows.audit import verify_catalog

    settings, catalog = _preflight(catalog_path, flows=False)
    v = _guard(lambda: verify_catalog(catalog, settings))
    _emit(v.__dict__, as_json, lambda r: out.print(
        f"audit log: {r['entries']} entries, chain intact" + (", anchored outside the lake" if r["anchored"] else "")
        + "".join(f"\n  note: {n}" for n in r["notes"])) if r["ok"] else None)
    if not v.ok:
        sys.stderr.write(f"piiflow: error: audit log: {v.problem}\n")
        raise typer.Exit(1)


key_app = typer.Typer(help="The lake's master key.", no_args_is_help=True)
app.add_typer(key_app, name="key")


@key_app.command("rotate")
def key_rotate(catalog_path: Path = CatalogOpt,
               new_key_file: Path = typer.Option(..., "--new-key-file", metavar="FILE",
                                                 help="the new master key (a file only its owner may read)"),
               execute: bool = Flag("--execute", "change the key (default: only print the plan)"),
               as_json: bool = JsonOpt) -> None:
    """Plan (default) or carry out a change of the lake's master key (PIIFLOW_KEY or PIIFLOW_KEY_FILE is the current
    one): the audit log records it, the ledgers keep matching under the earlier key, releases are rebuilt with new
    pseudonyms on their next run. Then run every command with the new key.

    Example: piiflow key rotate -c catalog.yaml --new-key-file /run/secrets/piiflow-2027 --execute
    """
    from configs.settings import Settings
    from flows.lake_key import rotate_key

    settings, catalog = _preflight(catalog_path, flows=False)
    new_master = _guard(lambda: Settings.model_construct(key_file=new_key_file).master_key())
    r = _guard(lambda: rotate_key(catalog, settings, new_master, execute))
    _emit(r, as_json, lambda r: out.print(
        f"master key {r['from']} -> {r['to']}: " + (
            "changed; from now on run every command with the new key (PIIFLOW_KEY or PIIFLOW_KEY_FILE)"
            if r["executed"] else "plan only; --execute to change it")
        + f"\n  audit log: {r['audit_entries']} entries, verified; earlier keys kept sealed under the new one: "
          f"{r['earlier_keys'] + (1 if r['executed'] else 0)}"
        + f"\n  releases rebuilt with new pseudonyms on their next run: {', '.join(r['releases_rebuilt_on_next_run'])}"))


@app.command()
def releases(catalog_path: Path = CatalogOpt, as_json: bool = JsonOpt) -> None:
    """List the lake's releases: datasets, coverage, partial days, freshness and expiry (from each release's
    index).

    Example: piiflow releases -c catalog.yaml --json"""
    from flows.release_listing import list_releases

    _, catalog = _preflight(catalog_path, key=False, flows=False)
    _emit({"releases": _guard(lambda: list_releases(catalog))}, as_json, _print_releases)


def _print_releases(r: dict) -> None:
    """A table in a terminal; in a pipe or a file, tab-separated lines with every value whole (a table would cut them
    to the pipe's assumed 80 columns: "analy…")."""
    header = ("release", "dataset", "days", "first", "last", "rows", "partial", "first expiry", "published",
              "epsilon spent / left")
    rows = []
    for rel in r["releases"]:
        b = rel.get("budget")
        eps = (f"{b['spent_in_window']:g} / {b['left_in_window']:g} in {b['window_days']} days" if b else "")
        if not rel["published"]:
            rows.append((rel["release"], "-", "0", "", "", "", "", "", "never", eps))
            continue
        for ds, d in rel["datasets"].items():
            size = f"{d['rows']:,}" if "rows" in d else f"{d['cells']:,} cells"
            rows.append((rel["release"], ds, str(d["partitions"]), d["first"] or "", d["last"] or "", size,
                         str(d["partial"]), d["first_expiry"] or "", rel["generated_at"], eps))
    if not out.is_terminal:
        for row in (header, *rows):
            out.file.write("\t".join(shown(v) for v in row) + "\n")
        return
    t = Table(title="Releases")
    for c in header:
        t.add_column(c)
    for row in rows:
        t.add_row(*row)
    out.print(t)


@app.command()
def correct(catalog_path: Path = CatalogOpt,
            requests_file: Path = typer.Option(..., "--requests", metavar="FILE",
                                               help="CSV with the header subject_id,what,new_value (what: an "
                                                    "identifier kind such as phone, or a direct column such as name)"),
            execute: bool = Flag("--execute", "act on the plan (default: only print it)"),
            received: Optional[str] = DateOpt("--received", "when the requester's identity was verified: the 30 "
                                                            "days to answer run from it (default today)"),
            as_json: bool = JsonOpt) -> None:
    """Plan (default) or carry out corrections (clause 8.1) in every raw dataset: the subject's own fields, and
    their old identifier wherever it appears in others' rows; releases are redone on their next run.

    Example: piiflow correct -c catalog.yaml --requests /secure/requests/c1.csv --execute"""
    settings, catalog = _preflight(catalog_path)
    when = _received(received)
    from flows.correct import read_corrections

    _guard(lambda: read_corrections(catalog, requests_file))
    from flows.correct import correct_flow

    _run(lambda: _flow(correct_flow, settings)(str(catalog_path), str(requests_file), execute, settings=settings,
                                               received=when), as_json, _print_correct)


def _print_correct(r: dict) -> None:
    cells = r["receipt"]["cells"] if r["executed"] else r["planned_cells"]
    total = sum(n for cols in cells.values() for n in cols.values())
    out.print(f"correction {r['request_id']} ({', '.join(r['whats'])}): {r['subjects']} subject(s), "
              f"{r['not_found']} not found; {total:,} cell(s) in {r['files']} file(s) "
              + ("changed" if r["executed"] else "to change (plan only; --execute to act on it)"))
    for ds, cols in cells.items():
        out.print(f"  {ds}: " + ", ".join(f"{c} {n:,}" for c, n in cols.items()))
    if r["executed"]:
        out.print("  releases are redone from the corrected data on their next run")
    _print_problems(r)


@app.command()
def exposure(catalog_path: Path = CatalogOpt,
             path: Optional[str] = typer.Option(None, "--path", metavar="PATH",
                                                help="what leaked: a file or folder inside the lake (a release, one "
                                                     "of its datasets, partitions or files, or raw files)"),
             release: Optional[str] = typer.Option(None, "--release", metavar="NAME",
                                                   help="what leaked: a recipient's copy of this release"),
             start: Optional[str] = DateOpt("--start", "with --release: first day leaked (default: the first)"),
             end: Optional[str] = DateOpt("--end", "with --release: last day leaked (default: the last)"),
             out_file: Path = typer.Option(..., "--out", metavar="FILE",
                                           help="the notification list to write (CSV), outside the lake; a new file"),
             as_json: bool = JsonOpt) -> None:
    """Whom a leak touched (clause 5.7): the subjects whose rows are in what leaked, mapped back through the
    release's pseudonyms, and what kinds of their information it carries; the list goes only to --out (outside the
    lake, owner-only); the command prints and audits counts.

    Example: piiflow exposure -c catalog.yaml --release marketing --start 2026-11-01 --out /secure/leak-42.csv"""
    if (path is None) == (release is None):
        _fail(ValueError("exposure: expected what leaked, either --path or --release (not both)"))
    if path is not None and (start or end):
        _fail(ValueError("exposure: --start and --end go with --release"))
    first, last = _date(start, "--start"), _date(end, "--end")
    settings, catalog = _preflight(catalog_path)
    from flows.exposure import check_out_path, what_leaked

    _guard(lambda: check_out_path(catalog, out_file))
    _guard(lambda: what_leaked(catalog, path, release, first, last))
    from flows.exposure import exposure_flow

    command = "piiflow exposure " + (f"--path {path}" if path else f"--release {release}") + \
        (f" --start {start}" if start else "") + (f" --end {end}" if end else "")
    _run(lambda: _flow(exposure_flow, settings)(str(catalog_path), str(out_file), path, release, first, last,
                                                settings=settings, command=command), as_json, _print_exposure)


def _print_exposure(r: dict) -> None:
    out.print(f"exposure of {r['what']}: {r['subjects']:,} subject(s) in {r['rows']:,} row(s) of {r['files']} "
              f"file(s); list written to {r['list']} (owner-only; sha256 {r['list_sha256'][:16]})")
    if r["named_only"]:
        out.print(f"  of them {r['named_only']:,} only named in others' rows (their own identifier, such as a number "
                  f"called)")
    if r["unmapped_rows"]:
        out.print(f"  {r['unmapped_rows']:,} row(s) map to no subject the lake still holds (erased since)")
    for ds, kinds in r["information"].items():
        out.print(f"  {ds}: " + "; ".join(f"{k}: {', '.join(cols)}" for k, cols in kinds.items()))


@app.command()
def requests(catalog_path: Path = CatalogOpt, as_json: bool = JsonOpt) -> None:
    """The requests register (erasures, objections, withdrawals): each with its state, when it was received and the
    days left of the 30 the policy gives; exit status 1 when one is overdue, for a monitor to page someone.

    Example: piiflow requests -c catalog.yaml --json"""
    from flows.requests_register import requests as listed

    _, catalog = _preflight(catalog_path, key=False, flows=False)
    from datetime import datetime as _dt
    from zoneinfo import ZoneInfo

    today = _dt.now(ZoneInfo(catalog.lake.timezone)).date()
    r = {"as_of": today.isoformat(), "requests": _guard(lambda: listed(catalog, today))}
    r["overdue"] = [x["request_id"] for x in r["requests"] if x["overdue"]]
    _emit(r, as_json, _print_requests)
    if r["overdue"]:
        err.print(f"piiflow: {len(r['overdue'])} request(s) overdue (past the 30 days): {', '.join(r['overdue'])}",
                  highlight=False)
        raise typer.Exit(1)


def _print_requests(r: dict) -> None:
    header = ("request", "kind", "received", "state", "due", "days left", "why")
    rows = [(x["request_id"], x["kind"], x["received"], x["state"], x["due"],
             "-" if x["state"] == "executed" else str(x["days_left"]), x["why"]) for x in r["requests"]]
    if not rows:
        out.print(f"no request recorded (as of {r['as_of']})")
        return
    if not out.is_terminal:
        for row in (header, *rows):
            out.file.write("\t".join(shown(v) for v in row) + "\n")
        return
    t = Table(title=f"Requests as of {r['as_of']}")
    for c in header:
        t.add_column(c)
    for row in rows:
        t.add_row(*(shown(v) for v in row))
    out.print(t)


@app.command()
def nightly(catalog_path: Path = CatalogOpt, as_json: bool = JsonOpt) -> None:
    """Purge, erase late arrivals of processed erasures, scan what changed, then every release, under the lake's
    lock (a second nightly does nothing and says so).

    Example: piiflow nightly -c catalog.yaml --json"""
    settings, _ = _preflight(catalog_path)
    _guard(lambda: _check_task_runner(settings))
    from flows.nightly import nightly_flow

    _run(lambda: _flow(nightly_flow, settings)(str(catalog_path), settings=settings), as_json, _print_nightly)


def _print_nightly(r: dict) -> None:
    _print_purge(r["purge"])
    if r["erasures"].get("files"):
        _print_erase(r["erasures"])
    drift = r["scan"]["drift"]
    modes = Counter(d.get("mode", "full") for d in r["scan"]["datasets"])
    out.print(f"scan: {len(r['scan']['datasets'])} datasets ({', '.join(f'{n} {m}' for m, n in modes.items())}); "
              f"policy drift in {drift or 'no column'}; report {r['scan']['report']}")
    _print_problems(r["scan"])
    for rel in r["releases"].values():
        _print_release(rel)
    for agg in (r.get("aggregates") or {}).values():
        _print_aggregate(agg)


def _print_aggregate(r: dict) -> None:
    if r["status"] == "blocked":
        out.print(f"aggregate release {r['release']}: REFUSED: {r.get('error', '')}")
        return
    b = r["budget"]
    out.print(f"aggregate release {r['release']} -> {r['path']}: {r['published']} day(s) published, {r['skipped']} "
              f"unchanged; epsilon {r['spent']:g} spent; recipient {b['recipient']}: {b['spent_in_window']:g} of "
              f"{b['epsilon_per_window']:g} spent in the last {b['window_days']} days, {b['left_in_window']:g} left")


@app.command()
def demo(rows: int = typer.Option(20_000, "--rows", metavar="N", help="device events in all (at least 10,000)"),
         dir: str = typer.Option("demo-lake", "--dir", metavar="DIR|s3://BUCKET/PREFIX",
                                 help="the lake to generate (once) and run on: a folder, or an s3:// location "
                                      "(its catalog, key and anchors are then kept in ./.piiflow-demo/)"),
         as_json: bool = JsonOpt) -> None:
    """Generate a synthetic lake and run the nightly pipeline on it with the embedded Prefect.

    Example: piiflow demo --rows 100000"""
    from configs.catalog import load_catalog
    from configs.settings import Settings
    from flows.runtime import ensure_demo_key

    if rows < 10_000:
        _fail(ValueError(f"--rows: expected at least 10,000 (fewer leave too few rows per day for the demo "
                         f"releases' k=5), found {rows:,}"))
    from configs.locations import ObjectPath

    root = _guard(lambda: _lake_dir(dir))
    in_store = isinstance(root, ObjectPath)
    if in_store:  # what must stay local (the key, the anchors, the catalog) goes to ./.piiflow-demo/
        home, name = Path.cwd() / ".piiflow-demo", "".join(c if c.isalnum() or c in "._-" else "-"
                                                           for c in root.uri[len("s3://"):])
    else:
        home, name = root.parent, root.name
    settings = _guard(Settings)
    demo_own = {}
    if settings.key is None and settings.key_file is None and settings.key_block is None:  # the demo's own key
        demo_own["key_file"] = ensure_demo_key(home / f".{name}.key")
    if settings.audit_anchor_dir is None:  # and its audit anchor, beside the key: outside the lake
        demo_own["audit_anchor_dir"] = home / f".{name}.anchors"
    settings = settings.model_copy(update=demo_own) if demo_own else settings
    catalog_path = home / f"{name}.catalog.yaml" if in_store else root / "catalog.yaml"
    end = date.today() - timedelta(days=1)
    from flows import prefect_api

    prefect_api.start()  # boots while the lake is generated

    def run() -> dict:
        from flows.nightly import nightly_flow
        from flows.storage import lake_fs

        text = demo_catalog_path().read_text(encoding="utf-8").replace(
            "root: ../demo-lake", f"root: {root.uri}" if in_store else "root: .")
        if in_store:
            fs = lake_fs(load_catalog(demo_catalog_path(), root=root.uri))
            fs.check_root(must_exist=False)
        else:
            fs = None
        if not (fs.exists(root / "_truth" / "identifiers.parquet") if fs else
                (root / "_truth" / "identifiers.parquet").exists()):
            # Five weeks: past the 30-day retention of the access logs, so the nightly purge has work to do.
            gen = _generate(_shown(root), rows, 42, (end - timedelta(days=34)).isoformat(), end.isoformat(), None,
                            progress=not as_json)
            if not as_json:
                out.print(f"generated {sum(gen['rows'].values()):,} rows under {_shown(root)} in "
                          f"{gen['seconds']:.1f}s")
        catalog_path.parent.mkdir(parents=True, exist_ok=True)
        catalog_path.write_text(text, encoding="utf-8")
        load_catalog(catalog_path)
        return {**_flow(nightly_flow, settings)(str(catalog_path), settings=settings), "catalog": str(catalog_path)}

    def human(r: dict) -> None:
        _print_nightly(r)
        out.print(f"catalog: {catalog_path}")  # one line per print: shown() escapes a newline inside one
        out.print(f"releases: {_shown(root / 'releases')}")
        out.print(f"reports: {_shown(root / 'state' / 'reports')}")

    _run(run, as_json, human)


@app.command()
def serve(catalog_path: Path = CatalogOpt, as_json: bool = JsonOpt) -> None:
    """Serve the scheduled deployments from this process until interrupted: nightly-served at 02:00 and
    weekly-full-scan-served on Sundays at 04:00, Asia/Shanghai. Refuses to take over a work pool's deployment.

    Example: piiflow serve -c catalog.yaml"""
    settings, catalog = _preflight(catalog_path, flows=False)

    def announce(deps) -> None:
        served = [{"deployment": d.full_name, "schedule": d.schedules[0].schedule.cron,
                   "timezone": d.schedules[0].schedule.timezone, "parameters": d.parameters} for d in deps]
        from prefect.settings import PREFECT_API_URL

        _emit({"serving": served, "api": PREFECT_API_URL.value() or "ephemeral"}, as_json, lambda r: out.print(
            "serving " + ", ".join(f"{s['deployment']} ({s['schedule']} {s['timezone']})" for s in r["serving"])
            + f" against {r['api']}; Ctrl-C stops", highlight=False))
        out.file.flush()

    from flows.deployments import serve_all

    _guard(lambda: serve_all(str(catalog_path.resolve()), settings, announce))


def main() -> None:
    """The console script. piiflow's own errors print one line where they happen; anything else is a bug, said in
    one line too (its message could carry a value from the data), with ``PIIFLOW_DEBUG=1`` for the traceback.

    Once every exit handler has run (Prefect's log and event flushes, the embedded server's stop) the process ends
    without the interpreter's teardown of its modules, which took half a second after every command (measured:
    0.55 s of a 4 s ``purge`` plan). Every file piiflow writes is closed (and synced) where it is written."""
    status = [1]
    atexit.register(_leave, status)  # registered first, so it runs after every other exit handler
    try:
        app()
    except SystemExit as e:
        status[0] = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        raise
    except Exception as e:  # noqa: BLE001
        if os.environ.get("PIIFLOW_DEBUG"):
            raise
        sys.stderr.write(f"piiflow: error: unexpected {type(e).__name__}; nothing after it ran (PIIFLOW_DEBUG=1 shows "
                         f"the traceback)\n")
        status[0] = 2
        sys.exit(2)


def _leave(status: list[int]) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status[0])


if __name__ == "__main__":
    main()
