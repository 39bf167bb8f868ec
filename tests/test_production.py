"""docs/production.md's "Run it in production", done as an engineer does it, with real processes on 127.0.0.1: a
`prefect server start` with its own PREFECT_HOME, a process work pool, `prefect deploy --all` from prefect.yaml, a
worker, the nightly and a backfill run through the API with parameters; `piiflow serve` beside the work pool's
deployments (which it must leave as they were); a release on a `dask scheduler` + `dask worker` pair. Everything
started here is stopped here."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from tests.helpers import ROOT, make_lake, upload_lake

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(p: subprocess.Popen) -> None:
    """Stop a process and the processes it started (each is started in a session of its own)."""
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def start(args: list[str], env: dict, log: Path, cwd: Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real Prefect server on 127.0.0.1 with its own home; yields (api_url, env for its clients)."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": url, "DO_NOT_TRACK": "1",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
           "PREFECT_LOGGING_LEVEL": "INFO", "PIIFLOW_PROJECT_DIR": str(ROOT), "PYTHONPATH": str(ROOT),
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5"}
    for k in ("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "PREFECT_SERVER_LOGGING_LEVEL"):
        env.pop(k, None)
    p = start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
              {k: v for k, v in env.items() if k != "PREFECT_API_URL"}, home / "server.log")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert p.poll() is None and time.monotonic() < deadline, (home / "server.log").read_text()[-2000:]
            time.sleep(0.5)
        yield url, env
    finally:
        stop(p)


def client_for(url: str):
    from prefect.client.orchestration import SyncPrefectClient

    return SyncPrefectClient(url)


def prefect(env: dict, *args: str) -> subprocess.CompletedProcess:
    p = subprocess.run([str(BIN / "prefect"), "--no-prompt", *args], env=env, cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture(scope="module")
def deployed(server, tmp_path_factory):
    """The work pool, `prefect deploy --all`, a worker, and a lake for the runs."""
    url, env = server
    lake = tmp_path_factory.mktemp("prod-lake")
    make_lake(lake, rows=1200, start=date(2026, 8, 1), end=date(2026, 8, 4), seed=9)
    prefect(env, "work-pool", "create", "piiflow", "--type", "process")
    prefect(env, "deploy", "--all")
    worker_env = {**env, "PIIFLOW_KEY": "prod-test-key-0123456789-abcdefghijklmnopq"}
    worker = start([str(BIN / "prefect"), "worker", "start", "--pool", "piiflow"], worker_env,
                   lake.parent / "worker.log")
    try:
        yield url, env, lake / "catalog.yaml"
    finally:
        stop(worker)


def run_and_wait(client, name: str, parameters: dict, timeout: float = 300):
    """Start a deployment's run with ``parameters`` and wait for it to end; the flow run."""
    dep = client.read_deployment_by_name(name)
    run = client.create_flow_run_from_deployment(dep.id, parameters=parameters)
    deadline = time.monotonic() + timeout
    while True:
        run = client.read_flow_run(run.id)
        if run.state is not None and run.state.is_final():
            return run
        assert time.monotonic() < deadline, f"{name}: still {run.state.name if run.state else None}"
        time.sleep(1)


def test_deploy_work_pool_worker_nightly_and_backfill(deployed):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentFlowRunId

    url, env, catalog = deployed
    with client_for(url) as client:
        names = {f"{client.read_flow(d.flow_id).name}/{d.name}" for d in client.read_deployments()}
        assert {"nightly/nightly", "scan/weekly-full-scan", "deidentify/backfill", "erase/erasure",
                "consent/objection", "consent/withdrawal"} <= names
        # scheduled runs show their schedule by name (its slug) until they start and name themselves
        assert [s.slug for s in client.read_deployment_by_name("nightly/nightly").schedules] == [
            "nightly-0200-asia-shanghai"]

        nightly = run_and_wait(client, "nightly/nightly", {"catalog_path": str(catalog)})
        assert nightly.state.is_completed(), nightly.state
        # and a nightly names the scheduled ones as they will name themselves (not the scheduler's random words)
        from prefect.client.schemas.filters import FlowRunFilterDeploymentId, FlowRunFilterState, FlowRunFilterStateType

        dep = client.read_deployment_by_name("nightly/nightly")
        scheduled = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[dep.id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=["SCHEDULED"]))))
        assert scheduled and all(
            r.name == f"nightly-demo-{r.expected_start_time.astimezone().date().isoformat()}-{str(r.id)[:8]}"
            for r in scheduled), [r.name for r in scheduled]
        assert nightly.name.startswith(f"nightly-{catalog.parent.name}-{date.today().isoformat()}-")
        subflows = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[nightly.id])))
        sub_names = {r.name for r in subflows}
        assert {"purge-execute-as-of-now", "scan-all-datasets-changed", "release-analytics-all-dates",
                "release-crm_research-all-dates"} <= sub_names, sub_names
        assert all(r.state.is_completed() for r in subflows)
        keys = {a.key for a in client.read_artifacts()}
        assert {"nightly-summary", "pii-inventory", "release-analytics", "release-crm-research"} <= keys

        backfill = run_and_wait(client, "deidentify/backfill", {
            "catalog_path": str(catalog), "release": "crm_research", "start": "2026-08-02", "end": "2026-08-03",
            "force": True})
        assert backfill.state.is_completed(), backfill.state
        assert backfill.name == "release-crm_research-2026-08-02..2026-08-03-forced"
        result_tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[backfill.id])))
        assert {t.name for t in result_tasks if t.name.startswith("crm_research: ")} == {
            f"crm_research: {ds} {d}" for ds in ("call_records", "chat_messages")
            for d in ("2026-08-02", "2026-08-03")}
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
        deadline = time.monotonic() + 60
        while True:  # a run's logs reach the API in batches, some after its final state
            lines = [x.message for x in client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[backfill.id])))]
            if sum(" published (forced); " in m for m in lines) >= 4 or time.monotonic() > deadline:
                break  # (the flow's "Finished" line may come before its tasks' lines)
            time.sleep(1)
        assert sum(" published (forced); " in m for m in lines) == 4, "\n".join(lines)

        # an objection recorded from the deployment, with its parameters: named, completed, its receipt written
        import pyarrow.parquet as pq
        subject = pq.read_table(next((catalog.parent / "raw" / "registration").rglob("*.parquet"))).column(
            "user_id")[0].as_py()
        ids = catalog.parent / "objection.txt"
        ids.write_text(subject + "\n", encoding="utf-8")
        objection = run_and_wait(client, "consent/objection", {
            "catalog_path": str(catalog), "subjects_file": str(ids), "purposes": ["marketing"], "execute": True})
        assert objection.state.is_completed(), objection.state
        assert objection.name == "objection-marketing-execute"
        assert len(list((catalog.parent / "state" / "consent" / "receipts").glob("*.json"))) == 1


def test_two_nightlies_at_once_one_runs_the_other_is_cancelled_never_failed(deployed):
    """`prefect deployment run nightly/nightly` twice: the deployment's concurrency limit (prefect.yaml) lets one run
    and cancels the other; neither is Failed, and their names differ."""
    url, env, catalog = deployed
    with client_for(url) as client:
        dep = client.read_deployment_by_name("nightly/nightly")
        assert dep.global_concurrency_limit is not None and dep.global_concurrency_limit.limit == 1
        runs = [client.create_flow_run_from_deployment(dep.id, parameters={"catalog_path": str(catalog)})
                for _ in range(2)]
        deadline = time.monotonic() + 300
        while True:
            runs = [client.read_flow_run(r.id) for r in runs]
            if all(r.state is not None and r.state.is_final() for r in runs):
                break
            assert time.monotonic() < deadline, [r.state.name for r in runs]
            time.sleep(1)
        assert sorted(r.state.type.value for r in runs) == ["CANCELLED", "COMPLETED"], [r.state for r in runs]


def test_no_run_parameter_carries_the_master_key(deployed, tmp_path):
    """A key given as a run's parameter is refused by the server before the run exists (the settings' parameter
    schema has no `key` and admits no unknown field); no stored run's parameters hold the worker's key; a key held
    in a Prefect Secret block is read from it."""
    url, env, catalog = deployed
    secret = "param-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    tried = subprocess.run([str(BIN / "prefect"), "--no-prompt", "deployment", "run", "nightly/nightly", "--param",
                            f'settings={{"key": "{secret}"}}'], env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert tried.returncode != 0, tried.stdout
    with client_for(url) as client:
        dep = client.read_deployment_by_name("nightly/nightly")
        import httpx as _httpx
        with pytest.raises(_httpx.HTTPStatusError):
            client.create_flow_run_from_deployment(dep.id, parameters={"catalog_path": str(catalog),
                                                                       "settings": {"key": secret}})
        stored = json.dumps([r.parameters for r in client.read_flow_runs()])
    assert secret not in stored and "prod-test-key-0123456789" not in stored
    # the Secret block route: the key never in the environment nor a parameter
    script = ("from prefect.blocks.system import Secret\n"
              f"Secret(value={secret!r}).save('piiflow-master', overwrite=True)\n"
              "from configs.settings import Settings\n"
              "assert Settings(key_block='piiflow-master').master_key() == " + repr(secret.encode()) + "\n"
              "print('ok')\n")
    block_env = {k: v for k, v in env.items() if k not in ("PIIFLOW_KEY", "PIIFLOW_KEY_FILE")}
    out = subprocess.run([sys.executable, "-c", script], env=block_env, cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]


def test_a_command_finds_a_running_local_server_and_records_its_run_there(deployed, tmp_path):
    """Without PREFECT_API_URL, a command uses the server answering at PIIFLOW_LOCAL_PREFECT (by default where
    `prefect server start` listens), says so in one line on stderr, and its run is in that server; with the
    setting off it runs on its own embedded server, which is gone when the command ends."""
    url, env, catalog = deployed
    own = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    own.update(PIIFLOW_KEY="prod-test-key-0123456789-abcdefghijklmnopq", PIIFLOW_LOCAL_PREFECT=url,
               PREFECT_HOME=str(tmp_path / "cli-home"))
    p = subprocess.run([str(BIN / "piiflow"), "purge", "-c", str(catalog), "--json"], env=own, cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert f"runs are recorded in the Prefect server at {url} (found running)" in p.stderr
    with client_for(url) as client:
        plans = [r.name for r in client.read_flow_runs() if r.name.startswith("purge-plan-")]
    assert len(plans) == 1, plans
    p = subprocess.run([str(BIN / "piiflow"), "purge", "-c", str(catalog), "--json"],
                       env={**own, "PIIFLOW_LOCAL_PREFECT": "off"}, cwd=tmp_path, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0 and "found running" not in p.stderr, p.stderr[-2000:]
    assert json.loads(p.stdout)["executed"] is False
    with client_for(url) as client:  # the second run went to its own server
        assert [r.name for r in client.read_flow_runs() if r.name.startswith("purge-plan-")] == plans


def test_audit_verify_checks_the_last_runs_artifact_on_the_server(deployed):
    """With a Prefect server configured, `piiflow audit verify` also checks the head the lake's last run reported as
    an artifact: a log cut at its end whose head and anchor were rewritten to match (an attacker who reached the
    anchor folder too) still fails."""
    import json

    from configs.catalog import load_catalog
    from configs.settings import Settings
    from flows.audit import anchor_path

    url, env, catalog = deployed
    key_env = {**env, "PIIFLOW_KEY": "prod-test-key-0123456789-abcdefghijklmnopq"}
    with client_for(url) as client:
        assert run_and_wait(client, "nightly/nightly", {"catalog_path": str(catalog)}).state.is_completed()

    def verify() -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "piiflow"), "audit", "verify", "-c", str(catalog)], env=key_env,
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    ok = verify()
    assert ok.returncode == 0 and "audit-head artifact" in ok.stdout, ok.stdout + ok.stderr
    log, head_file = catalog.parent / "state" / "audit.jsonl", catalog.parent / "state" / "audit.head"
    anchor = anchor_path(load_catalog(catalog), Settings())
    kept = {p: p.read_bytes() for p in (log, head_file, anchor)}
    lines = log.read_text().splitlines(keepends=True)
    cut = lines[:-2]
    last = json.loads(cut[-1])
    head = json.dumps({"seq": last["seq"], "hash": last["hash"]})
    log.write_text("".join(cut))
    head_file.write_text(head)
    anchor.write_text(json.dumps({**json.loads(anchor.read_text()), "seq": last["seq"], "hash": last["hash"]}))
    bad = verify()
    assert bad.returncode == 1 and "audit-head artifact in Prefect records entry" in bad.stderr, bad.stderr
    for p, data in kept.items():  # put back what the other tests of this lake expect
        p.write_bytes(data)


def test_serve_leaves_the_work_pools_deployments_as_they_were(deployed, tmp_path):
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )

    url, env, catalog = deployed
    serve_env = {**env, "PIIFLOW_KEY": "prod-test-key-0123456789-abcdefghijklmnopq"}
    # the work pool runs the nightly on a schedule: serving it too would run it twice a night; refused, naming it
    twice = subprocess.run([str(BIN / "piiflow"), "serve", "-c", str(catalog)], env=serve_env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert twice.returncode == 1 and "already runs 'nightly/nightly' on a schedule" in twice.stderr, twice.stderr
    with client_for(url) as client:
        # paused there (a migration to serving), serving may start, and must leave them as they are
        for n in ("nightly/nightly", "scan/weekly-full-scan"):
            client.pause_deployment(client.read_deployment_by_name(n).id)
        before = {n: client.read_deployment_by_name(n) for n in ("nightly/nightly", "scan/weekly-full-scan")}
    log = tmp_path / "serve.log"
    served = subprocess.Popen([str(BIN / "piiflow"), "serve", "-c", str(catalog), "--json"], env=serve_env,
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
                              start_new_session=True)
    try:
        line = served.stdout.readline()
        announced = json.loads(line)
        assert {s["deployment"] for s in announced["serving"]} == {"nightly/nightly-served",
                                                                    "scan/weekly-full-scan-served"}
        assert announced["api"] == url
        deadline = time.monotonic() + 60
        with client_for(url) as client:
            while True:  # served deployments registered
                try:
                    client.read_deployment_by_name("nightly/nightly-served")
                    break
                except Exception:  # noqa: BLE001
                    assert time.monotonic() < deadline and served.poll() is None, log.read_text()
                    time.sleep(0.5)
    finally:
        served.send_signal(signal.SIGINT)
        try:
            served.wait(60)
        except subprocess.TimeoutExpired:
            stop(served)
    with client_for(url) as client:
        after = {n: client.read_deployment_by_name(n) for n in before}
        for n in before:
            # byte for byte, but for when the worker last polled for its runs (it polls every few seconds)
            assert after[n].model_dump_json(exclude={"last_polled"}) == before[n].model_dump_json(
                exclude={"last_polled"}), n
            assert after[n].paused and after[n].schedules
            client.resume_deployment(after[n].id)
        deadline = time.monotonic() + 60
        while True:  # resumed, the scheduler gives the work pool's nightly its runs again
            scheduled = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[after["nightly/nightly"].id])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    name=FlowRunFilterStateName(any_=["Scheduled"]))))
            if scheduled or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert scheduled, "the work pool's nightly has no scheduled run left"
        # a deployment of a served name that a work pool holds: serving refuses, in one line, and changes nothing
        from prefect.client.schemas.actions import DeploymentCreate  # noqa: F401  (the API the CLI uses)
        pool_dep = after["nightly/nightly"]
        taken = client.create_deployment(flow_id=pool_dep.flow_id, name="nightly-served",
                                         work_pool_name="piiflow", entrypoint=pool_dep.entrypoint,
                                         parameters={"catalog_path": "elsewhere.yaml"})
        refused = subprocess.run([str(BIN / "piiflow"), "serve", "-c", str(catalog)], env=serve_env, cwd=tmp_path,
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode == 1 and "work pool 'piiflow'" in refused.stderr, refused.stderr
        assert client.read_deployment(taken).parameters == {"catalog_path": "elsewhere.yaml"}
        client.delete_deployment(taken)


def _release_rows(cat_path, release: str) -> dict[str, list]:
    """A release's published rows by lake-relative file, read through the storage layer (either backend)."""
    from configs.catalog import load_catalog
    from flows.storage import lake_fs

    cat = load_catalog(cat_path)
    fs = lake_fs(cat)
    return {fs.rel(p): fs.read_parquet(p).to_pylist() for p in fs.walk_files(cat.release_path(release))
            if p.name.endswith(".parquet") and "/_" not in fs.rel(p)}


def test_a_release_on_a_dask_scheduler_and_worker(server, tmp_path, monkeypatch, s3):
    """The release on a real `dask scheduler` + `dask worker` that share no disk with the flow: the worker has its own
    working directory and temporary folder and reaches the lake (on the S3 server) only through its URI. The
    release equals the thread runner's on a local copy of the same lake, its task runs reach the server, and the
    worker's disk holds no lake data afterwards; a cluster whose workers report elsewhere is refused."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from configs.errors import PolicyError
    from configs.settings import Settings
    from flows.deidentify import deidentify_flow
    from flows.runtime import check_dask_workers, task_runner_for

    url, env = server
    lake_a, lake_b = tmp_path / "a", tmp_path / "b"
    for lake in (lake_a, lake_b):
        make_lake(lake, rows=1200, start=date(2026, 8, 1), end=date(2026, 8, 3), seed=21)
    cat_b = upload_lake(lake_b, s3, s3.bucket(), "lake", tmp_path / "b-s3")
    shutil.rmtree(lake_b)  # the flow's copy of lake b is gone: only the bucket has it
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    sched = start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                  env, tmp_path / "scheduler.log", cwd=tmp_path)
    (tmp_path / "w" / "tmp").mkdir(parents=True)
    worker = start([str(BIN / "dask"), "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard",
                    "--preload", "flows.dask_preload", "--local-directory", str(tmp_path / "w")],
                   {**env, "PIIFLOW_KEY": os.environ["PIIFLOW_KEY"], **s3.env, "TMPDIR": str(tmp_path / "w" / "tmp")},
                   tmp_path / "worker.log", cwd=tmp_path / "w")
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if check_dask_workers(address, url, timeout=5) == 1:
                    break
            except PolicyError:
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
                time.sleep(1)
        with pytest.raises(PolicyError, match="do not report to this run's Prefect server"):
            check_dask_workers(address, "http://127.0.0.1:1/api")
        # a local lake: the worker (same machine) sees lake a's folder, and is refused a folder it cannot see
        assert check_dask_workers(address, url, lake_root=lake_a) == 1
        with pytest.raises(PolicyError, match="1 of 1 Dask worker.s. cannot see the lake's folder"):
            check_dask_workers(address, url, lake_root=tmp_path / "elsewhere")
        monkeypatch.setenv("PREFECT_API_URL", url)
        with temporary_settings(updates={PREFECT_API_URL: url}):
            deidentify_flow(str(lake_a / "catalog.yaml"), "crm_research")
            runner = task_runner_for(Settings(task_runner="dask", dask_address=address))
            state = deidentify_flow.with_options(task_runner=runner)(str(cat_b), "crm_research", return_state=True)
            res = state.result()
            with client_for(url) as client:
                from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
                runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=[state.state_details.flow_run_id])))
            # logs and events of these runs go to this module's server: sent before it stops, so that no queue is
            # left waiting on a server that is gone (a later harness would wait for it at its teardown)
            from prefect.events.worker import EventsWorker
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=60, at_exit=False)
            EventsWorker.drain_all(timeout=60, at_exit=False)
        assert res["published"] == 6 and res["blocked"] == 0
        assert _release_rows(lake_a / "catalog.yaml", "crm_research") == _release_rows(cat_b, "crm_research")
        assert not [p for p in (tmp_path / "w").rglob("*") if p.suffix in (".parquet", ".gz", ".jsonl", ".json")]
        assert runs and all(r.state is not None and r.state.is_completed() for r in runs)
    finally:
        stop(worker)
        stop(sched)
