"""Runtime settings from the environment (prefix ``PIIFLOW_``). Secrets live here, never in the catalog."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic.json_schema import SkipJsonSchema
from pydantic_settings import BaseSettings, SettingsConfigDict

from configs.errors import PolicyError


class Settings(BaseSettings):
    """Read when a command starts, not at import time. The master pseudonymisation key (any string of 32+
    characters) comes from one of, first found first:

    - ``PIIFLOW_KEY``: the key itself, in the environment;
    - ``PIIFLOW_KEY_FILE``: a file holding it (e.g. a mounted secret), readable by its owner only;
    - ``PIIFLOW_KEY_BLOCK``: the name of a Prefect ``Secret`` block holding it (read from the Prefect API).

    Never from an argument or a flow parameter: a deployment run's parameters are stored by Prefect and readable
    through its API. ``Settings(key=...)`` is refused, the key is left out of the settings' JSON form (what Prefect
    stores of a run's parameters) and of their parameter schema, and that schema admits no unknown field, so a
    server that enforces deployments' parameter schemas (Prefect's default) refuses ``settings={"key": ...}``
    before it creates the run.
    """

    model_config = SettingsConfigDict(env_prefix="PIIFLOW_", extra="ignore", frozen=True,
                                      json_schema_extra={"additionalProperties": False})

    key: SkipJsonSchema[SecretStr | None] = Field(None, exclude=True)
    key_file: Path | None = None
    #: The name of a Prefect Secret block holding the key (``prefect block create secret``), read from the API.
    key_block: str | None = Field(None, min_length=1, max_length=255)
    #: Rows sampled per dataset by ``scan`` (spread over all partitions).
    scan_sample_rows: int = Field(2000, ge=10)
    #: Minimum score for a finding in ``scan`` and ``detect``: the balanced operating point (precision and recall
    #: about equal on the dev set).
    score_threshold: float = Field(0.5, ge=0, le=1)
    #: Minimum score for a finding when a release redacts free text (``redact_entities``) and when its gate re-scans
    #: the result: the recall-first operating point. In a release a missed name is a leak; an extra redaction only
    #: costs a word.
    release_score_threshold: float = Field(0.3, ge=0, le=1)
    #: Optional spaCy NER pipelines adding PERSON/LOCATION when installed: ``en_core_web_sm`` (English) or
    #: ``zh=zh_core_web_sm,en=en_core_web_sm`` (package names or paths, one per language).
    ner_model: str | None = None
    task_runner: Literal["threads", "processes", "dask"] = "threads"
    #: Date partitions per release task. None (auto): one with threads; with processes or Dask, where each task
    #: costs about 0.2 s of CPU besides its work, tasks of equal estimated cost, up to four per worker and none under
    #: a second of estimated work (see ``flows.deidentify.plan_tasks``).
    partitions_per_task: int | None = Field(None, ge=1)
    max_workers: int = Field(4, ge=1)
    dask_address: str | None = None
    #: Longest a flow run may take (nightly, scan, deidentify, purge, erase; each subflow of nightly too). A run
    #: stuck on storage then fails, publishes nothing and frees the lake's lock, instead of overlapping the next
    #: night's. Prefect enforces it with an alarm signal on the flow's thread, which interrupts blocking I/O.
    run_timeout_seconds: float = Field(6 * 3600, gt=0)
    #: A folder outside every lake where the audit log's anchors are kept (one small file per lake: the last
    #: entry's number and hash), out of reach of whoever can write to the lake. Default:
    #: ``$XDG_STATE_HOME/piiflow/anchors`` (``~/.local/state/piiflow/anchors``).
    audit_anchor_dir: Path | None = None

    def audit_anchor_folder(self) -> Path:
        if self.audit_anchor_dir is not None:
            return self.audit_anchor_dir
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(state) / "piiflow" / "anchors"

    def __init__(self, **values):
        if values.get("key") is not None:
            raise PolicyError("settings: the master key is never an argument or a flow parameter (Prefect stores a "
                              "run's parameters); set PIIFLOW_KEY, PIIFLOW_KEY_FILE or PIIFLOW_KEY_BLOCK")
        super().__init__(**values)

    def master_key(self, lake_root: Path | None = None) -> bytes:
        """The master key bytes. Raises PolicyError if none is configured or it is too short; the message then names
        the key ``piiflow demo`` made for the lake at ``lake_root`` (``.<lake>.key`` beside it), if there is one."""
        if self.key is not None:
            raw = self.key.get_secret_value().strip()
            origin = "PIIFLOW_KEY"
        elif self.key_file is not None:
            raw = self._read_key_file()
            origin = f"PIIFLOW_KEY_FILE ({self.key_file})"
        elif self.key_block is not None:
            raw = self._read_key_block()
            origin = f"PIIFLOW_KEY_BLOCK ({self.key_block})"
        else:
            demo = lake_root.parent / f".{lake_root.name}.key" if isinstance(lake_root, Path) else None
            hint = (f"; this demo lake's key is {demo}: PIIFLOW_KEY_FILE={demo}" if demo is not None and demo.is_file()
                    else " (`piiflow demo` makes a local one for the demo lake)")
            raise PolicyError(f"no pseudonymisation key: set PIIFLOW_KEY, PIIFLOW_KEY_FILE or PIIFLOW_KEY_BLOCK{hint}")
        if len(raw) < 32:
            raise PolicyError(f"{origin}: expected a key of at least 32 characters (leading and trailing white space "
                              f"aside), found {len(raw)}")
        if not raw.isprintable():
            raise PolicyError(f"{origin}: expected a key of printable characters on one line, found control "
                              f"characters")
        return raw.encode("utf-8")

    def _read_key_block(self) -> str:
        """The key held by the Prefect Secret block named ``key_block``."""
        from prefect.blocks.system import Secret

        try:
            value = Secret.load(self.key_block).get()
        except ValueError as e:  # Prefect's "Unable to find block document named ..."
            raise PolicyError(f"PIIFLOW_KEY_BLOCK: no Secret block named {self.key_block!r} on the Prefect API "
                              f"(prefect block create secret)") from e
        if not isinstance(value, str):
            raise PolicyError(f"PIIFLOW_KEY_BLOCK: the Secret block {self.key_block!r} holds no text; expected the "
                              f"key as a string")
        return value.strip()

    def _read_key_file(self) -> str:
        """The key file's text, stripped as ``PIIFLOW_KEY`` is: one secret is one key wherever it comes from. A file
        other users may read, or one that is not UTF-8 text, is refused."""
        path = self.key_file
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as e:
            raise PolicyError(f"PIIFLOW_KEY_FILE: cannot read {path} ({e.strerror})") from e
        if os.name == "posix" and mode & 0o077:
            raise PolicyError(f"PIIFLOW_KEY_FILE: {path} may be read by other users (mode {mode & 0o777:o}); the "
                              f"master key must be readable by its owner only: chmod 600 {path}")
        try:
            return data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise PolicyError(f"PIIFLOW_KEY_FILE: {path} is not UTF-8 text (a binary file?); expected the key as "
                              f"text") from None
