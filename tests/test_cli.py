"""The command line as one way in: each command runs its Prefect flow with the same parameter names, builds its
settings once and passes them down, and sets Prefect's environment once."""

import inspect
import json
import os
import time

import pytest
from typer.testing import CliRunner

from flows.cli import FLOW_COMMANDS, app
from tests.helpers import copy_lake

#: command -> the flow it runs.
FLOWS = {"scan": "flows.scan:scan_flow", "deidentify": "flows.deidentify:deidentify_flow",
         "purge": "flows.purge:purge_flow", "erase": "flows.erase:erase_flow", "nightly": "flows.nightly:nightly_flow",
         "object": "flows.consent:consent_flow", "withdraw": "flows.consent:consent_flow",
         "sunset": "flows.sunset:sunset_flow"}


def _flow(spec: str):
    module, name = spec.split(":")
    return getattr(__import__(module, fromlist=[name]), name)


def _command(name: str):
    return next(c.callback for c in app.registered_commands if (c.name or c.callback.__name__) == name)


def test_every_flow_command_has_a_flow():
    assert FLOW_COMMANDS - {"demo"} == set(FLOWS)


@pytest.mark.parametrize("command", sorted(FLOWS))
def test_a_command_and_its_flow_name_their_parameters_alike(command):
    cli = set(inspect.signature(_command(command)).parameters) - {"as_json"}
    flow = set(inspect.signature(_flow(FLOWS[command]).fn).parameters)
    assert cli <= flow, f"{command}: the command's {sorted(cli - flow)} are not parameters of its flow"
    assert "catalog_path" in cli


@pytest.fixture()
def lake(small_lake, tmp_path):
    cat_path, _ = small_lake
    copy_lake(cat_path.parent, tmp_path / "lake")
    return tmp_path / "lake" / "catalog.yaml"


def _flow_runs(name: str, since: float) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))
    return [r for r in runs if r.created and r.created.timestamp() >= since]


def test_erase_runs_as_a_prefect_flow(lake, tmp_path, prefect_harness):
    import pyarrow.parquet as pq

    victim = pq.read_table(next((lake.parent / "raw" / "device_events").rglob("*.parquet"))).column("user_id")[0]
    subjects = tmp_path / "subjects.txt"
    subjects.write_text(f"{victim}\n", encoding="utf-8")
    since = time.time() - 1
    res = CliRunner().invoke(app, ["erase", "-c", str(lake), "--subjects", str(subjects), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["executed"] is False  # a plan: nothing without --execute
    runs = _flow_runs("erase", since)
    assert len(runs) == 1 and runs[0].state.is_completed()
    assert runs[0].parameters["subjects_file"] == str(subjects) and runs[0].parameters["execute"] is False
    recorded = json.dumps(runs[0].parameters, default=str)
    assert str(victim) not in recorded and os.environ["PIIFLOW_KEY"] not in recorded  # settings travel masked


def test_a_command_builds_its_settings_once_and_sets_prefect_up_once(lake, prefect_harness, monkeypatch):
    """``nightly`` runs three subflows and many tasks: all of them get the command's settings."""
    from configs import settings as settings_module
    from flows import cli

    built, configured = [], []
    original = settings_module.Settings.__init__
    monkeypatch.setattr(settings_module.Settings, "__init__",
                        lambda self, **kw: (built.append(kw), original(self, **kw))[1])
    original_env = cli.configure_prefect_env
    monkeypatch.setattr(cli, "configure_prefect_env", lambda: (configured.append(1), original_env())[1])
    res = CliRunner().invoke(app, ["nightly", "-c", str(lake), "--json"])
    assert res.exit_code == 0, res.output
    assert len(built) == 1 and len(configured) == 1


def test_every_command_s_help_has_an_example_whose_options_exist():
    """Each command's --help ends its description with an example, and every option the example uses is one the
    command has (an example that drifted from its command would teach a failing call)."""
    import re

    from typer.main import get_command

    from flows.cli import app
    root = get_command(app)
    commands = {name: cmd for name, cmd in root.commands.items() if not hasattr(cmd, "commands")}
    commands.update({f"{g} {n}": c for g, grp in root.commands.items() if hasattr(grp, "commands")
                     for n, c in grp.commands.items()})
    without = []
    for name, cmd in commands.items():
        example = re.search(r"Example: (.*piiflow .*)", " ".join((cmd.help or "").split()))
        if example is None:
            without.append(name)
            continue
        flags = {o for p in cmd.params for o in p.opts}
        used = set(re.findall(r"(?<!\S)(--?[a-z][a-z-]*)", example.group(1).split("|")[-1]))
        assert used <= flags, (name, used - flags)
    assert not without, without
