"""The Prefect API a command's flow runs report to, ready as early as possible.

Measured on the demo lake (``piiflow purge``, a plan): 13 s wall with Prefect's embedded server as Prefect starts it
(the client first imports the whole server, about 2.5 s, then starts it in a subprocess and waits, about 6 s, both
after the command has imported its flows) against 3.3 s with a server already running. So, in order:

1. ``PREFECT_API_URL`` set (in the environment or the active Prefect profile): that server, as Prefect would.
2. A server answering at ``PIIFLOW_LOCAL_PREFECT`` (default ``http://127.0.0.1:4200/api``, where
   ``prefect server start`` listens): that one. Runs are then recorded where the UI shows them. ``off`` disables it.
3. Otherwise the embedded server, started the way Prefect starts it (``uvicorn`` with Prefect's app factory, the UI
   off, this process's Prefect home and database) but as soon as the command's input has been checked, so that it
   boots while the command imports its flows, and without importing the server into this process. It dies with
   this process.

:func:`start` is called once the command's input is valid; :func:`api` around the command's runs. Nothing is written to
the environment: a test or notebook that calls commands in its own process keeps its Prefect settings.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from configs.errors import PiiflowError

#: Where ``prefect server start`` listens unless told otherwise.
DEFAULT_LOCAL = "http://127.0.0.1:4200/api"

_state: dict = {}


def configured_url() -> str | None:
    """The API Prefect is configured with: ``PREFECT_API_URL`` in the environment; Prefect's current settings when
    Prefect is already loaded (a test harness, a notebook); else the active profile of
    ``PREFECT_HOME/profiles.toml``, read without importing Prefect."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    loaded = sys.modules.get("prefect.settings")
    if loaded is not None:
        return loaded.PREFECT_API_URL.value() or None
    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or Path(os.environ.get("PREFECT_HOME", "~/.prefect"))
                .expanduser() / "profiles.toml")
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    url = profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL")
    return str(url) if url else None


def answers(api_url: str, timeout: float = 0.5) -> bool:
    """Whether a Prefect server answers its health check at ``api_url``."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as r:
            return r.status == 200
    except (OSError, ValueError):
        return False


def start() -> str:
    """Decide where this command's runs go, starting the embedded server if there is no other (see the module's
    docstring; one embedded server per process, reused). Returns ``configured``, ``local`` or ``embedded``;
    :func:`api` then applies it around the runs. Call it before importing Prefect."""
    if configured_url():
        _state.update(kind="configured", url=None)
        return "configured"
    local = os.environ.get("PIIFLOW_LOCAL_PREFECT", DEFAULT_LOCAL)
    if local.lower() not in ("", "off") and answers(local, timeout=0.3):
        sys.stderr.write(f"piiflow: runs are recorded in the Prefect server at {local} (found running)\n")
        _state.update(kind="local", url=local)
        return "local"
    proc = _state.get("process")
    if proc is None or proc.poll() is not None:
        port = _free_port()
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        env.pop("PREFECT_API_URL", None)
        proc = subprocess.Popen(  # Prefect's own command for its ephemeral server (SubprocessASGIServer)
            [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app", "--host",
             "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"],
            env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        _state.update(process=proc, embedded=f"http://127.0.0.1:{port}/api", ready=False)
        if not _state.get("at_exit"):
            atexit.register(stop)
            _state["at_exit"] = True
    _state.update(kind="embedded", url=_state["embedded"])
    return "embedded"


def shared() -> bool:
    """Whether this process's runs go to a server that other processes can reach and outlives the command: a
    configured one or a local one found running, not the embedded one."""
    kind = _state.get("kind")
    return kind != "embedded" if kind else configured_url() is not None


def ready() -> None:
    """Wait until the embedded server chosen by :func:`start` answers (``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_
    SECONDS``); nothing to do otherwise. Raises PiiflowError if it stopped or never answered."""
    if _state.get("kind") != "embedded" or _state.get("ready"):
        return
    proc = _state["process"]
    deadline = time.monotonic() + float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180"))
    while not answers(_state["embedded"], timeout=1):
        if proc.poll() is not None:
            raise PiiflowError(f"the embedded Prefect server stopped at start (exit code {proc.returncode}); "
                               "start one with `prefect server start` and run again")
        if time.monotonic() > deadline:
            raise PiiflowError("the embedded Prefect server did not answer in time; start one with "
                               "`prefect server start` and run again")
        time.sleep(0.05)
    _state["ready"] = True


@contextmanager
def api():
    """Around a command's runs: Prefect's API set to the server :func:`start` chose (for this process and the worker
    processes it starts), once it answers; nothing changed when Prefect is configured."""
    ready()
    url = _state.get("url")
    if url is None:
        yield
        return
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield


def stop() -> None:
    """Stop the embedded server, if this process started one (at exit)."""
    proc = _state.pop("process", None)
    _state.pop("kind", None)
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGTERM when the command's process dies, even by SIGKILL."""
    import ctypes
    import signal

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
