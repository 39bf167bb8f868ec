"""Orchestration: skip-on-unchanged, --force, resume after a killed backfill, erasures re-release what they touch,
the Dask runner gives the same output as threads, and the scheduled deployments."""

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from configs.catalog import load_catalog
from configs.settings import Settings
from tests.helpers import ROOT, copy_lake, make_lake, meta_of
from transforms.planning import MIN_TASK_SECONDS, plan_tasks

START, END = date(2026, 8, 1), date(2026, 8, 8)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    base = tmp_path_factory.mktemp("orch-pristine")
    make_lake(base, rows=1200, start=START, end=END, seed=44)
    return base


def fresh(pristine, tmp_path, name="lake") -> Path:
    copy_lake(pristine, tmp_path / name)
    return tmp_path / name / "catalog.yaml"


def release_content(root: Path, release: str) -> dict[str, list]:
    return {str(p.relative_to(root)): pq.read_table(p).to_pylist()
            for p in sorted((root / "releases" / release).rglob("*.parquet"))}


def test_rerun_on_unchanged_data_skips_everything_and_force_redoes(pristine, tmp_path, prefect_harness):
    from flows.deidentify import deidentify_flow
    cat = fresh(pristine, tmp_path)
    first = deidentify_flow(str(cat), "crm_research")
    assert first["published"] == 16 and first["skipped"] == 0 and first["redone"] == {"new": 16}
    manifests = {p: p.read_bytes() for p in cat.parent.rglob("manifest.json")}
    again = deidentify_flow(str(cat), "crm_research")
    assert again["skipped"] == 16 and again["published"] == 0 and again["rows_in"] == 0
    assert {p: p.read_bytes() for p in cat.parent.rglob("manifest.json")} == manifests  # nothing rewritten
    forced = deidentify_flow(str(cat), "crm_research", force=True)
    assert forced["published"] == 16 and forced["skipped"] == 0 and forced["redone"] == {"forced": 16}
    assert {json.loads(p.read_text())["redo"] for p in cat.parent.rglob("manifest.json")} == {"forced"}


def test_two_spellings_of_one_lake_are_one_release(pristine, tmp_path, prefect_harness):
    """A second catalog elsewhere, naming the same lake by another path (and with other descriptions), publishes
    nothing again: where the lake is and the words for the dictionary are not the policy."""
    from flows.deidentify import deidentify_flow
    cat = fresh(pristine, tmp_path)
    deidentify_flow(str(cat), "crm_research")
    other = tmp_path / "elsewhere" / "configs" / "prod.yaml"
    other.parent.mkdir(parents=True)
    text = cat.read_text()
    assert "root: ." in text
    other.write_text(text.replace("root: .", f"root: ../../{cat.parent.name}/../{cat.parent.name}")
                     .replace('description: "', 'description: "Reworded. ', 1))
    again = deidentify_flow(str(other), "crm_research")
    assert again["published"] == 0 and again["skipped"] == 16


def test_changed_input_or_policy_reruns_only_what_changed(pristine, tmp_path, prefect_harness):
    from flows.deidentify import deidentify_flow
    from flows.storage import storage_for
    cat = fresh(pristine, tmp_path)
    deidentify_flow(str(cat), "crm_research", start=START, end=END)
    catalog = load_catalog(cat)
    store = storage_for(catalog, "call_records")
    part = store.list_partitions()[2]
    store.replace_file(part.paths[0], store.read(part).slice(1))  # one late correction on one day
    res = deidentify_flow(str(cat), "crm_research")
    redone = [(p["dataset"], p["dt"], p["redo"]) for p in res["partitions"] if p["status"] == "published"]
    assert redone == [("call_records", part.dt.isoformat(), "input")] and res["redone"] == {"input": 1}
    cat.write_text(cat.read_text().replace("k_anonymity: 5\n    retention: 180d", "k_anonymity: 4\n    retention: 180d"))
    res = deidentify_flow(str(cat), "crm_research")
    assert res["published"] == 16 and res["redone"] == {"policy": 16}  # a new policy hash: every partition


def test_backfill_range_and_bad_range(pristine, tmp_path, prefect_harness):
    from configs.errors import PolicyError
    from flows.deidentify import deidentify_flow
    cat = fresh(pristine, tmp_path)
    res = deidentify_flow(str(cat), "crm_research", start=date(2026, 8, 3), end=date(2026, 8, 4))
    assert sorted({p["dt"] for p in res["partitions"]}) == ["2026-08-03", "2026-08-04"]
    with pytest.raises(PolicyError, match="before --start"):
        deidentify_flow(str(cat), "crm_research", start=date(2026, 8, 4), end=date(2026, 8, 3))


_BACKFILL = """
import sys, time
from pathlib import Path
from configs.catalog import load_catalog
from configs.settings import Settings
from flows.deidentify import plan_dates, release_key, release_partition
cat = load_catalog(sys.argv[1]); s = Settings(); key = release_key(s, cat.releases["crm_research"].recipient)
print("ready", flush=True)
for ds in cat.releases["crm_research"].datasets:
    for d, paths in plan_dates(cat, ds, None, None).items():
        release_partition(cat, "crm_research", ds, d, paths, key, s)
        print("done", ds, d, flush=True)
"""


def test_killed_backfill_resumes_where_it_stopped(pristine, tmp_path, prefect_harness):
    from flows.deidentify import deidentify_flow
    ref = fresh(pristine, tmp_path, "ref")
    deidentify_flow(str(ref), "crm_research")
    cat = fresh(pristine, tmp_path, "work")
    p = subprocess.Popen([sys.executable, "-c", _BACKFILL, str(cat)], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.stdout.readline().strip() == "ready"
    done = 0
    while done < 6:
        if p.stdout.readline().startswith("done"):
            done += 1
    p.kill()
    p.wait()
    res = deidentify_flow(str(cat), "crm_research")
    assert res["skipped"] >= 6 and res["skipped"] + res["published"] == 16
    assert release_content(cat.parent, "crm_research") == release_content(ref.parent, "crm_research")
    assert not list(cat.parent.rglob(".tmp-*")) and not list((cat.parent / "state" / "staging").rglob("*.parquet"))


def test_erasure_re_releases_only_with_the_subject_gone(pristine, tmp_path, prefect_harness):
    import pyarrow as pa

    from configs.settings import Settings
    from flows.deidentify import deidentify_flow
    from flows.erase import run_erase
    from transforms.keys import derive_key
    from transforms.operators import pseudonymize
    cat = fresh(pristine, tmp_path)
    deidentify_flow(str(cat), "crm_research")
    catalog = load_catalog(cat)
    from flows.storage import storage_for
    store = storage_for(catalog, "call_records")
    victim = store.read(store.list_partitions()[0]).column("user_id")[0].as_py()
    token = pseudonymize(pa.array([victim]), key=derive_key(Settings().master_key(), "crm-research")).to_pylist()[0]
    assert any(token in json.dumps(rows, default=str) for rows in release_content(cat.parent, "crm_research").values())
    subjects = tmp_path / "s.txt"
    subjects.write_text(victim + "\n")
    run_erase(catalog, subjects, None, execute=True, settings=Settings())
    res = deidentify_flow(str(cat), "crm_research")
    # every partition again: those whose raw files the erasure rewrote for their input, the others for the ledger
    assert res["published"] == 16 and set(res["redone"]) == {"input", "ledger"}
    assert not any(token in json.dumps(rows, default=str) for rows in release_content(cat.parent, "crm_research").values())


@pytest.mark.slow
def test_dask_runner_matches_threads(pristine, tmp_path, prefect_harness, monkeypatch):
    """The same release on a local Dask cluster of 2 workers (as settings wire it: preloaded workers, several
    dates per task) equals the thread runner's, and its task runs are recorded by this process's Prefect API, not
    by servers the workers would otherwise start for themselves."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from configs.settings import Settings
    from flows.deidentify import deidentify_flow
    from flows.runtime import task_runner_for

    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # restored after the test
    a = fresh(pristine, tmp_path, "threads")
    b = fresh(pristine, tmp_path, "dask")
    deidentify_flow(str(a), "analytics")
    runner = task_runner_for(Settings(task_runner="dask", max_workers=2))
    state = deidentify_flow.with_options(task_runner=runner)(str(b), "analytics", return_state=True)
    res = state.result()
    assert res["published"] > 0 and res["blocked"] == 0
    assert release_content(a.parent, "analytics") == release_content(b.parent, "analytics")
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
    assert len(runs) >= 2 and all(r.state is not None and r.state.is_completed() for r in runs)


def test_task_runner_comes_from_settings():
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from configs.settings import Settings
    from flows.runtime import task_runner_for
    assert isinstance(task_runner_for(Settings()), ThreadPoolTaskRunner)
    assert isinstance(task_runner_for(Settings(task_runner="processes")), ProcessPoolTaskRunner)
    assert isinstance(task_runner_for(Settings(task_runner="dask", max_workers=1)), DaskTaskRunner)


def test_deployments_are_scheduled_in_shanghai_time():
    from flows.deployments import deployments
    deps = {d.name: d for d in deployments("/etc/piiflow/catalog.yaml", Settings())}
    assert set(deps) == {"nightly-served", "weekly-full-scan-served"}  # never the work pool's names
    sched = deps["nightly-served"].schedules[0].schedule
    assert sched.cron == "0 2 * * *" and sched.timezone == "Asia/Shanghai"
    assert deps["nightly-served"].parameters == {"catalog_path": "/etc/piiflow/catalog.yaml"}
    import yaml
    declared = {d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
    assert {k: declared["nightly"]["schedules"][0][k] for k in ("cron", "timezone")} == {
        "cron": "0 2 * * *", "timezone": "Asia/Shanghai"}  # the same times
    assert not set(declared) & set(deps)


def test_concurrent_tasks_share_one_detection_engine(monkeypatch):
    """Threads asking for the engine at once wait for one build and share it (and its memory of texts)."""
    import threading

    from configs.settings import Settings
    from flows import runtime
    from transforms import detection

    builds = []
    real = detection.build_analyzer

    def slow_build(settings=None, threshold=None):
        builds.append(1)
        return real(settings, threshold=threshold)

    monkeypatch.setattr(detection, "build_analyzer", slow_build)
    monkeypatch.setattr(runtime, "_ENGINES", {})
    s = Settings(score_threshold=0.55)
    got = []
    threads = [threading.Thread(target=lambda: got.append(runtime.analyzer_for(s))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(got) == 6 and all(g is got[0] for g in got)


def test_release_flow_default_concurrency_is_bounded():
    """Called directly (a deployment, a test), the release flow runs at most the default number of tasks at once,
    not one thread per partition."""
    from prefect.task_runners import ThreadPoolTaskRunner

    from configs.settings import Settings
    from flows.deidentify import deidentify_flow

    runner = deidentify_flow.task_runner
    assert isinstance(runner, ThreadPoolTaskRunner)
    assert runner._max_workers == Settings().max_workers


def _planned(tmp_path, sizes: dict[str, list[int]]):
    """{dataset: [(date, [path])]} over files of the given sizes, one per date."""
    from datetime import date, timedelta

    planned = {}
    for ds, per_day in sizes.items():
        planned[ds] = []
        for i, size in enumerate(per_day):
            f = tmp_path / f"{ds}-{i}.bin"
            f.write_bytes(b"x" * size)
            planned[ds].append((date(2026, 10, 1) + timedelta(days=i), [f]))
    return planned


def _sizes(planned) -> dict:
    return {p: p.stat().st_size for dated in planned.values() for _, paths in dated for p in paths}


def _covers_each_partition_once(tasks, planned) -> bool:
    seen = [(ds, d) for chunk in tasks for ds, d, _ in chunk]
    return sorted(seen) == sorted((ds, d) for ds, dated in planned.items() for d, _ in dated)


def _consecutive(tasks, planned) -> bool:
    """Each task holds a run of consecutive partitions (datasets in order, dates in order within each)."""
    order = {(ds, d): i for i, (ds, d) in enumerate((ds, d) for ds, dated in planned.items() for d, _ in dated)}
    return all([order[(ds, d)] for ds, d, _ in chunk] == list(range(order[chunk[0][:2]], order[chunk[0][:2]] + len(chunk)))
               for chunk in tasks)


def test_plan_tasks_threads_one_partition_per_task_largest_first(tmp_path):
    planned = _planned(tmp_path, {"a": [10, 30, 20], "b": [50]})
    tasks = plan_tasks(planned, sizes=_sizes(planned), threaded=True, workers=8)
    assert [len(chunk) for chunk in tasks] == [1, 1, 1, 1]
    assert [chunk[0][2][0].stat().st_size for chunk in tasks] == [50, 30, 20, 10]
    assert _covers_each_partition_once(tasks, planned)


def test_plan_tasks_setting_wins(tmp_path):
    planned = _planned(tmp_path, {"a": [10] * 12, "b": [10] * 5})
    for threaded in (True, False):
        tasks = plan_tasks(planned, sizes=_sizes(planned), threaded=threaded, workers=8, per_task=5)
        assert sorted(len(chunk) for chunk in tasks) == [2, 5, 5, 5]
        assert _covers_each_partition_once(tasks, planned) and _consecutive(tasks, planned)


def test_plan_tasks_on_workers_balances_estimated_cost(tmp_path):
    """Processes or Dask: up to four tasks per worker of equal estimated cost (bytes x the dataset's seconds per
    byte), each a run of consecutive partitions, costliest first."""
    planned = _planned(tmp_path, {"parquet": [300] * 30, "jsonl": [100] * 30})
    cost = {"parquet": 1e-3, "jsonl": 6e-3}  # seconds per byte: a parquet date 0.3 s, a jsonl date 0.6 s; 27 s
    tasks = plan_tasks(planned, sizes=_sizes(planned), threaded=False, workers=2, cost=cost)
    assert len(tasks) == 8  # 4 per worker
    assert _covers_each_partition_once(tasks, planned) and _consecutive(tasks, planned)
    loads = [sum(0.3 if ds == "parquet" else 0.6 for ds, _, _ in chunk) for chunk in tasks]
    assert loads == sorted(loads, reverse=True)  # costliest first
    assert max(loads) - min(loads) <= 0.6 + 1e-9  # equal to within one partition
    assert max(len(c) for c in tasks if c[0][0] == "jsonl") < min(len(c) for c in tasks if c[-1][0] == "parquet")


def test_plan_tasks_keeps_small_backfills_in_few_tasks(tmp_path):
    """Tasks carry at least MIN_TASK_SECONDS of estimated work (their orchestration costs a few tenths of a
    second), one per worker at the least, so a small backfill is not mostly orchestration."""
    planned = _planned(tmp_path, {"a": [100] * 30, "b": [100] * 30, "c": [100] * 30})
    second = MIN_TASK_SECONDS / 100  # seconds per byte that make each partition one MIN_TASK_SECONDS
    for per_partition, workers, expected in [(0.01, 2, 2), (0.04, 2, 2), (0.05, 2, 4), (0.05, 1, 4),
                                             (0.01, 1, 1), (0.03, 2, 2), (1.0, 3, 12)]:
        cost = {ds: second * per_partition for ds in planned}  # 90 partitions of per_partition x the minimum
        tasks = plan_tasks(planned, sizes=_sizes(planned), threaded=False, workers=workers, cost=cost)
        assert len(tasks) == expected, (per_partition, workers)
        assert _covers_each_partition_once(tasks, planned) and _consecutive(tasks, planned)
        sizes = sorted(len(c) for c in tasks)
        assert sizes[-1] - sizes[0] <= 1  # equal cost per partition: equal counts


def test_seconds_per_byte_reads_the_last_runs_manifests(tmp_path, prefect_harness):
    from flows.deidentify import deidentify_flow
    from flows.task_planning import seconds_per_byte

    cat_path, _ = make_lake(tmp_path / "lake", rows=1500)
    catalog = load_catalog(cat_path)
    assert seconds_per_byte(catalog, "analytics", "device_events") is None  # never released
    deidentify_flow(str(cat_path), "analytics")
    rate = seconds_per_byte(catalog, "analytics", "device_events")
    assert rate is not None and 0 < rate < 1e-3  # seconds per byte: well under a millisecond


def test_estimate_costs_measured_else_by_format(tmp_path, prefect_harness):
    """A first backfill prices a byte by its storage format (a gzip JSON-lines byte ~4 Parquet bytes); after a run,
    by the seconds the manifests recorded; a dataset without timings is scaled like the ones with."""
    from flows.deidentify import deidentify_flow
    from flows.task_planning import dataset_costs as estimate_costs
    from flows.task_planning import seconds_per_byte
    from transforms.planning import format_cost

    cat_path, _ = make_lake(tmp_path / "lake", rows=1500)
    catalog = load_catalog(cat_path)
    datasets = catalog.releases["analytics"].datasets
    prior = {ds: format_cost(catalog.datasets[ds]) for ds in datasets}
    assert estimate_costs(catalog, "analytics", datasets) == prior
    assert prior["app_logs"] > 4 * prior["device_events"] > 0  # app-{dt}.jsonl.gz against Parquet
    deidentify_flow(str(cat_path), "analytics")
    timed = estimate_costs(catalog, "analytics", datasets)
    assert timed == {ds: seconds_per_byte(catalog, "analytics", ds) for ds in datasets}
    for manifest in (catalog.release_path("analytics") / "_meta" / "app_logs").glob("dt=*/manifest.json"):
        manifest.unlink()  # app_logs' timings lost: priced by its format, scaled as the others compared with theirs
    partial = estimate_costs(catalog, "analytics", datasets)
    assert partial["device_events"] == timed["device_events"]
    scale = (timed["device_events"] / prior["device_events"] + timed["usage_events"] / prior["usage_events"]) / 2
    assert partial["app_logs"] == pytest.approx(prior["app_logs"] * scale)


def test_format_cost_tells_gzip_text_from_plain():
    from configs.catalog import Dataset
    from transforms.planning import format_cost

    def ds(fmt, files=None):
        return Dataset.model_validate({"category": "log", "location": "x", "format": fmt, "files": files,
                                       "columns": {"a": {"kind": "other", "op": "keep"}}})

    assert format_cost(ds("jsonl", "a-{dt}.jsonl.gz")) > 3 * format_cost(ds("jsonl", "a-{dt}.jsonl"))
    assert format_cost(ds("csv", "a-{dt}.csv.gz")) > format_cost(ds("delta")) > format_cost(ds("parquet"))


def test_worker_processes_inherit_this_processes_api(prefect_harness, monkeypatch):
    """Processes started after ``share_api_with_workers`` (Dask workers, process pools) find the API this process
    uses in their environment, instead of each starting an ephemeral server of its own."""
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    from flows.runtime import share_api_with_workers

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    url = share_api_with_workers()
    assert url == PREFECT_API_URL.value() and url.startswith("http")
    child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('PREFECT_API_URL'))"],
                           capture_output=True, text=True, check=True)
    assert child.stdout.strip() == url


def test_direct_runs_send_no_heartbeats(prefect_harness):
    """Flows the CLI runs itself send no heartbeats (whose thread rounds each run up to a whole second); deployment
    runs keep Prefect's setting."""
    from prefect import flow
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

    from flows.cli import FLOW_COMMANDS, app
    from flows.runtime import direct_run_settings

    @flow
    def probe() -> int | None:
        return get_current_settings().flows.heartbeat_frequency

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 180}):
        assert probe() == 180
        with direct_run_settings():
            assert probe() is None
    assert FLOW_COMMANDS <= {c.name or c.callback.__name__ for c in app.registered_commands}


@pytest.mark.slow
def test_release_tasks_carry_the_storage_tag_only_when_a_limit_exists(pristine, tmp_path, prefect_harness):
    """Without a concurrency limit on ``piiflow-storage`` the release tasks are untagged (a tagged task asks the API
    for a slot before it starts, limit or not); with one, every release task carries the tag, so the limit holds."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.deidentify import deidentify_flow
    from flows.runtime import STORAGE_TAG, storage_tags

    def task_tags(flow_run_id, expected: int = 16) -> list[set[str]]:
        """The tags of the run's task runs (the server records them from events: wait until all are in)."""
        deadline = time.monotonic() + 30
        with get_client(sync_client=True) as client:
            while True:
                runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
                if len(runs) >= expected or time.monotonic() > deadline:
                    return [set(r.tags) for r in runs]
                time.sleep(0.2)

    cat = fresh(pristine, tmp_path)
    assert storage_tags() == []
    untagged = deidentify_flow(str(cat), "crm_research", return_state=True)
    tags = task_tags(untagged.state_details.flow_run_id)
    assert len(tags) == 16 and all(STORAGE_TAG not in t for t in tags)
    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=STORAGE_TAG, concurrency_limit=2)
        try:
            assert storage_tags() == [STORAGE_TAG]
            tagged = deidentify_flow(str(cat), "crm_research", force=True, return_state=True)
            assert tagged.is_completed()
            tags = task_tags(tagged.state_details.flow_run_id)
            assert len(tags) == 16 and all(STORAGE_TAG in t for t in tags)
        finally:
            client.delete_concurrency_limit_by_tag(STORAGE_TAG)
    assert storage_tags() == []


def test_forget_texts_empties_the_engines_memory_not_the_engine():
    """Benchmarks make long-lived workers forget the texts they analysed (a backfill meets a month it has not
    seen); the engine stays built and finds the same."""
    from configs.settings import Settings
    from flows import runtime
    from transforms.recognizers.base import jieba_words

    engine = runtime.analyzer_for(Settings())
    text = "张伟的手机号是13812345678，住在北京市朝阳区"
    before = engine.findings(text)
    assert engine._cached.cache_info().currsize >= 1 and jieba_words.cache_info().currsize >= 1
    runtime.forget_texts()
    assert engine._cached.cache_info().currsize == 0 and jieba_words.cache_info().currsize == 0
    assert runtime.analyzer_for(Settings()) is engine and engine.findings(text) == before


def test_a_hung_release_times_out_publishes_nothing_and_frees_the_lock(pristine, tmp_path, prefect_harness,
                                                                       monkeypatch):
    """PIIFLOW_RUN_TIMEOUT_SECONDS: a run stuck on storage fails once its time is up. Partitions already being read
    finish (a thread cannot be interrupted), those still queued never start, nothing is published, and the lake's
    lock is released, so the next run goes ahead."""
    import flows.deidentify as d
    from configs.settings import Settings
    from flows.runtime import configured

    cat = fresh(pristine, tmp_path)
    real = d.release_partition
    started, finished = [], []

    def stuck(*args, **kwargs):
        started.append(1)
        time.sleep(3)  # a read hanging on storage
        try:
            return real(*args, **kwargs)
        finally:
            finished.append(1)

    monkeypatch.setattr(d, "release_partition", stuck)
    state = configured(d.deidentify_flow, Settings(run_timeout_seconds=1))(str(cat), "crm_research",
                                                                           return_state=True)
    assert state.is_failed() and state.name == "TimedOut"
    assert len(started) < 16  # the partitions still queued when the time was up never started
    deadline = time.monotonic() + 30
    while len(finished) < len(started) and time.monotonic() < deadline:
        time.sleep(0.1)
    monkeypatch.setattr(d, "release_partition", real)
    releases = cat.parent / "releases" / "crm_research"
    assert not list(releases.glob("_meta/*/dt=*/manifest.json"))  # staged at most (state/staging/), never published
    assert d.deidentify_flow(str(cat), "crm_research")["published"] == 16
    assert len(list(releases.glob("_meta/*/dt=*/manifest.json"))) == 16 and not list((cat.parent / "state" / "staging" / "crm_research").glob("*"))


def test_commands_and_deployments_carry_the_run_timeout(monkeypatch):
    from flows.deployments import deployments
    from flows.nightly import nightly_flow
    from flows.runtime import RUN_TIMEOUT_SECONDS, configured

    assert nightly_flow.timeout_seconds == RUN_TIMEOUT_SECONDS == 6 * 3600
    monkeypatch.setenv("PIIFLOW_RUN_TIMEOUT_SECONDS", "600")
    assert configured(nightly_flow, Settings()).timeout_seconds == 600
    deps = deployments("/etc/piiflow/catalog.yaml", Settings())
    assert {d.name: d.job_variables for d in deps}  # still buildable


def test_a_day_with_fewer_rows_than_k_is_released_empty(pristine, tmp_path, prefect_harness):
    """A day with fewer rows than k (a quiet day, the rest of a day partly past retention) cannot release any row:
    it is published empty and reported, instead of blocking the whole release; re-done alone, the same. A k that
    leaves every partition empty still blocks (tests/test_release_gate.py)."""
    from flows.deidentify import deidentify_flow
    from flows.storage import storage_for

    cat = fresh(pristine, tmp_path)
    store = storage_for(load_catalog(cat), "call_records")
    part = store.list_partitions()[2]
    store.replace_file(part.paths[0], store.read(part).slice(0, 3))  # 3 rows left; the release's k is 5
    res = deidentify_flow(str(cat), "crm_research")
    assert res["blocked"] == 0 and res["published"] == 16
    tiny = next(p for p in res["partitions"] if p["dataset"] == "call_records" and p["dt"] == part.dt.isoformat())
    assert (tiny["rows_in"], tiny["rows_out"], tiny["suppressed"]) == (3, 0, 3)
    manifest = json.loads((meta_of(tiny["path"]) / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rows"] == {"in": 3, "out": 0, "suppressed": 3} and manifest["gate"]["k_anonymity"][
        "fewer_rows_than_k"]
    assert "released empty" in (meta_of(tiny["path"]) / "report.md").read_text(encoding="utf-8")
    store.replace_file(part.paths[0], store.read(part).slice(0, 2))  # only that day changes again
    again = deidentify_flow(str(cat), "crm_research")
    assert (again["published"], again["skipped"], again["blocked"]) == (1, 15, 0)


def test_every_deployment_runs_a_flow_that_takes_its_parameters():
    """prefect.yaml's entrypoints load, and each flow accepts the parameters its deployment declares (a deployment
    of a right, correction and exposure included, cannot drift from its flow)."""
    import importlib

    import yaml

    for dep in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]:
        module, name = dep["entrypoint"].split(":")
        flow = getattr(importlib.import_module(module[:-3].replace("/", ".")), name)
        accepted = set(flow.parameters.properties)
        assert set(dep.get("parameters") or {}) <= accepted, dep["name"]
    names = {d["name"] for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
    assert {"erasure", "objection", "withdrawal", "correction", "exposure", "requests-due"} <= names
