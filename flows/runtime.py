"""Process-wide runtime: Prefect's environment defaults, settings, the detection engine (one per process)
and the pseudonymisation key. Called when a command or test starts, never at import time."""

from __future__ import annotations

import logging
import os
import secrets
import threading
from contextlib import contextmanager
from pathlib import Path

from configs.settings import Settings


def configure_prefect_env(home: Path | None = None) -> None:
    """Offline, quiet defaults for Prefect; values the user has set win. Must run before ``import prefect``.
    Prefect's local database goes to ``home``, by default ``./.prefect`` under the working directory."""
    env = os.environ
    env.setdefault("PREFECT_HOME", str(home or Path.cwd() / ".prefect"))
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no telemetry: the server's ...
    env.setdefault("DO_NOT_TRACK", "1")  # ... nor the client's (nor its first-run notice)
    env.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    env.setdefault("PREFECT_UI_ENABLED", "false")
    env.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
    # The embedded server's services log "Error flushing ... CancelledError" when a short command stops them at
    # exit: not the user's news on a run that succeeded. (A real `prefect server start` keeps its own level.)
    env.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    # tldextract (pulled in by presidio) must never fetch the public suffix list at run time.
    env.setdefault("TLDEXTRACT_CACHE", str(Path(env["PREFECT_HOME"]) / "tldextract"))


def use_jemalloc() -> None:
    """Arrow's jemalloc pool for this process's Arrow buffers (unless ``ARROW_DEFAULT_MEMORY_POOL`` names one).

    On these machines (2-core VMs) de-identifying a 1,000,000-row partition took 2.8-4.1 s with Arrow's default pool
    (mimalloc) against 1.5-1.8 s with jemalloc, at the same peak memory (``bench/bench_deidentify.py``, five runs
    each, alternating): mimalloc hands freed pages back to the system and each new table faults them in again."""
    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL") or pa.default_memory_pool().backend_name == "jemalloc":
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # a pyarrow built without jemalloc: keep its default
        pass


@contextmanager
def direct_run_settings():
    """Prefect settings for flows called directly (the command line, benchmarks) rather than run from a deployment:
    no flow-run heartbeats. Heartbeats let a server's automations detect deployment runs that died; a direct run
    has nobody watching for them, and stopping the heartbeat thread, which sleeps in one-second steps, rounds
    every flow run up to the next whole second (half a second lost on average, more than many runs take)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


class _QuietDomainErrors(logging.Filter):
    """For the CLI: drop Prefect's console record of a flow's or task's exception (a blocked gate, a bad catalog, a
    full disk), whose one-line reason the CLI prints itself; a traceback could carry a value from the data.
    ``PIIFLOW_DEBUG=1`` keeps them; deployed flows keep them all."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.exc_info is None or bool(os.environ.get("PIIFLOW_DEBUG"))


def quiet_domain_errors() -> None:
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_QuietDomainErrors())
    # Prefect's event worker says it is still flushing when a short command exits; that is not the user's news.
    logging.getLogger("EventsWorker").setLevel(logging.ERROR)


def transient_io_error(task, task_run, state) -> bool:
    """Prefect retry condition: retry only what can fail transiently (I/O errors that are not piiflow's own
    verdicts: a blocked gate or a bad catalog never improves on retry)."""
    from configs.errors import PiiflowError

    try:
        state.result()
    except PiiflowError:
        return False
    except (OSError, TimeoutError):
        return True
    except Exception:  # noqa: BLE001
        return False
    return False


#: The tag by which an operator caps release tasks' storage I/O: ``prefect concurrency-limit create piiflow-storage N``.
STORAGE_TAG = "piiflow-storage"


def storage_tags() -> list[str]:
    """``[STORAGE_TAG]`` when the Prefect API has a concurrency limit on that tag, else ``[]``; asked once per run.

    A task run that carries any tag asks the API for a slot on it before it starts, limit or not, and on the local
    SQLite server that request waited 1.8-5.7 s behind the other tasks' writes in about one task in nine (a Dask
    backfill's 2-worker run took 4.0-7.9 s instead of 2.9-3.0 s). So release tasks carry the tag only when there is
    a limit for it to enforce. A limit created while a run is going takes effect from the next run."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(f"tag:{STORAGE_TAG}")  # v1 tag limits are v2 "tag:" limits
        except ObjectNotFound:
            return []
    return [STORAGE_TAG]


def share_api_with_workers() -> str:
    """Make worker processes started from now on (Dask workers, process pools) report to this process's Prefect
    API: the configured server, or this process's ephemeral one, started now. Without it every worker process,
    finding no ``PREFECT_API_URL``, starts an ephemeral server of its own: seconds of start-up per worker, task runs
    recorded where nobody looks. Returns the API URL."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        server.start()
        url = server.api_url
    os.environ["PREFECT_API_URL"] = url
    return url


def check_task_runner(settings: Settings) -> None:
    """Refuse, before anything starts, a Dask cluster at ``dask_address`` without a Prefect server: its workers run
    in other processes, perhaps on other machines, and could only report task runs to a server of their own (an
    ephemeral one each, which outlives them). Start ``prefect server start`` and set ``PREFECT_API_URL`` here and
    in the workers' environment."""
    from configs.errors import PolicyError
    from flows import prefect_api

    if settings.task_runner == "dask" and settings.dask_address and not prefect_api.shared():
        raise PolicyError("PIIFLOW_DASK_ADDRESS: a Dask cluster's workers need a Prefect server they can reach; start "
                          "one (prefect server start) and set PREFECT_API_URL here and in the workers' environment")


def check_dask_workers(address: str, api_url: str, timeout: float = 10, lake_root: Path | None = None) -> int:
    """The number of workers at ``address``; raises PolicyError unless there is one and every one reports to
    ``api_url`` (the workers' ``PREFECT_API_URL``), so that no worker starts a Prefect server of its own, and, for a
    lake in a local folder (``lake_root``), every worker sees that folder as this process does: the folder itself,
    and the lake's key record (``state/key.json``) with the same bytes when there is one. A worker on another
    machine needs the lake mounted at the same path (an object store needs nothing of the kind)."""
    from distributed import Client

    from configs.errors import PolicyError

    root = str(lake_root) if lake_root is not None else None
    record = Path(root, "state", "key.json") if root else None
    expected = record.read_bytes() if record is not None and record.is_file() else None
    try:
        with Client(address, timeout=timeout) as client:
            urls = client.run(lambda: os.environ.get("PREFECT_API_URL"))
            seen = client.run(_sees_lake, root, expected is not None) if root else {}
    except OSError as e:
        raise PolicyError(f"PIIFLOW_DASK_ADDRESS: cannot reach the Dask scheduler ({type(e).__name__})") from e
    if not urls:
        raise PolicyError("PIIFLOW_DASK_ADDRESS: the Dask scheduler has no workers")
    wrong = sum(1 for u in urls.values() if u != api_url)
    if wrong:
        raise PolicyError(f"PIIFLOW_DASK_ADDRESS: {wrong} of {len(urls)} Dask worker(s) do not report to this "
                          f"run's Prefect server; start them with PREFECT_API_URL={api_url}")
    blind = sum(1 for s in seen.values() if s is False or (expected is not None and s != expected))
    if blind:
        raise PolicyError(f"PIIFLOW_DASK_ADDRESS: {blind} of {len(seen)} Dask worker(s) cannot see the lake's folder "
                          f"{root} as this machine does; mount it at the same path on every worker, or keep the "
                          "lake in an object store")
    return len(urls)


def _sees_lake(root: str, record: bool):
    """Run on a Dask worker: False when ``root`` is not a folder there, else the key record's bytes (``record``)
    or True."""
    folder = Path(root)
    if not folder.is_dir():
        return False
    if not record:
        return True
    try:
        return (folder / "state" / "key.json").read_bytes()
    except OSError:
        return False


def task_runner_for(settings: Settings, catalog=None):
    """The task runner settings ask for: threads (default), processes, or Dask (a local cluster of
    ``max_workers`` single-threaded workers, or the scheduler at ``dask_address``, whose workers must see the
    ``catalog``'s lake when it is a local folder). The one wiring place. Worker processes share this process's Prefect API
    (:func:`share_api_with_workers`)."""
    check_task_runner(settings)
    if settings.task_runner in ("dask", "processes"):
        url = share_api_with_workers()
    if settings.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if settings.dask_address:
            root = catalog.lake.root if catalog is not None and isinstance(catalog.lake.root, Path) else None
            check_dask_workers(settings.dask_address, url, lake_root=root)
            return DaskTaskRunner(address=settings.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": settings.max_workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None,
                                              "preload": ["flows.dask_preload"]})
    if settings.task_runner == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=settings.max_workers)
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=settings.max_workers)


_ENGINES: dict = {}
_ENGINES_LOCK = threading.Lock()


def analyzer_for(settings: Settings, *, release: bool = False):
    """The detection engine for these settings, built once per process: concurrent tasks (threads) wait for the
    first to build it and share it, with its memory of texts already seen. ``release`` gives the recall-first
    engine (``release_score_threshold``) that redacts and re-scans releases; otherwise the balanced one
    (``score_threshold``)."""
    threshold = settings.release_score_threshold if release else settings.score_threshold
    key = (settings.ner_model, threshold)
    engine = _ENGINES.get(key)
    if engine is None:
        with _ENGINES_LOCK:
            engine = _ENGINES.get(key)
            if engine is None:
                from transforms.detection import build_analyzer

                engine = _ENGINES[key] = build_analyzer(settings, threshold=threshold)
    return engine


def forget_texts() -> None:
    """Empty this process's memory of texts already analysed (each engine's findings, jieba's segmentations); the
    engines stay built. A process is then as one meeting data it has not seen: benchmarks call it on long-lived
    workers between timed runs, which would otherwise re-analyse nothing."""
    from transforms.recognizers.base import jieba_words
    from transforms.recognizers.person_recognizer import chinese_name_candidates

    for engine in list(_ENGINES.values()):
        engine.forget_texts()
    jieba_words.cache_clear()
    chinese_name_candidates.cache_clear()


#: The flows' own default run timeout (deployments from ``prefect.yaml``); commands and ``serve`` apply the setting.
RUN_TIMEOUT_SECONDS: float = Settings.model_fields["run_timeout_seconds"].default


def configured(flow_, settings: Settings, **options):
    """``flow_`` with the run timeout of ``settings`` (``PIIFLOW_RUN_TIMEOUT_SECONDS``) and any other options."""
    return flow_.with_options(timeout_seconds=settings.run_timeout_seconds, **options)


def ensure_demo_key(path: Path) -> Path:
    """Create a random local key file (mode 600) if there is none; return its path."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path
