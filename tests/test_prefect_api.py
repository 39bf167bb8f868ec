"""Where a command's runs go (flows/prefect_api.py): the configured server, a local one found running, or an embedded
one started early that dies with the command, even when the command is SIGKILLed."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from flows import prefect_api
from tests.helpers import ROOT


def test_the_configured_api_comes_from_the_environment_or_the_active_profile(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.delenv("PREFECT_PROFILES_PATH", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.setitem(sys.modules, "prefect.settings", None)  # as in a command's process: Prefect not loaded yet
    assert prefect_api.configured_url() is None  # no profiles file
    (tmp_path / "profiles.toml").write_text('active = "ephemeral"\n[profiles.ephemeral]\n'
                                            'PREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n'
                                            '[profiles.prod]\nPREFECT_API_URL = "http://10.0.0.5:4200/api"\n')
    assert prefect_api.configured_url() is None
    monkeypatch.setenv("PREFECT_PROFILE", "prod")
    assert prefect_api.configured_url() == "http://10.0.0.5:4200/api"
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert prefect_api.configured_url() == "http://127.0.0.1:9/api"
    (tmp_path / "profiles.toml").write_text("not toml [")
    monkeypatch.delenv("PREFECT_API_URL")
    assert prefect_api.configured_url() is None
    # Prefect already loaded (a test harness, a notebook): its current settings decide
    setting = type("S", (), {"value": staticmethod(lambda: "http://127.0.0.1:7/api")})
    monkeypatch.setitem(sys.modules, "prefect.settings", type(sys)("prefect.settings"))
    sys.modules["prefect.settings"].PREFECT_API_URL = setting
    assert prefect_api.configured_url() == "http://127.0.0.1:7/api"


def test_nothing_answers_on_a_closed_port():
    assert not prefect_api.answers("http://127.0.0.1:9/api", timeout=0.2)


@pytest.mark.slow
def test_the_embedded_server_dies_with_a_killed_command(small_lake, tmp_path):
    """A command SIGKILLed while its embedded server boots leaves no server behind (PR_SET_PDEATHSIG)."""
    cat_path, _ = small_lake
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PIIFLOW_LOCAL_PREFECT="off", PREFECT_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    cmd = subprocess.Popen([sys.executable, "-m", "flows.cli", "purge", "-c", str(cat_path)], env=env, cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        servers = []
        while not servers:
            servers = [c for c in psutil.Process(cmd.pid).children()
                       if "prefect.server.api.server:create_app" in " ".join(c.cmdline())]
            assert time.monotonic() < deadline and cmd.poll() is None, "no embedded server started"
            time.sleep(0.05)
        cmd.send_signal(signal.SIGKILL)
        cmd.wait()
        gone, alive = psutil.wait_procs(servers, timeout=30)
        assert not alive, "the embedded server outlived its command"
    finally:
        if cmd.poll() is None:
            cmd.kill()
