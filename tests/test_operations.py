"""What an operations engineer meets: bad calls refused in a second before Prefect starts, a CLI that documents
itself, no telemetry, names in the Prefect UI made from parameters, per-partition reasons, an incremental nightly
scan, and a remote Dask cluster refused without a server its workers can reach."""

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from configs.catalog import load_catalog
from tests.helpers import ROOT, copy_lake, make_lake

#: A bad call of the command line, run in a fresh interpreter, then whether Prefect or Presidio was imported.
_CALL = """
import sys
from flows.cli import app
try:
    app(sys.argv[1:], prog_name="piiflow")
except SystemExit as e:
    code = e.code
print("imported:", sorted(m for m in ("prefect", "presidio_analyzer", "dask") if m in sys.modules))
sys.exit(code)
"""


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    base = tmp_path_factory.mktemp("ops")
    make_lake(base, rows=1200, start=date(2026, 8, 1), end=date(2026, 8, 4), seed=5)
    return base / "catalog.yaml"


def call(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _CALL, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["deidentify", "--release", "nope"], "release 'nope' is not declared"),
    (["deidentify", "--release", "analytics", "--start", "2026-08-04", "--end", "2026-08-01"],
     "--end 2026-08-01 is before --start 2026-08-04"),
    (["deidentify", "--release", "analytics", "--start", "4 Aug"], "--start: expected a date like"),
    (["purge", "--as-of", "2999-01-01"], "is in the future"),
    (["scan", "--dataset", "nope"], "dataset 'nope' is not declared"),
    (["erase"], "expected subject ids"),
    (["erase", "--ledger", "--org", "o1"], "--ledger re-applies"),
])
def test_a_bad_call_fails_in_one_line_before_prefect_starts(lake, args, message):
    p = call(args[0], "-c", str(lake), *args[1:])
    assert p.returncode == 1, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("piiflow: error: ") and message in lines[0], p.stderr
    assert "imported: []" in p.stdout  # neither Prefect nor the detector was loaded to say so


def test_no_key_names_the_key_the_demo_made_for_this_lake(tmp_path):
    lake_root = tmp_path / "my-lake"
    make_lake(lake_root, rows=300, start=date(2026, 8, 1), end=date(2026, 8, 1), seed=1)
    key = tmp_path / ".my-lake.key"
    key.write_text("k" * 40)
    env = {k: v for k, v in os.environ.items() if k not in ("PIIFLOW_KEY", "PIIFLOW_KEY_FILE")}
    p = subprocess.run([sys.executable, "-c", _CALL, "nightly", "-c", str(lake_root / "catalog.yaml")],
                       capture_output=True, text=True, cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert p.returncode == 1
    assert f"no pseudonymisation key: set PIIFLOW_KEY, PIIFLOW_KEY_FILE or PIIFLOW_KEY_BLOCK; this demo lake's key is {key}" in p.stderr
    assert "imported: []" in p.stdout


def test_a_remote_dask_cluster_without_a_prefect_server_is_refused_at_once(lake):
    env = {"PIIFLOW_TASK_RUNNER": "dask", "PIIFLOW_DASK_ADDRESS": "tcp://127.0.0.1:1", "PREFECT_API_URL": ""}
    p = call("deidentify", "-c", str(lake), "--release", "analytics", env=env)
    assert p.returncode == 1 and "need a Prefect server they can reach" in p.stderr and "imported: []" in p.stdout


def test_the_cli_documents_itself():
    from typer.testing import CliRunner

    from flows.cli import app
    runner = CliRunner()
    version = runner.invoke(app, ["--version"])
    from importlib.metadata import version as installed
    assert version.exit_code == 0 and version.output.strip() == f"piiflow {installed('piiflow')}"
    top = runner.invoke(app, ["--help"], env={"COLUMNS": "160"}).output
    assert "Examples:" in top and "--start 2026-11-01 --end 2026-11-07" in top and "include both ends" in top
    for command in ("deidentify", "purge", "scan", "erase", "generate", "nightly", "releases", "serve"):
        text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "160"}).output
        assert "<bool>" not in text and "<str>" not in text, command
        assert "--json" in text, command
    backfill = runner.invoke(app, ["deidentify", "--help"], env={"COLUMNS": "160"}).output
    assert "YYYY-MM-DD" in backfill and "included" in backfill


def test_no_telemetry_from_the_client_or_the_server():
    p = subprocess.run([sys.executable, "-c", (
        "import os\n"
        "for k in ('DO_NOT_TRACK', 'PREFECT_SERVER_ANALYTICS_ENABLED'): os.environ.pop(k, None)\n"
        "from flows.runtime import configure_prefect_env; configure_prefect_env()\n"
        "from prefect._internal.analytics.enabled import is_telemetry_enabled\n"
        "from prefect.settings import get_current_settings\n"
        "print(is_telemetry_enabled(), get_current_settings().server.analytics_enabled)")],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert p.stdout.split() == ["False", "False"], p.stderr


def test_redo_reasons_tell_what_changed():
    from transforms.gate import redo_reason
    inputs = [{"path": "a/dt=2026-08-01/x.parquet", "bytes": 10, "sha256": "aa"}]
    m = {"input_fingerprint": "F", "inputs": inputs, "policy_hash": "P", "key_fingerprint": "K", "state_digest": "S"}
    same = dict(fingerprint="F", inputs=inputs, policy_hash="P", key_fingerprint="K", state_digest="S", force=False)
    assert redo_reason(m, **same) is None
    assert redo_reason(None, **same) == "new"
    assert redo_reason(m, **{**same, "force": True}) == "forced"
    changed = {**same, "fingerprint": "G"}
    assert redo_reason(m, **{**changed, "inputs": [{**inputs[0], "sha256": "bb"}]}) == "input"
    assert redo_reason(m, **{**changed, "inputs": []}) == "input"
    assert redo_reason(m, **{**changed, "policy_hash": "Q"}) == "policy"
    assert redo_reason(m, **{**changed, "key_fingerprint": "L"}) == "key"
    assert redo_reason(m, **{**changed, "state_digest": "T"}) == "ledger"


def test_flow_and_task_runs_are_named_from_their_parameters(lake, tmp_path, prefect_harness):

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.deidentify import deidentify_flow
    copy_lake(lake.parent, tmp_path / "lake")
    cat = tmp_path / "lake" / "catalog.yaml"
    state = deidentify_flow(str(cat), "crm_research", start=date(2026, 8, 2), end=date(2026, 8, 3),
                            return_state=True)
    res = state.result()
    assert res["published"] == 4
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    assert run.name == "release-crm_research-2026-08-02..2026-08-03"
    names = {t.name for t in tasks if t.name.startswith("crm_research: ")}
    assert names == {f"crm_research: {ds} {d}" for ds in ("call_records", "chat_messages")
                     for d in ("2026-08-02", "2026-08-03")}, names


def test_the_release_log_has_one_line_per_partition(lake, tmp_path, prefect_harness, caplog):
    import logging

    from flows.deidentify import deidentify_flow
    copy_lake(lake.parent, tmp_path / "lake")
    cat = tmp_path / "lake" / "catalog.yaml"
    with caplog.at_level(logging.INFO, logger="prefect.flow_runs"):
        deidentify_flow(str(cat), "crm_research")
        caplog.clear()
        deidentify_flow(str(cat), "crm_research", start=date(2026, 8, 1), end=date(2026, 8, 1), force=True)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("crm_research ")]
    assert len(lines) == 2 and all(" 2026-08-01: published (forced); " in x and " rows in, " in x for x in lines)


def test_the_nightly_scan_reads_only_what_changed(lake, tmp_path, prefect_harness):

    import pyarrow.parquet as pq

    from configs.settings import Settings
    from flows.scan import scan_dataset
    from flows.storage import storage_for
    copy_lake(lake.parent, tmp_path / "lake")
    cat_path = tmp_path / "lake" / "catalog.yaml"
    catalog, settings = load_catalog(cat_path), Settings()
    full = scan_dataset(catalog, "device_events", settings, full=True)
    assert full["mode"] == "full" and full["partitions_read"] == 4 and full["sampled_rows"] > 0
    again = scan_dataset(catalog, "device_events", settings, full=False)
    assert again["mode"] == "unchanged" and again["partitions_read"] == 0 and again["sampled_rows"] == 0
    assert again["columns"] == full["columns"]  # the findings carried over as they were
    store = storage_for(catalog, "device_events")
    part = store.list_partitions()[-1]
    new_day = part.paths[0].parent.parent / "dt=2026-08-05"
    new_day.mkdir()
    pq.write_table(store.read(part), new_day / "part-0.parquet")
    grown = scan_dataset(catalog, "device_events", settings, full=False)
    assert grown["mode"] == "changed" and grown["partitions_read"] == 1
    before = {c["column"]: c for c in full["columns"]}
    after = {c["column"]: c for c in grown["columns"]}
    assert set(after) == set(before) and after["imei"]["entities"] and after["imei"]["rows"] > before["imei"]["rows"]
    assert after["imei"]["main_entity"] == before["imei"]["main_entity"]
    cat_path.write_text(cat_path.read_text().replace("k_anonymity: 5", "k_anonymity: 6", 1))
    policy = scan_dataset(load_catalog(cat_path), "device_events", settings, full=False)
    assert policy["mode"] == "full" and policy["partitions_read"] == 5  # a new policy: everything again


def test_a_second_nightly_on_unchanged_data_reads_and_builds_nothing(lake, tmp_path, prefect_harness):

    from flows import digest_book
    from flows.nightly import nightly_flow
    copy_lake(lake.parent, tmp_path / "lake")
    cat = str(tmp_path / "lake" / "catalog.yaml")
    nightly_flow(cat)
    digest_book.forget()  # as a new process would: the book is read from the lake's state
    second = nightly_flow(cat)
    assert {d["mode"] for d in second["scan"]["datasets"]} == {"unchanged"}
    assert all(r["published"] == 0 and r["skipped"] > 0 for r in second["releases"].values())
    manifests = json.dumps(second["releases"], default=str)
    assert '"redone": {}' in manifests
    book = digest_book.book(load_catalog(cat))
    assert book.bytes_hashed == 0 and book.files_remembered > 0  # no input byte hashed again
    # a file rewritten in place, same size, its modification time set back: its change time gives it away
    raw = sorted((tmp_path / "lake" / "raw" / "call_records").rglob("*.csv"))[0]
    st = raw.stat()
    data = raw.read_bytes()
    raw.write_bytes(data.replace(b"answered", b"answereD", 1) if b"answered" in data else data[::-1])
    os.utime(raw, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert raw.stat().st_size == st.st_size and raw.stat().st_mtime_ns == st.st_mtime_ns
    digest_book.forget()
    third = nightly_flow(cat)
    assert third["releases"]["crm_research"]["published"] == 1, third["releases"]["crm_research"]


def test_no_flow_module_shadows_an_installed_package():
    """`prefect deploy` and the worker load a flow by its file and put its folder (flows/) first on sys.path: a
    module there named like an installed package (flows/requests.py once hid `requests`, flows/catalogue.py hid
    spaCy's `catalogue`) breaks every import of that package in a deployed run."""
    import importlib.metadata
    import sys as _sys

    installed = {name for dist in importlib.metadata.distributions()
                 for name in (dist.read_text("top_level.txt") or "").split()}
    installed |= {Path(p).name.removesuffix(".py") for path in _sys.path if "site-packages" in path
                  for p in Path(path).iterdir() if not p.name.endswith((".dist-info", ".pth"))}
    installed |= set(_sys.stdlib_module_names)
    for folder in ("flows", "transforms", "configs"):
        mine = {p.stem for p in (ROOT / folder).glob("*.py")} | {p.name for p in (ROOT / folder).iterdir()
                                                                 if (p / "__init__.py").exists()}
        assert not (mine - {"__init__"}) & installed, (folder, sorted((mine - {"__init__"}) & installed))


def test_a_nightly_that_finds_the_lake_locked_does_nothing_and_ends_cancelled(lake, tmp_path, prefect_harness,
                                                                               capsys):
    """Two nightlies at once: the second finds the lake's lock held (here by another open file, as another process
    holds it), changes nothing, and ends Cancelled with one line, never Failed half way; the CLI says so in one
    line and exits non-zero."""
    import fcntl

    from prefect.exceptions import CancelledRun

    from flows.nightly import nightly_flow
    copy_lake(lake.parent, tmp_path / "lake")
    cat = str(tmp_path / "lake" / "catalog.yaml")
    lock = tmp_path / "lake" / "state" / ".lock"
    lock.parent.mkdir(exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "lake").rglob("*") if p.is_file()}
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        state = nightly_flow(cat, return_state=True)
        assert state.is_cancelled() and "another piiflow run holds the lake's lock" in state.message
        with pytest.raises(CancelledRun):
            nightly_flow(cat)
        from typer.testing import CliRunner

        from flows.cli import app
        out = CliRunner().invoke(app, ["nightly", "-c", cat])
        assert out.exit_code == 1 and out.output.count("\n") <= 2, out.output
        assert "another piiflow run holds the lake's lock" in out.output and "Traceback" not in out.output
    finally:
        os.close(fd)
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "lake").rglob("*") if p.is_file()}
    assert {p: t for p, t in after.items() if p.name != ".lock"} == {p: t for p, t in before.items() if p.name != ".lock"}
    # freed, the next nightly runs, and its steps take the lock again under the run's own hold
    result = nightly_flow(cat)
    assert result["summary"]["partitions_published"] > 0
