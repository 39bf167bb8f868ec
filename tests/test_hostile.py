"""Hostile input: what an attacker or a careless operator can hand piiflow, tried through the command line on a copy
of a generated lake with a sibling folder outside it.

Every case takes a sha256 snapshot of the lake and of the outside folder before and after, and asserts the exit
code, a one-line error naming the file, key or path (or the correct output), and that no byte changed that the
command was not meant to change. Nothing outside the lake is ever touched.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from configs.catalog import load_catalog
from configs.settings import Settings
from flows.cli import app
from flows.storage import storage_for
from tests.helpers import AS_OF, END, SH, START, copy_lake, make_lake, meta_of, short_retention

AS_OF_ARG = AS_OF.date().isoformat()  # the purge runs as of midnight 2026-09-12: cutoff 2026-09-07 00:00


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile-pristine") / "lake"
    cat_path, _ = make_lake(base, rows=1200, start=START, end=END, seed=5)
    short_retention(cat_path)
    return base


class Sandbox:
    """A copy of the pristine lake at ``<tmp>/lake`` and a folder ``<tmp>/outside`` beside it, holding what an
    attacker would like piiflow to delete: an expired Parquet partition and a plain file."""

    def __init__(self, pristine: Path, tmp: Path):
        self.lake = tmp / "lake"
        copy_lake(pristine, self.lake, symlinks=True)
        self.catalog = self.lake / "catalog.yaml"
        self.outside = tmp / "outside"
        (self.outside / "dt=2025-01-01").mkdir(parents=True)
        src = next((self.lake / "raw" / "device_events").glob("dt=*/part-00000.parquet"))
        pq.write_table(pq.read_table(src), self.outside / "dt=2025-01-01" / "part-00000.parquet")
        (self.outside / "precious.txt").write_text("not piiflow's\n")
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, str]:
        out = {}
        for base, tag in ((self.lake, "lake"), (self.outside, "outside")):
            for p in sorted(base.rglob("*")):
                if p.name == ".lock":
                    continue  # the lake's lock: the one file a run may leave, empty
                if p.is_symlink():
                    out[f"{tag}/{p.relative_to(base)}"] = "link:" + os.readlink(p)
                elif p.is_file():
                    out[f"{tag}/{p.relative_to(base)}"] = hashlib.sha256(p.read_bytes()).hexdigest()
        return out

    def changed(self) -> set[str]:
        after = self.snapshot()
        return {k for k in set(self.before) | set(after) if self.before.get(k) != after.get(k)}

    def run(self, *args: str, catalog: Path | None = None):
        argv = [args[0], "-c", str(catalog or self.catalog), *args[1:]] if args[0] != "audit" else \
            ["audit", "verify", "-c", str(catalog or self.catalog)]
        return CliRunner().invoke(app, argv)

    def edit_catalog(self, old: str, new: str) -> Path:
        """The lake's catalog with ``old`` replaced by ``new``, written beside the lake (so the lake's own files stay
        as they were) and still pointing at it."""
        text = self.catalog.read_text(encoding="utf-8")
        assert old in text, old
        bad = self.lake.parent / "bad.yaml"
        bad.write_text(text.replace(old, new, 1).replace("  root: .  ", "  root: lake  "), encoding="utf-8")
        return bad


@pytest.fixture()
def box(pristine, tmp_path, monkeypatch, prefect_harness):
    monkeypatch.setenv("PIIFLOW_AUDIT_ANCHOR_DIR", str(tmp_path / "anchors"))
    return Sandbox(pristine, tmp_path)


def one_line_error(res, *fragments: str) -> str:
    assert res.exit_code == 1, (res.exit_code, res.output)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("piiflow: error: "), lines[0]
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def untouched(box: Sandbox) -> None:
    assert box.changed() == set()


# --------------------------------------------------------------------------------------------------------------
# Catalogs: refused when they load, in one line naming the key, before anything is touched
# --------------------------------------------------------------------------------------------------------------

CATALOG_CASES = [
    # names that would become paths, artifact keys, log lines
    ("  analytics:\n    recipient", "  ../raw:\n    recipient", "releases: expected release names"),
    ("  analytics:\n    recipient", "  ../../x:\n    recipient", "found '../../x'"),
    ("  analytics:\n    recipient", "  Analytics:\n    recipient", "found 'Analytics'"),
    ("  analytics:\n    recipient", "  'an alytics':\n    recipient", "found 'an alytics'"),
    ("  app_logs:\n    description", "  App_Logs:\n    description", "datasets: expected dataset names"),
    ("recipient: analytics-team", "recipient: ../analytics", "releases.analytics.recipient"),
    # locations: inside the lake, outside piiflow's zones, one folder per dataset
    ("location: raw/app_logs", "location: ../outside", "datasets.app_logs.location"),
    ("location: raw/app_logs", "location: /tmp", "found '/tmp'"),
    ("location: raw/app_logs", "location: raw/../../outside", "no '..'"),
    ("location: raw/app_logs", "location: releases/app_logs", "outside piiflow's zones"),
    ("location: raw/app_logs", "location: state", "outside piiflow's zones"),
    ("location: raw/app_logs", "location: _truth", "found '_truth'"),
    ("location: raw/app_logs", "location: raw/.hidden", "found 'raw/.hidden'"),
    ("location: raw/app_logs", "location: raw/device_events", "the location of dataset 'device_events'"),
    ("location: raw/app_logs", "location: raw/device_events/logs", "inside the location of dataset"),
    ("location: raw/device_events", "location: raw", "the location of dataset"),
    # file patterns: one file name, no folder
    ('files: "app-{dt}.jsonl.gz"', 'files: "../app-{dt}.jsonl.gz"', "datasets.app_logs.files"),
    ('files: "app-{dt}.jsonl.gz"', 'files: "logs/app-{dt}.jsonl.gz"', "no folder"),
    ('files: "app-{dt}.jsonl.gz"', 'files: ".app-{dt}.jsonl.gz"', "starting with a letter or digit"),
    ('files: "app-{dt}.jsonl.gz"', 'files: "app-{dt}-{dt}.jsonl.gz"', "{dt} at most once"),
    # the lake itself
    ("  root: .  ", "  root:    ", "lake.root: expected the lake's folder"),
    ("  root: .  ", "  root: ''  ", "lake.root"),
    ("  root: .            # relative to this file; `piiflow demo --dir D` overrides it\n", "",
     "lake.root: expected a value"),
    ("timezone: Asia/Shanghai", "timezone: Mars/Olympus", "lake.timezone: expected an IANA time zone"),
    ("timezone: Asia/Shanghai", "timezone: ../../etc/localtime", "lake.timezone"),
    ("region: cn-southwest-1", "region: us-east-1", "lake.region"),
    # keys and values
    ("identifier: phone, owner: subject}", "identifier: ../phone, owner: subject}", "identifier"),
    ("identifier: phone, owner: other,", "identifier: phone,", "callee_phone.owner: expected whose phone"),
    ("identifier: phone, owner: other,", "identifier: phone, owner: callee,", "callee_phone.owner"),
    ("identifier: phone, owner: other,", "owner: other,", "callee_phone.identifier: expected the identifier kind"),
    ("    retention: 5d", "    retention: 5x", "retention: expected a duration"),
    # descriptions are shown in the dictionary, the index and the report: plain words only
    ('description: "the number called"', 'description: "<script>alert(1)</script>"', "callee_phone.description"),
    ('description: "the number called"', 'description: "see [this](javascript:alert(1))"', "plain words"),
    ("description: product usage analytics", 'description: "<img src=x onerror=alert(1)>"',
     "releases.analytics.description"),
    # names piiflow keeps for itself: a sunset's archive would land in such a release
    ("  analytics:\n    recipient", "  sunset_archive:\n    recipient", "keeps for a sunset's archive"),
    ("recipient: analytics-team", "recipient: sunset-archive", "releases.analytics.recipient"),
    ("    event_time: ts\n    retention: 5d", "    event_time: tss\n    retention: 5d", "event_time"),
    ("      ip:         {kind: quasi", "      ip:         {knd: quasi", "datasets.app_logs.columns.ip"),
]


@pytest.mark.parametrize("old, new, fragment", CATALOG_CASES, ids=[c[1].strip()[:40] for c in CATALOG_CASES])
def test_a_bad_catalog_is_refused_in_one_line_and_nothing_is_touched(box, old, new, fragment):
    bad = box.edit_catalog(old, new)
    res = box.run("purge", "--as-of", AS_OF_ARG, "--execute", catalog=bad)
    one_line_error(res, fragment)
    untouched(box)


DUPLICATES = [
    # a second app_logs block with a 1-day retention would silently win
    ("datasets:\n", "datasets:\n  app_logs:\n    category: log\n", "duplicate key 'app_logs'"),
    ('      user_id:    {kind: direct,    op: pseudonymize, description: "the user"}\n      ip:',
     '      user_id:    {kind: direct,    op: pseudonymize, description: "the user"}\n'
     '      user_id:    {kind: other, op: keep}\n      ip:',
     "duplicate key 'user_id'"),
    ("releases:\n", "releases: {}\nreleases:\n", "duplicate key 'releases'"),
]


@pytest.mark.parametrize("old, new, fragment", DUPLICATES, ids=["dataset", "column", "top-level"])
def test_a_duplicated_key_is_an_error_naming_both_lines(box, old, new, fragment):
    bad = box.edit_catalog(old, new)
    line = one_line_error(box.run("purge", "--as-of", AS_OF_ARG, "--execute", catalog=bad), fragment, "first at line")
    assert "line " in line
    untouched(box)


def test_a_yaml_alias_bomb_is_refused_at_once(box):
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    prev = "a"
    for c in "bcdefghi":
        bomb += f"{c}: &{c} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = c
    bad = box.lake.parent / "bomb.yaml"
    bad.write_text(bomb)
    assert len(bomb) < 1500
    one_line_error(box.run("purge", catalog=bad), "alias")
    untouched(box)


@pytest.mark.parametrize("content, fragment", [
    (b"- just\n- a list\n", "expected a mapping"),
    (b"", "expected a mapping"),
    (b"lake: [\n", "not valid YAML"),
    (b"\xff\xfe\x00garbage", "cannot read the catalog"),
    (b"x: " + b"y" * (1 << 20) + b"\n", "larger than"),
], ids=["list", "empty", "broken", "not-utf8", "huge"])
def test_a_catalog_that_is_no_catalog_is_refused(box, content, fragment):
    bad = box.lake.parent / "bad.yaml"
    bad.write_bytes(content)
    one_line_error(box.run("purge", catalog=bad), fragment)
    untouched(box)


# --------------------------------------------------------------------------------------------------------------
# Arguments: refused before Prefect starts
# --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (("deidentify", "--release", "../raw"), "release '../raw' is not declared"),
    (("deidentify", "--release", "nope"), "release 'nope' is not declared"),
    (("deidentify", "--release", "analytics", "--start", "2026-09-09", "--end", "2026-09-01"), "is before --start"),
    (("deidentify", "--release", "analytics", "--start", "2026-13-45"), "--start: expected a date"),
    (("scan", "--dataset", "nope"), "dataset 'nope' is not declared"),
    (("scan", "--dataset", "../raw"), "dataset '../raw' is not declared"),
    (("purge", "--as-of", "2999-01-01"), "is in the future"),
    (("purge", "--as-of", "yesterday"), "--as-of: expected a date"),
    (("erase", "--subjects", "/nonexistent/subjects.txt"), "cannot read the subjects file"),
    (("erase",), "expected subject ids"),
    (("sunset", "--datasets", "app_logs,app_logs", "--mode", "delete"), "app_logs more than once"),
], ids=lambda v: "-".join(v)[:40] if isinstance(v, tuple) else None)
def test_bad_arguments_fail_in_one_line_and_touch_nothing(box, args, fragment):
    one_line_error(box.run(*args), fragment)
    untouched(box)


# --------------------------------------------------------------------------------------------------------------
# Links: never followed, never deleted through, always reported
# --------------------------------------------------------------------------------------------------------------

def _expired_purged(box: Sandbox) -> bool:
    """The purge still did its work on the rest of the lake: no device event before the cutoff is left."""
    cat = load_catalog(box.catalog)
    store = storage_for(cat, "device_events")
    days = [p.dt for p in store.list_partitions()]
    return days and min(days) >= date(2026, 9, 6)


@pytest.mark.parametrize("where", [
    "raw/device_events/dt=2025-01-01",  # a partition folder that is a link out of the lake
    "raw/device_events/dt=2026-09-02/part-00001.parquet",  # a data file that is a link
    "raw/app_logs/app-2025-01-01.jsonl.gz",  # a text dataset's file that is a link
    "raw/device_events/dt=2025-01-02",  # a partition linked to another dataset's folder inside the lake
    "raw/device_events/.tmp-x",  # a temporary name, which recovery would remove
], ids=["partition", "file", "text-file", "inside-lake", "temporary"])
def test_a_link_in_a_dataset_is_refused_and_reported_and_the_rest_is_purged(box, where):
    link = box.lake / where
    target = {"raw/device_events/dt=2025-01-01": box.outside / "dt=2025-01-01",
              "raw/device_events/dt=2025-01-02": box.lake / "raw" / "call_records",
              "raw/device_events/.tmp-x": box.outside,
              }.get(where, box.outside / "dt=2025-01-01" / "part-00000.parquet")
    link.symlink_to(target)
    box.before = box.snapshot()
    res = box.run("purge", "--as-of", AS_OF_ARG, "--execute", "--json")
    one_line_error(res, "symbolic link")
    assert where in res.stderr or where in json.loads(res.stdout)["problems"][0]
    changed = box.changed()
    assert not {c for c in changed if c.startswith("outside/")}
    assert f"lake/{where}" not in changed and link.is_symlink()
    assert (box.lake / "raw" / "call_records").exists()
    assert _expired_purged(box)


@pytest.mark.parametrize("dataset", ["chat_messages", "usage_events"], ids=["jsonl", "delta"])
def test_a_dataset_location_that_is_a_link_is_reported_and_the_rest_is_purged(box, dataset):
    """A dataset folder that is itself a link is refused and reported; the other datasets are purged all the same
    (it had stopped the whole purge, leaving every dataset's expired rows)."""
    loc = box.lake / "raw" / dataset
    shutil.rmtree(loc)
    loc.symlink_to(box.outside)
    box.before = box.snapshot()
    res = box.run("purge", "--as-of", AS_OF_ARG, "--execute", "--json")
    one_line_error(res, "symbolic link")
    assert f"raw/{dataset}" in res.stderr + res.stdout
    assert not {c for c in box.changed() if c.startswith("outside/")} and loc.is_symlink()
    assert _expired_purged(box) and not _app_log(box, "2026-09-02").exists()


@pytest.mark.parametrize("where", ["state", "state/reports", "releases", "state/audit.jsonl"],
                         ids=["state", "reports", "releases", "audit-log"])
def test_a_link_in_piiflows_own_folders_stops_the_run_before_anything(box, where):
    link = box.lake / where
    (box.lake / "state").mkdir(exist_ok=True)
    if link.exists():
        shutil.rmtree(link) if link.is_dir() else link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(box.outside if not where.endswith(".jsonl") else box.outside / "precious.txt")
    box.before = box.snapshot()
    one_line_error(box.run("purge", "--as-of", AS_OF_ARG, "--execute"), "refusing to run", "symbolic link")
    untouched(box)


def test_erasure_never_follows_a_link(box, tmp_path):
    (box.lake / "raw" / "device_events" / "dt=2025-01-01").symlink_to(box.outside / "dt=2025-01-01")
    box.before = box.snapshot()
    victim = pq.read_table(box.outside / "dt=2025-01-01" / "part-00000.parquet").column("user_id")[0].as_py()
    subjects = tmp_path / "s.txt"
    subjects.write_text(f"{victim}\n")
    res = box.run("erase", "--subjects", str(subjects), "--execute")
    one_line_error(res, "symbolic link")
    assert not {c for c in box.changed() if c.startswith("outside/")}


# --------------------------------------------------------------------------------------------------------------
# Data files: one bad file stops nothing else; kept rows come out exactly as they went in
# --------------------------------------------------------------------------------------------------------------

def _app_log(box: Sandbox, day: str) -> Path:
    return box.lake / "raw" / "app_logs" / f"app-{day}.jsonl.gz"


def _lines(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines(keepends=True)


def _write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(gzip.compress(b"".join(lines), mtime=0))


def _encoding(path: Path) -> str:
    try:
        gzip.decompress(path.read_bytes()).decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def test_a_nanosecond_time_stamp_is_read_to_the_millisecond_and_purged(box):
    day = _app_log(box, "2026-09-02")
    lines = _lines(day)
    row = json.loads(lines[0].decode(_encoding(day)))
    row["ts"] = "2026-09-02T23:53:00.123456789+08:00"
    _write_lines(day, lines + [json.dumps(row, ensure_ascii=False).encode(_encoding(day)) + b"\n"])
    res = box.run("purge", "--as-of", AS_OF_ARG, "--execute", "--json")
    assert res.exit_code == 0, res.output
    assert not day.exists() and _expired_purged(box)


def test_a_gzip_bomb_is_refused_naming_it_and_the_rest_is_purged(box):
    """A small gzip that inflates past the dataset's max_file_bytes is refused as a bad file before it fills memory
    (611 KB had taken 5.76 GB and minutes), and the purge goes on with every other file."""
    bomb = _app_log(box, "2026-09-03")
    line = _lines(bomb)[0]
    bomb.write_bytes(gzip.compress(line * (3_000_000 // len(line) + 1), mtime=0))
    assert bomb.stat().st_size < 200_000
    bad = box.edit_catalog('    files: "app-{dt}.jsonl.gz"\n', '    files: "app-{dt}.jsonl.gz"\n    max_file_bytes: 1MB\n')
    res = box.run("purge", "--as-of", AS_OF_ARG, "--execute", catalog=bad)
    one_line_error(res, "raw/app_logs/app-2026-09-03.jsonl.gz", "more than 1,000,000 bytes once decompressed")
    assert bomb.exists() and _expired_purged(box) and not _app_log(box, "2026-09-02").exists()


def test_one_malformed_line_reports_its_file_and_the_rest_is_purged(box):
    bad = _app_log(box, "2026-09-02")
    lines = _lines(bad)
    _write_lines(bad, lines[:3] + [b'{"ts": "2026-09-02T10:00:00", "user_id": \n'] + lines[3:])
    box.before = box.snapshot()
    res = box.run("purge", "--as-of", AS_OF_ARG, "--execute")
    one_line_error(res, "raw/app_logs/app-2026-09-02.jsonl.gz", "line 4")
    changed = box.changed()
    assert "lake/raw/app_logs/app-2026-09-02.jsonl.gz" not in changed  # left as it was
    assert "lake/raw/app_logs/app-2026-09-01.jsonl.gz" in changed  # the others were purged
    assert _expired_purged(box)


def test_a_rewrite_keeps_every_kept_line_byte_for_byte(box):
    """Types that drift (304 and "500"), absent keys, nested objects and a 10 MB line all survive a partial
    rewrite exactly; the file keeps its encoding."""
    path = _app_log(box, "2026-09-06")  # an expired day's file, holding some rows that are still in retention
    enc = _encoding(path)
    late = [
        '{"ts": "2026-09-08T23:00:00+08:00", "user_id": "u-late-1", "status": 304}\n',
        '{"ts": "2026-09-08T23:01:00+08:00", "user_id": "u-late-2", "status": "500", "extra": {"a": [1, 2]}}\n',
        '{"ts": "2026-09-08T23:02:00+08:00", "user_id": "u-late-3"}\n',
        '{"ts": "2026-09-08T23:03:00+08:00", "user_id": "u-late-4", "query": "' + "长" * (3 << 20) + '"}\n',
    ]
    _write_lines(path, _lines(path)[:5] + [x.encode(enc) for x in late] + _lines(path)[5:])
    res = box.run("purge", "--as-of", AS_OF_ARG, "--execute")
    assert res.exit_code == 0, res.output
    assert _lines(path) == [x.encode(enc) for x in late]  # the expired rows went; the kept ones byte for byte
    assert _encoding(path) == enc


def test_a_csv_rewrite_keeps_quoted_newlines_and_quotes(box):
    import csv
    import io

    path = box.lake / "raw" / "call_records" / "calls-2026-09-06.csv"
    header, *rows = path.read_text(encoding="utf-8").splitlines(keepends=True)
    names = next(csv.reader([header]))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([{"call_id": "c-odd", "ts": "2026-09-08T10:00:00+08:00",
                                                    "result": 'line one\nline "two"'}.get(n, "x") for n in names])
    odd = buf.getvalue()
    assert odd.count("\n") == 2
    path.write_text(header + "".join(rows[:3]) + odd + "".join(rows[3:]), encoding="utf-8")
    res = box.run("purge", "--as-of", AS_OF_ARG, "--execute")
    assert res.exit_code == 0, res.output
    assert path.read_text(encoding="utf-8") == header + odd  # the expired rows went; the kept one as written


@pytest.mark.parametrize("name, content, fragment", [
    ("dt=2026-13-45", None, "dt=2026-13-45"),
    ("dt=garbage", None, "dt=garbage"),
    ("notes.txt", b"hello", "notes.txt"),
], ids=["impossible-date", "garbage", "stray-file"])
def test_a_folder_or_file_that_is_no_partition_is_reported_never_skipped_silently(box, name, content, fragment):
    where = box.lake / "raw" / "device_events" / name
    if content is None:
        where.mkdir()
        src = next((box.lake / "raw" / "device_events").glob("dt=2026-09-0*/part-00000.parquet"))
        shutil.copy(src, where / "part-00000.parquet")
    else:
        where.write_bytes(content)
    box.before = box.snapshot()
    res = box.run("purge", "--as-of", AS_OF_ARG, "--execute")
    one_line_error(res, fragment, "not a partition")
    assert not {c for c in box.changed() if name in c}
    assert _expired_purged(box)


def test_an_unreadable_file_is_set_aside_where_the_catalog_says_and_expires_with_its_date(box):
    path = box.lake / "raw" / "device_events" / "dt=2026-09-02" / "part-00000.parquet"
    path.write_bytes(b"PAR1 but no more")
    cat = box.edit_catalog("  device_events:\n", "  device_events:\n    on_bad_file: quarantine\n")
    box.before = box.snapshot()
    one_line_error(box.run("purge", "--as-of", AS_OF_ARG, "--execute", catalog=cat), "set aside")
    aside = path.with_name(".bad-part-00000.parquet")
    assert not path.exists() and aside.exists()
    res = box.run("purge", "--as-of", AS_OF_ARG, "--execute", catalog=cat)  # reported once; its day has expired
    assert res.exit_code == 0, res.output
    assert not aside.exists() and not path.parent.exists()
    assert not {c for c in box.changed() if c.startswith("outside/")}


@pytest.mark.parametrize("corrupt", ["parquet", "gzip", "not-gzip"])
def test_an_unreadable_file_is_reported_and_left_alone(box, corrupt):
    if corrupt == "parquet":
        path = box.lake / "raw" / "device_events" / "dt=2026-09-02" / "part-00000.parquet"
        path.write_bytes(path.read_bytes()[: 200])
    else:
        path = _app_log(box, "2026-09-02")
        path.write_bytes(path.read_bytes()[:40] if corrupt == "gzip" else b"plain text, no gzip")
    box.before = box.snapshot()
    res = box.run("purge", "--as-of", AS_OF_ARG, "--execute")
    one_line_error(res, str(path.relative_to(box.lake)))
    assert f"lake/{path.relative_to(box.lake)}" not in box.changed()


# --------------------------------------------------------------------------------------------------------------
# Releases: every released column is re-scanned whatever its type; interrupted publishes are recovered
# --------------------------------------------------------------------------------------------------------------

def _with_column(box: Sandbox, values_of) -> Path:
    """device_events with an extra column declared {kind: other, op: keep}, built from each row's user id."""
    for f in (box.lake / "raw" / "device_events").rglob("*.parquet"):
        t = pq.read_table(f)
        pq.write_table(t.append_column("contact", values_of(t.num_rows)), f)
    line = '      language:     {kind: quasi,  op: keep, description: "the device\'s language setting"}'
    return box.edit_catalog(line, line + "\n      contact:      {kind: other,  op: keep}")


@pytest.mark.parametrize("make", [
    lambda n: pa.array([13800138000 + i for i in range(n)], pa.int64()),
    lambda n: pa.array([13800138000.0 + i for i in range(n)], pa.float64()),
    lambda n: pa.array([[f"1390013{i % 10000:04d}"] for i in range(n)], pa.list_(pa.string())),
    lambda n: pa.array([{"phone": f"1370013{i % 10000:04d}"} for i in range(n)]),
], ids=["int64", "float64", "list", "struct"])
def test_phone_numbers_in_a_non_text_column_block_the_release(box, prefect_harness, make):
    bad = _with_column(box, make)
    box.before = box.snapshot()
    res = box.run("deidentify", "--release", "analytics", catalog=bad)
    one_line_error(res, "blocked", "contact")
    assert not {c for c in box.changed() if c.startswith("lake/releases")}


@pytest.mark.parametrize("make", [
    lambda n: pa.array([[f"zone-{i % 3}"] for i in range(n)], pa.list_(pa.string())),
    lambda n: pa.array([{"zone": f"zone-{i % 3}"} for i in range(n)]),
], ids=["list", "struct"])
def test_a_nested_value_in_a_quasi_identifier_blocks_the_release_naming_the_column(box, prefect_harness, make):
    """k-anonymity groups rows by their quasi-identifier values; a list or struct cannot be grouped (it had failed
    with an unexpected ArrowNotImplementedError): the gate refuses the release, naming the column."""
    for f in (box.lake / "raw" / "device_events").rglob("*.parquet"):
        t = pq.read_table(f)
        pq.write_table(t.append_column("zone", make(t.num_rows)), f)
    line = '      language:     {kind: quasi,  op: keep, description: "the device\'s language setting"}'
    bad = box.edit_catalog(line, line + "\n      zone:         {kind: quasi,  op: keep}")
    box.before = box.snapshot()
    res = box.run("deidentify", "--release", "analytics", catalog=bad)
    one_line_error(res, "device_events.zone")
    assert not {c for c in box.changed() if c.startswith("lake/releases")}


def test_rows_of_another_day_in_a_dated_partition_are_left_out_naming_the_file(box, prefect_harness):
    """A dated raw partition holding rows whose event time is on another day (a writer's UTC clock time): a release
    partition holds only its own day's rows (``ts::DATE = dt``); the others are left out, counted in the manifest,
    and the run names the file and exits 1 after publishing the rest."""
    day = box.lake / "raw" / "device_events" / "dt=2026-09-05"
    f = next(day.glob("*.parquet"))
    t = pq.read_table(f)
    ts = t.column("ts").combine_chunks()
    moved = pc.add(ts.slice(0, 5), pa.scalar(86_400_000 * 2, pa.duration("ms")))  # two days later
    pq.write_table(t.set_column(t.column_names.index("ts"), "ts", pa.concat_arrays([moved, ts.slice(5)])), f)
    res = box.run("deidentify", "--release", "analytics", "--json")
    assert res.exit_code == 1, res.output
    assert "raw/device_events/dt=2026-09-05/" in res.stderr + res.stdout and "another day" in res.stderr + res.stdout
    out = box.lake / "releases" / "analytics" / "device_events" / "dt=2026-09-05"
    released = pq.read_table(out).column("ts").to_pylist()
    assert released and all(v.astimezone(SH).date() == date(2026, 9, 5) for v in released)
    manifest = json.loads((meta_of(out) / "manifest.json").read_text())
    assert manifest["left_out"]["other_day"] == 5


def test_a_publish_killed_between_its_renames_is_recovered_and_erasure_reaches_every_copy(box, prefect_harness,
                                                                                        tmp_path):
    assert box.run("deidentify", "--release", "crm_research").exit_code == 0
    folder = next((box.lake / "releases" / "crm_research" / "call_records").glob("dt=*"))
    published = {p.name: p.read_bytes() for p in folder.iterdir()}
    stage = box.lake / "state" / "staging" / "crm_research" / f"call_records-{folder.name[3:]}-deadbeef"
    stage.mkdir(parents=True)
    folder.rename(stage / "data.old")  # killed mid-swap where the exchange is not atomic: the old folder moved away
    (stage / "data").mkdir()
    (stage / "data" / "part-00000.parquet").write_bytes(b"half-written")
    res = box.run("deidentify", "--release", "crm_research")
    assert res.exit_code == 0, res.output
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == published  # put back, whole, and skipped
    assert not list(stage.parent.iterdir())
    raw = pq.read_table(next((box.lake / "raw" / "call_records").parent.joinpath("device_events").rglob(
        "*.parquet"))).column("user_id")[0].as_py()
    subjects = tmp_path / "s.txt"
    subjects.write_text(f"{raw}\n")
    assert box.run("erase", "--subjects", str(subjects), "--execute").exit_code == 0
    assert not list((box.lake / "releases").rglob("*.old")) and not list((box.lake / "releases").rglob(".tmp-*"))


# --------------------------------------------------------------------------------------------------------------
# Erasure requests
# --------------------------------------------------------------------------------------------------------------

def _subject(box: Sandbox, dataset="device_events") -> str:
    return pq.read_table(next((box.lake / "raw" / dataset).rglob("*.parquet"))).column("user_id")[0].as_py()


def _rows_of(box: Sandbox, dataset: str, subject: str) -> int:
    cat = load_catalog(box.catalog)
    store = storage_for(cat, dataset)
    return sum(sum(v == subject for v in store.read(p).column(storage_for(cat, dataset).dataset.subject_key)
                   .to_pylist()) for p in store.list_partitions())


@pytest.mark.parametrize("layout", ['"user_id"\n"{s}"\n', "user_id,reason\n{s},cancelled\n", '"{s}"\r\n', "{s}\n"],
                         ids=["quoted-csv", "csv", "quoted-crlf", "plain"])
def test_a_subjects_file_in_any_plain_layout_erases_its_subject(box, tmp_path, layout):
    s = _subject(box)
    f = tmp_path / "subjects.csv"
    f.write_text(layout.format(s=s), encoding="utf-8")
    res = box.run("erase", "--subjects", str(f), "--execute", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["receipt"]["rows"] and _rows_of(box, "device_events", s) == 0


def test_an_unknown_subject_is_said_not_found_and_nothing_is_recorded(box, tmp_path):
    f = tmp_path / "s.txt"
    f.write_text("u-nobody-at-all\n")
    one_line_error(box.run("erase", "--subjects", str(f), "--execute"), "none of the 1 subject(s) appears")
    untouched(box)
    f.write_text(f"u-nobody-at-all\n{_subject(box)}\n")
    res = box.run("erase", "--subjects", str(f), "--execute", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["not_found"] == 1
    assert json.loads(res.stdout)["receipt"]["not_found"] == 1


def _callee_phones(calls) -> list:
    return [v for p in calls.list_partitions() for v in calls.read(p).column("callee_phone").to_pylist()]


def _subject_others_called(box, tmp_path):
    """(the call_records store, a subject's phone number that other users' call records hold, a subjects file
    naming that subject)."""
    reg = pa.concat_tables([pq.read_table(f) for f in (box.lake / "raw" / "registration").rglob("*.parquet")])
    calls = storage_for(load_catalog(box.catalog), "call_records")
    callees = set(_callee_phones(calls))
    pick = next(i for i, ph in enumerate(reg.column("phone").to_pylist()) if ph in callees)
    f = tmp_path / "s.txt"
    f.write_text(f"{reg.column('user_id')[pick].as_py()}\n")
    return calls, reg.column("phone")[pick].as_py(), f


def test_an_erased_subjects_phone_leaves_other_users_call_records(box, tmp_path):
    calls, phone, f = _subject_others_called(box, tmp_path)
    res = box.run("erase", "--subjects", str(f), "--execute")
    assert res.exit_code == 0, res.output
    left = _callee_phones(calls)
    assert phone not in left and None in left  # the cell erased, the other user's call record kept


def _table(box: Sandbox, dataset: str) -> pa.Table:
    store = storage_for(load_catalog(box.catalog), dataset)
    return pa.concat_tables([store.read(p) for p in store.list_partitions()], promote_options="default")


def test_an_erasure_erases_only_its_subjects_own_values_never_the_numbers_they_called(box, tmp_path):
    """Subjects call each other and share contacts. The erased subject's calls name other users' phone numbers,
    and other users' calls name theirs: only their own number leaves other users' call records; every other user's
    registration, staff directory entry and the numbers they called stay, and the receipt counts each cell."""
    reg, calls = _table(box, "registration"), _table(box, "call_records")
    phone_of = dict(zip(reg.column("user_id").to_pylist(), reg.column("phone").to_pylist()))
    owner_of = {p: u for u, p in phone_of.items() if p}
    callers = {}
    for u, callee in zip(calls.column("user_id").to_pylist(), calls.column("callee_phone").to_pylist()):
        callers.setdefault(u, set()).add(callee)
    # a subject who called registered users, and whose own number other users called
    called_by_others = {c for u, cs in callers.items() for c in cs}
    s = next(u for u, cs in callers.items() if phone_of.get(u) in called_by_others and any(
        c in owner_of and owner_of[c] != u for c in cs))
    mine = phone_of[s]
    their_numbers_called = {c for c in callers[s] if c in owner_of and owner_of[c] != s}
    assert their_numbers_called
    contacts_before = _table(box, "enterprise_contacts")
    f = tmp_path / "s.txt"
    f.write_text(f"{s}\n")
    res = box.run("erase", "--subjects", str(f), "--execute", "--json")
    assert res.exit_code == 0, res.output
    receipt = json.loads(res.stdout)["receipt"]

    reg_after = _table(box, "registration")
    assert s not in reg_after.column("user_id").to_pylist()
    kept = {u: p for u, p in zip(reg_after.column("user_id").to_pylist(), reg_after.column("phone").to_pylist())}
    assert kept == {u: p for u, p in phone_of.items() if u != s}  # no other user's own number touched
    calls_after = _table(box, "call_records")
    assert s not in calls_after.column("user_id").to_pylist()
    others = calls.filter(pc.not_equal(calls.column("user_id"), s))
    expected = [None if c == mine else c for c in others.column("callee_phone").to_pylist()]
    assert sorted(map(str, calls_after.column("callee_phone").to_pylist())) == sorted(map(str, expected))
    assert their_numbers_called <= set(kept.values())  # the numbers they called are still their owners'
    contacts_after = _table(box, "enterprise_contacts")
    staff = contacts_before.filter(pc.not_equal(contacts_before.column("employee_id"), s))  # theirs, if staff, goes
    for col in ("employee_id", "mobile", "email"):
        assert contacts_after.column(col).to_pylist() == staff.column(col).to_pylist()
    nulled = sum(c == mine for c in others.column("callee_phone").to_pylist())
    assert nulled and receipt["cells"] == {"call_records": {"callee_phone": nulled}}


def test_an_interrupted_erasure_still_erases_the_subjects_phone_elsewhere(box, tmp_path, monkeypatch):
    """Killed after the subject's own registration row (which says what their phone number is) was deleted but
    before other users' call records were rewritten: the re-run no longer finds the number in the subject's rows,
    and erases it anyway from what the first run recorded (keyed hashes) before it changed anything."""
    from flows import erase

    calls, phone, f = _subject_others_called(box, tmp_path)
    real = erase._erase_raw_file

    def killed_at_call_records(catalog, target, erased):
        if target.target == "call_records":
            raise KeyboardInterrupt  # as a SIGKILL would stop it: nothing after this runs
        return real(catalog, target, erased)

    monkeypatch.setattr(erase, "_erase_raw_file", killed_at_call_records)
    with pytest.raises(KeyboardInterrupt):
        erase.run_erase(load_catalog(box.catalog), f, None, True, Settings())
    monkeypatch.setattr(erase, "_erase_raw_file", real)
    assert phone in _callee_phones(calls)
    assert not any(phone == v for v in pa.concat_tables(
        [pq.read_table(x) for x in (box.lake / "raw" / "registration").rglob("*.parquet")]).column("phone").to_pylist())
    res = box.run("erase", "--subjects", str(f), "--execute")
    assert res.exit_code == 0, res.output
    left = _callee_phones(calls)
    assert phone not in left
    assert not (box.lake / "state" / "erasure" / "pending").exists() or \
        not any((box.lake / "state" / "erasure" / "pending").iterdir())


def test_an_erased_subjects_late_rows_are_erased_on_the_next_run(box, tmp_path):
    s = _subject(box)
    f = tmp_path / "s.txt"
    f.write_text(f"{s}\n")
    assert box.run("erase", "--subjects", str(f), "--execute").exit_code == 0
    cat = load_catalog(box.catalog)
    store = storage_for(cat, "chat_messages")
    part = store.list_partitions()[-1]
    t = store.read(part)
    store.replace_file(part.paths[0], pa.concat_tables([t, t.slice(0, 1).set_column(
        t.column_names.index("user_id"), "user_id", pa.array([s]))]))
    assert _rows_of(box, "chat_messages", s) == 1
    res = box.run("erase", "--ledger", "--execute", "--json")  # what every nightly does
    assert res.exit_code == 0, res.output
    assert _rows_of(box, "chat_messages", s) == 0
    again = box.run("erase", "--subjects", str(f), "--execute", "--json")  # re-running the request: nothing new
    assert again.exit_code == 0 and json.loads(again.stdout)["files"] == 0


@pytest.mark.parametrize("content", ["u 1\n", "u\x001\n", "x" * 200 + "\n"], ids=["space", "nul", "long"])
def test_a_malformed_subjects_file_is_refused_naming_the_line(box, tmp_path, content):
    f = tmp_path / "s.txt"
    f.write_text("subject_id\n" + content)
    one_line_error(box.run("erase", "--subjects", str(f), "--execute"), "line 2")
    untouched(box)


# --------------------------------------------------------------------------------------------------------------
# Audit: truncation, removal, re-chaining and forgery are caught
# --------------------------------------------------------------------------------------------------------------

@pytest.fixture()
def audited(box):
    assert box.run("purge", "--as-of", AS_OF_ARG, "--execute").exit_code == 0
    log = box.lake / "state" / "audit.jsonl"
    assert len(log.read_text().splitlines()) > 4
    assert box.run("audit").exit_code == 0
    return box, log


def _rechain(lines: list[str], edit=lambda e: e) -> list[str]:
    """What an attacker without the key can do: edit entries, then recompute every hash with plain SHA-256."""
    prev, out = "0" * 64, []
    for i, line in enumerate(lines, 1):
        e = edit(json.loads(line))
        e.pop("hash")
        e["seq"], e["prev"] = i, prev
        e["hash"] = hashlib.sha256((prev + json.dumps(e, sort_keys=True, ensure_ascii=False)).encode()).hexdigest()
        prev = e["hash"]
        out.append(json.dumps(e, ensure_ascii=False) + "\n")
    return out


@pytest.mark.parametrize("tamper, fragment", [
    (lambda log, head: (log.write_text("".join(log.read_text().splitlines(keepends=True)[:-3])), head.unlink()),
     "removed from the end"),
    (lambda log, head: (log.unlink(), head.unlink()), "log removed"),
    (lambda log, head: log.write_text("".join(_rechain(log.read_text().splitlines(),
                                                       lambda e: {**e, "rows_deleted": 0} if "rows_deleted" in e
                                                       else e))), "forged"),
    (lambda log, head: log.write_text(log.read_text() + json.dumps(
        {"v": 2, "seq": len(log.read_text().splitlines()) + 1, "prev": "0" * 64, "event": "purge.end",
         "hash": "f" * 64}) + "\n"), "previous-hash link broken"),
    (lambda log, head: log.write_text("".join(_rechain(log.read_text().splitlines()[:-2]))), "forged"),
], ids=["truncated-head-removed", "removed", "edited-rechained", "forged-appended", "truncated-rechained"])
def test_audit_verify_reports_tampering(audited, tamper, fragment):
    box, log = audited
    tamper(log, box.lake / "state" / "audit.head")
    one_line_error(box.run("audit"), fragment)


def test_audit_verify_with_another_key_fails(audited, monkeypatch):
    box, _ = audited
    monkeypatch.setenv("PIIFLOW_KEY", "another-master-key-0123456789-abcdefghijkl")
    one_line_error(box.run("audit"), "is not this lake's")


def test_releases_and_erasures_are_audited(box, prefect_harness, tmp_path):
    assert box.run("deidentify", "--release", "crm_research").exit_code == 0
    f = tmp_path / "s.txt"
    f.write_text(f"{_subject(box, 'device_events')}\n")
    assert box.run("erase", "--subjects", str(f), "--execute").exit_code == 0
    events = [json.loads(ln)["event"] for ln in (box.lake / "state" / "audit.jsonl").read_text().splitlines()]
    assert "release.publish" in events and "erase.start" in events and "erase.end" in events
    assert box.run("audit").exit_code == 0


# --------------------------------------------------------------------------------------------------------------
# Failures of the machine: one line, saying what changed
# --------------------------------------------------------------------------------------------------------------

def test_a_permission_error_stops_the_purge_in_one_line_saying_what_changed(box, monkeypatch):
    from flows.storage import fs as fs_module

    real = fs_module.os.unlink

    def unlink(path, *a, **kw):  # the access logs' folder cannot be written to
        if "/raw/app_logs/" in str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *a, **kw)

    monkeypatch.setattr(fs_module.os, "unlink", unlink)
    res = box.run("purge", "--as-of", AS_OF_ARG, "--execute")
    line = one_line_error(res, "purge stopped at raw/app_logs/", "Permission denied", "changed before it stopped")
    assert "Traceback" not in res.output and "device_events (6 file(s))" in line
    monkeypatch.setattr(fs_module.os, "unlink", real)
    assert box.run("purge", "--as-of", AS_OF_ARG, "--execute").exit_code == 0  # the next run completes it
    assert _expired_purged(box)


def test_a_column_whose_type_drifts_between_files_is_read_as_text(box):
    folder = box.lake / "raw" / "device_events" / "dt=2026-09-08"
    t = pq.read_table(folder / "part-00000.parquet")
    drifted = t.set_column(t.column_names.index("language"), "language", pa.array([7] * t.num_rows, pa.int64()))
    pq.write_table(drifted, folder / "part-00001.parquet")
    res = box.run("deidentify", "--release", "analytics", "--start", "2026-09-08", "--end", "2026-09-08")
    assert res.exit_code == 0, res.output
    released = pq.read_table(next((box.lake / "releases" / "analytics" / "device_events" / "dt=2026-09-08")
                                  .glob("*.parquet")))
    assert released.num_rows and pa.types.is_string(released.schema.field("language").type)


# --------------------------------------------------------------------------------------------------------------
# Anchors that are gone, and logs rewritten as unkeyed: errors, and never re-anchored
# --------------------------------------------------------------------------------------------------------------

def _drop_anchors(box: Sandbox) -> None:
    (box.lake / "state" / "audit.head").unlink()
    for anchor in Path(os.environ["PIIFLOW_AUDIT_ANCHOR_DIR"]).glob("*.json"):
        anchor.unlink()


def _unkeyed(lines: list[str]) -> list[str]:
    """The log rewritten as entries from before the chain was keyed (no "v", plain SHA-256), as a forger would."""
    return _rechain(lines, lambda e: {k: v for k, v in e.items() if k != "v"})


@pytest.mark.parametrize("tamper, fragment", [
    (lambda lines: lines[:-3], "no anchor outside the lake"),
    (lambda lines: _unkeyed(lines), "an unkeyed entry where the lake's chain is keyed"),
    (lambda lines: _unkeyed(lines[:-3]), "an unkeyed entry where the lake's chain is keyed"),
], ids=["cut", "rewritten-unkeyed", "cut-and-unkeyed"])
def test_a_cut_or_forged_log_whose_anchors_are_deleted_fails_and_no_run_reanchors_it(audited, tamper, fragment):
    box, log = audited
    log.write_text("".join(tamper(log.read_text().splitlines(keepends=True))))
    _drop_anchors(box)
    one_line_error(box.run("audit"), fragment)
    box.before = box.snapshot()
    one_line_error(box.run("purge", "--as-of", AS_OF_ARG, "--execute"), "audit log does not verify")
    untouched(box)  # nothing appended, no head or anchor written from the cut log
    one_line_error(box.run("audit"), fragment)


OTHER_KEY = "another-master-key-0123456789-abcdefghijkl"


def test_another_master_key_is_refused_before_anything_is_read(box, tmp_path, monkeypatch):
    """An objection and an erasure recorded under the lake's key: under another key every command is refused in one
    line (a run would republish without the objector, keep the erased subject's late rows), and deleting the lake's
    key record does not help: the audit log and the anchor outside the lake still say whose the lake is."""
    f = tmp_path / "s.txt"
    f.write_text(f"{_subject(box)}\n")
    assert box.run("object", "--subjects", str(f), "--purpose", "marketing", "--execute").exit_code == 0
    assert box.run("erase", "--subjects", str(f), "--execute").exit_code == 0
    assert json.loads((box.lake / "state" / "key.json").read_text())["key_fingerprint"]
    monkeypatch.setenv("PIIFLOW_KEY", OTHER_KEY)
    box.before = box.snapshot()
    for args in (("deidentify", "--release", "marketing"), ("erase", "--ledger", "--execute"), ("scan",),
                 ("purge", "--as-of", AS_OF_ARG, "--execute"), ("audit",)):
        one_line_error(box.run(*args), "is not this lake's", "state/key.json")
    untouched(box)
    (box.lake / "state" / "key.json").unlink()
    box.before = box.snapshot()
    one_line_error(box.run("deidentify", "--release", "marketing"), "is not this lake's", "anchor outside the lake")
    for anchor in Path(os.environ["PIIFLOW_AUDIT_ANCHOR_DIR"]).glob("*.json"):
        anchor.unlink()
    box.before = box.snapshot()
    one_line_error(box.run("erase", "--ledger", "--execute"), "is not this lake's", "audit log's last entry")
    untouched(box)


# --------------------------------------------------------------------------------------------------------------
# Names and keys at their limits
# --------------------------------------------------------------------------------------------------------------

def test_a_raw_file_with_a_name_at_the_filesystems_limit_is_rewritten(box, tmp_path):
    """A 250-byte file name: its temporary name must fit in 255 bytes too, or every erasure of a subject in it stops
    half way (and every purge that rewrites it leaves its expired rows)."""
    day = box.lake / "raw" / "device_events" / "dt=2026-09-08"
    src = next(day.glob("*.parquet"))
    long = day / ("p" * 242 + ".parquet")
    src.rename(long)
    table = pq.read_table(long)
    subject = table.column("user_id")[0].as_py()
    f = tmp_path / "s.txt"
    f.write_text(f"{subject}\n")
    res = box.run("erase", "--subjects", str(f), "--execute")
    assert res.exit_code == 0, res.output
    left = pq.read_table(long).column("user_id").to_pylist()
    assert subject not in left and len(left) == table.num_rows - table.column("user_id").to_pylist().count(subject)
    assert not [p for p in day.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("setup, fragment", [
    (lambda f, env: (f.write_text("k" * 48), f.chmod(0o644)), "may be read by other users (mode 644)"),
    (lambda f, env: (f.write_bytes(bytes(range(256)) * 2), f.chmod(0o600)), "is not UTF-8 text"),
    (lambda f, env: env.setenv("PIIFLOW_KEY", " " * 40), "at least 32 characters"),
], ids=["world-readable-file", "binary-file", "blank-env"])
def test_a_careless_key_is_refused_in_one_line(box, tmp_path, monkeypatch, setup, fragment):
    f = tmp_path / "master.key"
    monkeypatch.delenv("PIIFLOW_KEY", raising=False)
    monkeypatch.setenv("PIIFLOW_KEY_FILE", str(f))
    setup(f, monkeypatch)
    one_line_error(box.run("purge", "--as-of", AS_OF_ARG, "--execute"), fragment)
    untouched(box)


def test_one_secret_is_one_key_from_the_environment_or_a_file(tmp_path, monkeypatch):
    secret = "s" * 40
    f = tmp_path / "master.key"
    f.write_text(f"{secret}\n")
    f.chmod(0o600)
    monkeypatch.delenv("PIIFLOW_KEY", raising=False)
    monkeypatch.delenv("PIIFLOW_KEY_FILE", raising=False)
    from_file = Settings(key_file=f).master_key()
    monkeypatch.setenv("PIIFLOW_KEY", f"  {secret}\n")
    assert from_file == Settings().master_key() == secret.encode()


def test_a_file_name_with_a_newline_and_terminal_escapes_is_printed_escaped(box):
    """A name that would print as an "all fine" line and erase the real one: every printed name is escaped."""
    evil = "x\npurge: nothing to do, all fine\x1b[1A\x1b[2K[red].parquet"
    (box.lake / "raw" / "device_events" / evil).write_bytes(b"not parquet")
    res = box.run("purge", "--as-of", AS_OF_ARG)
    assert res.exit_code == 1, res.output
    for text in (res.stdout, res.stderr):
        assert "\x1b" not in text and "\nall fine" not in text and "\npurge: nothing" not in text
    assert "x\\npurge: nothing to do, all fine\\x1b[1A" in res.stdout + res.stderr


def _pseudonyms_of(box: Sandbox, release: str, dataset: str) -> set:
    return {v for f in (box.lake / "releases" / release / dataset).rglob("*.parquet")
            for v in pq.read_table(f).column("user_id").to_pylist()}


def test_a_deliberate_key_rotation_keeps_objections_erasures_and_the_audit_chain(box, tmp_path, monkeypatch,
                                                                                 prefect_harness):
    """`piiflow key rotate`: planned first, then audited; under the new key the objection still holds, an erased
    subject's late row is still erased, the chain verifies across the rotation, releases get new pseudonyms, and the
    old key is refused like any other."""
    objector, erased = _subject(box, "usage_events"), _subject(box)
    assert objector != erased
    f, g = tmp_path / "o.txt", tmp_path / "e.txt"
    f.write_text(f"{objector}\n")
    g.write_text(f"{erased}\n")
    assert box.run("object", "--subjects", str(f), "--purpose", "marketing", "--execute").exit_code == 0
    assert box.run("erase", "--subjects", str(g), "--execute").exit_code == 0
    assert box.run("deidentify", "--release", "marketing").exit_code == 0
    before = _pseudonyms_of(box, "marketing", "usage_events")
    new_key = tmp_path / "new.key"
    new_key.write_text(OTHER_KEY)
    new_key.chmod(0o600)
    box.before = box.snapshot()
    rotate = ["key", "rotate", "-c", str(box.catalog), "--new-key-file", str(new_key)]
    plan = CliRunner().invoke(app, [*rotate, "--json"])
    assert plan.exit_code == 0 and json.loads(plan.stdout)["executed"] is False, plan.output
    untouched(box)
    done = CliRunner().invoke(app, [*rotate, "--execute"])
    assert done.exit_code == 0 and "changed" in done.stdout, done.output
    assert OTHER_KEY not in (box.lake / "state" / "keyring.json").read_text()

    old_key = os.environ["PIIFLOW_KEY"]
    monkeypatch.setenv("PIIFLOW_KEY", OTHER_KEY)
    assert box.run("audit").exit_code == 0
    res = box.run("deidentify", "--release", "marketing", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["redone"].get("key")  # republished under the new key
    after = _pseudonyms_of(box, "marketing", "usage_events")
    assert after and not after & before  # new pseudonyms: joins with earlier copies end
    from transforms.keys import derive_key
    from transforms.operators import pseudonymize
    op = load_catalog(box.catalog).datasets["usage_events"].columns["user_id"].op
    mine = pseudonymize(pa.array([objector]), key=derive_key(OTHER_KEY.encode(), "marketing-team"), length=op.length,
                        prefix=op.prefix).to_pylist()[0]
    assert mine not in after  # the objection recorded under the old key still leaves the objector out

    cat = load_catalog(box.catalog)
    store = storage_for(cat, "chat_messages")
    part = store.list_partitions()[-1]
    t = store.read(part)
    store.replace_file(part.paths[0], pa.concat_tables([t, t.slice(0, 1).set_column(
        t.column_names.index("user_id"), "user_id", pa.array([erased]))]))
    assert box.run("erase", "--ledger", "--execute").exit_code == 0
    assert _rows_of(box, "chat_messages", erased) == 0  # erased under the old key, still erased under the new
    assert box.run("audit").exit_code == 0

    monkeypatch.setenv("PIIFLOW_KEY", old_key)
    box.before = box.snapshot()
    one_line_error(box.run("erase", "--ledger", "--execute"), "is not this lake's")
    untouched(box)
