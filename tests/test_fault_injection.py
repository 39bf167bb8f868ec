"""Crash safety by fault injection: a purge (and an erasure) SIGKILLed at random points, re-run after each kill,
ends exactly as one uninterrupted run: no expired row left, every unexpired row present once, no temporary file,
and an audit chain that verifies. The same tests on an object store: ``tests/test_fault_injection_s3.py``."""

import atexit
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

from configs.catalog import load_catalog
from configs.settings import Settings
from flows.audit import verify_catalog
from flows.storage import storage_for
from tests.helpers import AS_OF, END, ROOT, START, copy_lake, make_lake, short_retention

#: SIGKILLs per purge (20: #13's "20+ kills"); an erasure costs twice as much per run and is killed fewer times.
KILLS = 20
ERASE_KILLS = 12


def row_hashes(catalog) -> dict[str, Counter]:
    """Per dataset, the multiset of row hashes (a row present twice counts twice)."""
    out = {}
    for name in catalog.datasets:
        store = storage_for(catalog, name)
        c = Counter()
        for part in store.list_partitions():
            for r in store.read(part).to_pylist():
                c[hashlib.sha256(json.dumps(r, sort_keys=True, default=str).encode()).hexdigest()] += 1
        out[name] = c
    return out


def leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob(".tmp-*")]


def _purge(cat_path):
    from configs.settings import Settings
    from flows.purge import run_purge
    run_purge(load_catalog(cat_path), AS_OF, execute=True, settings=Settings())


def _erase(cat_path, subjects):
    from configs.settings import Settings
    from flows.erase import run_erase
    run_erase(load_catalog(cat_path), subjects, None, execute=True, settings=Settings())


def _sunset(cat_path, mode):
    from configs.settings import Settings
    from flows.sunset import run_sunset
    run_sunset(load_catalog(cat_path), ["call_records", "usage_events"], str(mode), execute=True, settings=Settings())


def _correct(cat_path, requests):
    from configs.settings import Settings
    from flows.correct import run_correct
    run_correct(load_catalog(cat_path), Path(requests), execute=True, settings=Settings())


RUNS = {"purge": lambda c: _purge(Path(c)), "erase": lambda c, s: _erase(Path(c), Path(s)), "sunset": _sunset,
        "correct": _correct}


#: The runs under test start from a zygote: a process that has imported everything a run needs (about 3 s of CPU
#: per process) and forks one child per run, so that a kill lands in the run's work rather than in its imports, and
#: forty-odd kills do not pay forty-odd start-ups. It forks only while it runs no Python thread and has not loaded
#: Delta (whose runtime does not survive a fork; a child loads it itself): checked. Arrow's and jemalloc's own
#: threads are fork-aware (they are re-created in the child).
_ZYGOTE = """
import os, sys, time
sys.stdout = os.fdopen(os.dup(1), "w")  # the protocol's channel; the children's fd 1 goes nowhere
devnull = os.open(os.devnull, os.O_WRONLY)
os.dup2(devnull, 1)
from tests.test_fault_injection import RUNS
import flows.correct, flows.erase, flows.purge, flows.sunset  # noqa: F401
import threading
assert threading.active_count() == 1 and "deltalake" not in sys.modules, "forking this zygote would not be safe"
print("ready", flush=True)
for line in sys.stdin:
    verb, *args = line.rstrip("\\n").split("\\t")
    if verb == "wait":
        _, status = os.waitpid(int(args[0]), 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
        continue
    pid = os.fork()
    if pid == 0:
        sys.stdout = open(os.devnull, "w")
        try:
            RUNS[args[0]](*args[1:])
        except BaseException:
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        os._exit(0)
    print(pid, flush=True)
"""

_zygotes: dict = {}


@atexit.register
def _stop_zygotes() -> None:
    for z in _zygotes.values():
        z.stdin.close()  # the zygote's loop ends
        try:
            z.wait(10)
        except subprocess.TimeoutExpired:
            z.kill()


def _zygote() -> subprocess.Popen:
    """The zygote for this process's current environment (an S3 test's credentials and endpoint), started once."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    key = tuple(sorted(env.items()))
    z = _zygotes.get(key)
    if z is None or z.poll() is not None:
        log = Path(tempfile.mkstemp(prefix="piiflow-zygote-", suffix=".log")[1])
        z = subprocess.Popen([sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=log.open("w"), text=True, cwd=ROOT, env=env)
        z.log = log
        assert z.stdout.readline().strip() == "ready", log.read_text()[-2000:]
        _zygotes[key] = z
    return z


def _ask(z: subprocess.Popen, *words: str) -> int:
    z.stdin.write("\t".join(words) + "\n")
    z.stdin.flush()
    answer = z.stdout.readline().strip()
    assert answer.lstrip("-").isdigit(), f"the zygote stopped: {z.log.read_text()[-2000:]}"
    return int(answer)


def _finished(pid: int) -> bool:
    """Whether a child of the zygote has ended (a zombie until the zygote waits for it: its pid is not reused)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def _timed(kind: str, *args) -> float:
    """The run, to its end, in a child of the zygote; its wall time."""
    z = _zygote()
    t = time.perf_counter()
    pid = _ask(z, "run", kind, *map(str, args))
    code = _ask(z, "wait", str(pid))
    assert code == 0, f"the run under test failed by itself (exit {code}): {z.log.read_text()[-2000:]}"
    return time.perf_counter() - t


#: Kills are drawn within this share of the reference run's time: on a shared machine a later run may well be
#: faster than the timed one (the other test worker's load moves), and a kill after the end tests nothing.
KILL_SPAN = 0.8


def _kill_then_rerun(kind: str, args, window: float, rng: random.Random) -> bool:
    """Start the run in a child of the zygote, SIGKILL it after a random delay, then run it to completion here.
    Returns whether the kill landed before the child finished."""
    z = _zygote()
    pid = _ask(z, "run", kind, *map(str, args))
    time.sleep(rng.uniform(0, KILL_SPAN * window))
    landed = not _finished(pid)
    os.kill(pid, signal.SIGKILL)  # a zombie's pid is still the child's: never another process
    code = _ask(z, "wait", str(pid))
    assert code in (0, -signal.SIGKILL), f"the run under test failed by itself (exit {code}): {z.log.read_text()[-2000:]}"
    landed = landed and code == -signal.SIGKILL
    RUNS[kind](*map(str, args))
    return landed


def make_fault_lake(base: Path) -> Path:
    """The fault-injection tests' lake at ``base`` (10 days, 5-day retentions); returns ``base``."""
    cat_path, _ = make_lake(base, rows=1500, start=START, end=END, seed=33)
    short_retention(cat_path)
    return base


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return make_fault_lake(tmp_path_factory.mktemp("fault-pristine"))


def _fresh(pristine: Path, tmp: Path, name: str) -> Path:
    dst = tmp / name
    copy_lake(pristine, dst)
    return dst / "catalog.yaml"


@pytest.mark.slow
def test_purge_killed_at_random_points(pristine, tmp_path):
    ref = _fresh(pristine, tmp_path, "ref")
    window = _timed("purge", ref)
    expected = row_hashes(load_catalog(ref))
    rng = random.Random(2026)
    landed = 0
    for i in range(KILLS):
        work = _fresh(pristine, tmp_path, f"run{i}")
        landed += _kill_then_rerun("purge", (work,), window, rng)
        cat = load_catalog(work)
        assert row_hashes(cat) == expected, f"kill {i}: rows differ from an uninterrupted run"
        assert leftovers(cat.lake.root) == []
        v = verify_catalog(cat, Settings())
        assert v.ok, v.problem
        shutil.rmtree(work.parent)
    print(f"purge: {landed} of {KILLS} kills landed mid-run (window {window:.2f}s)")
    assert landed >= KILLS // 2, f"only {landed} of {KILLS} kills landed mid-run"


@pytest.mark.slow
def test_erasure_killed_at_random_points(pristine, tmp_path, prefect_harness):
    from flows.deidentify import deidentify_flow

    base = _fresh(pristine, tmp_path, "with-release")
    deidentify_flow(str(base), "crm_research")
    cat = load_catalog(base)
    users = sorted(set(storage_for(cat, "call_records").read(storage_for(cat, "call_records").list_partitions()[0])
                       .column("user_id").to_pylist()))[:15]
    subjects = tmp_path / "subjects.txt"
    subjects.write_text("\n".join(users) + "\n")
    ref = tmp_path / "ref" / "catalog.yaml"
    copy_lake(base.parent, ref.parent)
    window = _timed("erase", ref, subjects)
    expected = row_hashes(load_catalog(ref))
    releases_expected = sorted(p.name for p in (ref.parent / "releases").rglob("*.parquet"))
    rng = random.Random(7)
    landed = 0
    for i in range(ERASE_KILLS):
        work = tmp_path / f"erun{i}" / "catalog.yaml"
        copy_lake(base.parent, work.parent)
        landed += _kill_then_rerun("erase", (work, subjects), window, rng)
        cat = load_catalog(work)
        assert row_hashes(cat) == expected, f"kill {i}"
        assert leftovers(cat.lake.root) == []
        assert sorted(p.name for p in (work.parent / "releases").rglob("*.parquet")) == releases_expected
        ledger = (cat.state_path / "erasure" / "ledger.jsonl").read_text().splitlines()
        assert len(ledger) == 1, "a request is recorded once, however often it was interrupted"
        assert verify_catalog(cat, Settings()).ok
        shutil.rmtree(work.parent)
    print(f"erasure: {landed} of {ERASE_KILLS} kills landed mid-run (window {window:.2f}s)")
    assert landed >= ERASE_KILLS // 2


@pytest.mark.slow
def test_correction_killed_at_random_points(pristine, tmp_path):
    """Ten subjects' phone numbers corrected (in their records and in others' call records), the run killed at
    random points and re-run: the lake ends as after one uninterrupted run, the request recorded once."""
    import pyarrow.parquet as pq

    reg = pq.read_table(pristine / "raw" / "registration", columns=["user_id", "phone"])
    import pyarrow as pa
    import pyarrow.csv as pacsv

    called = set()
    for f in (pristine / "raw" / "call_records").glob("*.csv"):
        opts = pacsv.ConvertOptions(column_types={"callee_phone": pa.string()})
        called |= set(pacsv.read_csv(f, convert_options=opts).column("callee_phone").to_pylist())
    who = sorted(u for u, p in zip(reg.column("user_id").to_pylist(), reg.column("phone").to_pylist())
                 if str(p) in called)[:10]
    assert who, "some registered numbers are called in the fault lake"
    req = tmp_path / "corrections.csv"
    req.write_text("subject_id,what,new_value\n" + "".join(f"{u},phone,1390000{i:04d}\n" for i, u in enumerate(who)))
    ref = _fresh(pristine, tmp_path, "ref")
    window = _timed("correct", ref, req)
    expected = row_hashes(load_catalog(ref))
    rng = random.Random(81)
    landed = 0
    for i in range(ERASE_KILLS):
        work = _fresh(pristine, tmp_path, f"crun{i}")
        landed += _kill_then_rerun("correct", (work, req), window, rng)
        cat = load_catalog(work)
        assert row_hashes(cat) == expected, f"kill {i}: rows differ from an uninterrupted run"
        assert leftovers(cat.lake.root) == []
        assert len((cat.state_path / "correction" / "ledger.jsonl").read_text().splitlines()) == 1
        assert verify_catalog(cat, Settings()).ok
        shutil.rmtree(work.parent)
    print(f"correction: {landed} of {ERASE_KILLS} kills landed mid-run (window {window:.2f}s)")
    assert landed >= ERASE_KILLS // 2


def archive_hashes(root: Path) -> dict[str, Counter]:
    """Per archived dataset, the multiset of its archived rows' hashes."""
    import pyarrow.parquet as pq

    out = {}
    for folder in sorted((root / "releases" / "sunset_archive").glob("[a-z]*")):
        c = Counter()
        for f in folder.rglob("*.parquet"):
            for r in pq.read_table(f).to_pylist():
                c[hashlib.sha256(json.dumps(r, sort_keys=True, default=str).encode()).hexdigest()] += 1
        out[folder.name] = c
    return out


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["delete", "anonymise"])
def test_sunset_killed_at_random_points(pristine, tmp_path, prefect_harness, mode):
    """A sunset (5.2.2) of call_records (CSV) and usage_events (Delta), killed at random points and re-run, ends as
    an uninterrupted one: the two datasets' raw rows and release partitions gone, the other datasets untouched, the
    same anonymised archive, one ledger line, an intact audit chain."""
    from flows.deidentify import deidentify_flow

    base = _fresh(pristine, tmp_path, "with-releases")
    for release in ("crm_research", "marketing"):
        deidentify_flow(str(base), release)
    ref = tmp_path / "ref" / "catalog.yaml"
    copy_lake(base.parent, ref.parent)
    window = _timed("sunset", ref, mode)
    expected, archive = row_hashes(load_catalog(ref)), archive_hashes(ref.parent)
    assert not expected["call_records"] and not expected["usage_events"] and expected["chat_messages"]
    assert bool(archive) == (mode == "anonymise")
    releases_expected = sorted(str(p.relative_to(ref.parent)) for p in (ref.parent / "releases").rglob("*.parquet"))
    assert not [p for p in releases_expected if "/call_records/" in p and "sunset_archive" not in p]
    rng = random.Random(55)
    landed, kills = 0, 6
    for i in range(kills):
        work = tmp_path / f"srun{i}" / "catalog.yaml"
        copy_lake(base.parent, work.parent)
        landed += _kill_then_rerun("sunset", (work, mode), window, rng)
        cat = load_catalog(work)
        assert row_hashes(cat) == expected, f"kill {i}"
        assert archive_hashes(work.parent) == archive, f"kill {i}: the archive differs"
        assert sorted(str(p.relative_to(work.parent)) for p in (work.parent / "releases").rglob("*.parquet")) \
            == releases_expected
        assert leftovers(cat.lake.root) == []
        assert len((cat.state_path / "sunset" / "ledger.jsonl").read_text().splitlines()) == 1
        assert not list((cat.state_path / "sunset" / "pending").glob("*.json"))
        assert verify_catalog(cat, Settings()).ok
        shutil.rmtree(work.parent)
    print(f"sunset {mode}: {landed} of {kills} kills landed mid-run (window {window:.2f}s)")
    assert landed >= kills // 2
