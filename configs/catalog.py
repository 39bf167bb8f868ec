"""The catalog: one YAML file that declares the lake, its datasets, legal holds and releases.

``load_catalog(path)`` turns the file into frozen pydantic models, or raises :class:`PolicyError` naming the file,
the key, what was expected and what was found, before any data is touched.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from datetime import date, timedelta
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
    model_validator,
)

from configs import strict_yaml
from configs.errors import PolicyError
from configs.locations import ObjectPath, is_uri, parse_location
from configs.operators import OPERATOR_NAMES, Keep, Operator, op_shorthand
from configs.operators import FrozenModel as _Frozen

# --------------------------------------------------------------------------------------------------------------
# Durations ("180d")
# --------------------------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+)\s*([hdwy])\s*$")
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1), "y": timedelta(days=365)}


def parse_duration(value: Any) -> timedelta:
    """``"180d"`` -> ``timedelta(days=180)``. Units: h, d, w, y (365 days). Raises ValueError otherwise."""
    if isinstance(value, timedelta):
        return value
    m = _DURATION.match(str(value)) if isinstance(value, (str, int)) else None
    if not m:
        raise ValueError(f"expected a duration like '180d' (a whole number and one of h, d, w, y), found {value!r}")
    n = int(m.group(1))
    if n == 0:
        raise ValueError(f"expected a duration longer than zero, found {value!r}")
    return n * _UNIT[m.group(2)]


def format_duration(td: timedelta) -> str:
    if td % timedelta(days=1) == timedelta(0):
        return f"{td.days}d"
    return f"{int(td.total_seconds() // 3600)}h"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]


# --------------------------------------------------------------------------------------------------------------
# Names that become paths, artifact keys and log lines: checked against documented safe patterns when the file loads
# --------------------------------------------------------------------------------------------------------------

#: Dataset and release names: lower_snake_case, at most 63 characters (a folder name, a Prefect artifact key).
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
#: Recipients: lower case, digits, ``-`` and ``_``, at most 63 characters.
RECIPIENT = re.compile(r"[a-z][a-z0-9_-]{0,62}")
#: One part of a location or a file name: starts with a letter or digit (``.`` and ``_`` names are hidden from
#: readers), then letters, digits, ``.``, ``_``, ``-``; never ``..``.
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
PATH_PART = re.compile(_PART)
#: A text dataset's file name pattern: one file name (no folder), ``{dt}`` at most once.
FILE_PATTERN = re.compile(rf"(?:{_PART})?(?:\{{dt\}}[A-Za-z0-9._-]*)?")
#: Top-level folders of a lake that belong to piiflow: a dataset may live anywhere else inside the lake.
RESERVED_ZONES = ("releases", "state", "_truth")
#: Release names and recipients piiflow uses itself (the sunset's anonymised archive, ``flows.sunset``): a catalog's
#: release of that name would receive what a sunset archives, and one of that recipient its keys.
RESERVED_RELEASES, RESERVED_RECIPIENTS = ("sunset_archive",), ("sunset-archive",)


#: What a description may not hold: it is copied into the data dictionary (Markdown), the release index (JSON) and
#: the HTML report, read by people in tools that render markup. HTML tags and entities, Markdown links and images,
#: script URLs, control characters.
_MARKUP = re.compile(r"<\s*[A-Za-z/!?]|&#?\w+;|\]\s*\(|javascript:|data:text/html", re.I)


def _check_description(value: str) -> str:
    if not isinstance(value, str):
        return value
    if len(value) > 1000 or not value.replace("\n", " ").isprintable() or _MARKUP.search(value):
        raise ValueError("expected a description in plain words (no HTML, Markdown links, script URLs or control "
                         "characters; at most 1,000 characters): it is shown in the data dictionary and the report")
    return value


Description = Annotated[str, BeforeValidator(_check_description)]


_SIZE = re.compile(r"\s*(\d+)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*")
_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "KiB": 1 << 10, "MiB": 1 << 20,
          "GiB": 1 << 30, "TiB": 1 << 40}


def _byte_size(value):
    """A size in bytes, written as a number or with a unit (``512MB``, ``2GiB``)."""
    if isinstance(value, str):
        m = _SIZE.fullmatch(value)
        if not m:
            raise ValueError(f"expected a size such as 512MB or 2GiB, found {value!r}")
        return int(m.group(1)) * _UNITS[m.group(2)]
    return value


def _check_name(value: str, pattern: re.Pattern, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"expected {what} matching {pattern.pattern}, found {value!r}")
    return value


def _check_location(value: str) -> str:
    """A dataset's location: a relative path inside the lake, outside piiflow's own zones."""
    parts = PurePosixPath(value).parts if isinstance(value, str) else ()
    if (not parts or PurePosixPath(value).is_absolute() or "\\" in value
            or not all(PATH_PART.fullmatch(p) and ".." not in p for p in parts)):
        raise ValueError(f"expected a relative path inside the lake such as raw/app_logs (parts of letters, digits, "
                         f"'.', '_', '-', none starting with '.' or '_', no '..'), found {value!r}")
    if parts[0] in RESERVED_ZONES:
        raise ValueError(f"expected a location outside piiflow's zones ({', '.join(RESERVED_ZONES)}), found {value!r}")
    return str(PurePosixPath(*parts))


def _check_files(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or ".." in value or not FILE_PATTERN.fullmatch(value) \
            or value.count("{dt}") > 1:
        raise ValueError(f"expected one file name pattern such as 'app-{{dt}}.jsonl.gz' (no folder, no '..', "
                         f"starting with a letter or digit, {{dt}} at most once), found {value!r}")
    return value


class ColumnPolicy(_Frozen):
    kind: Literal["direct", "quasi", "free_text", "sensitive", "other"]
    op: Annotated[Operator, BeforeValidator(op_shorthand)] = Keep()
    #: What the column is, for the release's data dictionary.
    description: Description = ""
    #: The type the column is released as (``keep``: the value converted; what does not convert becomes null).
    #: Declare it where raw files disagree (a number written as text in some lines): a release has one type per
    #: column.
    type: Literal["string", "int64", "float64", "bool", "date", "timestamp"] | None = None
    #: The kind of personal identifier the column holds (``phone``, ``email``...), with ``owner``: whose it is.
    identifier: Annotated[str, BeforeValidator(lambda v: _check_name(v, NAME, "an identifier kind"))] | None = None
    #: Whose identifier the column holds (required with ``identifier``): ``subject``, the row's subject's own (their
    #: phone, e-mail, device), or ``other``, somebody else's (a number called, a contact). An erasure learns a
    #: subject's identifiers only from ``subject`` columns of their own rows, and erases them from ``other``
    #: columns of anybody's rows where they equal one of those; it never touches another subject's own columns.
    owner: Literal["subject", "other"] | None = None

    @model_validator(mode="after")
    def _owner_with_identifier(self) -> "ColumnPolicy":
        if self.identifier is not None and self.owner is None:
            raise ValueError(f"owner: expected whose {self.identifier} the column holds: 'subject' (the row's subject's "
                             f"own) or 'other' (somebody else's: a number called, a contact), found nothing")
        if self.owner is not None and self.identifier is None:
            raise ValueError("identifier: expected the identifier kind that owner describes, found nothing")
        return self
    #: The column tells the subject's age (clause 7, minors): as a ``birth_date``, as a ``resident_id`` (its birth
    #: date), or as an ``age`` in whole years at the row's event time.
    age_from: Literal["birth_date", "resident_id", "age"] | None = None


# --------------------------------------------------------------------------------------------------------------
# Lake, datasets, holds, releases
# --------------------------------------------------------------------------------------------------------------


#: Words a catalog may not hold in ``lake.storage``: credentials come from the environment, never from a file
#: that is copied, committed and shown.
_SECRET_WORDS = re.compile(r"secret|password|token|credential|access_key|key_id|session", re.I)


class ObjectStore(_Frozen):
    """How to reach the lake's object store (for an ``s3://`` root). Credentials are never here: they come from the
    standard environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``), as do the
    endpoint and region when this leaves them out (``AWS_ENDPOINT_URL``, ``AWS_REGION``, ``AWS_ALLOW_HTTP``)."""

    #: The S3 endpoint (``https://oss-cn-hangzhou.aliyuncs.com``, ``https://cos.ap-guangzhou.myqcloud.com``, MinIO).
    endpoint: str | None = None
    #: The region requests are signed for (``AWS_REGION`` when left out).
    signing_region: str | None = None
    #: Allow a plain-HTTP endpoint (a local test server); refused otherwise.
    allow_http: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, v):
        if isinstance(v, dict):
            for k in v:
                if _SECRET_WORDS.search(str(k)):
                    raise ValueError(f"{k}: credentials never go in the catalog; set AWS_ACCESS_KEY_ID and "
                                     f"AWS_SECRET_ACCESS_KEY in the environment")
        return v

    @field_validator("endpoint")
    @classmethod
    def _url(cls, v):
        if v is not None and not re.match(r"^https?://[^/@\s]+/?$", v):
            raise ValueError(f"expected an endpoint URL such as https://host:port (no user, no path), found {v!r}")
        return v


def _location(v):
    if isinstance(v, str):
        if not v.strip():
            raise ValueError("expected the lake's folder or s3:// URI")
        return parse_location(v)
    return v


class Lake(_Frozen):
    model_config = ConfigDict(**_Frozen.model_config, arbitrary_types_allowed=True)

    #: A local folder or an ``s3://bucket/prefix`` URI (the bucket is in ``region``).
    root: Annotated[Path | ObjectPath, BeforeValidator(_location)]
    region: str
    #: How to reach an object store (``s3://`` roots only).
    storage: ObjectStore | None = None
    allowed_regions: tuple[str, ...] = ("cn-*",)
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"expected an IANA time zone such as 'Asia/Shanghai', found {v!r}") from e
        return v

    @model_validator(mode="after")
    def _region_allowed(self) -> "Lake":
        if not region_allowed(self.region, self.allowed_regions):
            raise ValueError(
                f"region: expected a region matching allowed_regions {list(self.allowed_regions)}, "
                f"found {self.region!r}")
        return self


def region_allowed(region: str, allowed: tuple[str, ...] | list[str]) -> bool:
    return any(fnmatch.fnmatchcase(region, pat) for pat in allowed)


#: What a release may be for (privacy policy 8.2, 8.3): the vocabulary a release's ``purpose`` and a dataset's
#: ``purposes`` are written in. ``security`` is what the law still allows after consent is withdrawn.
PURPOSES = ("analytics", "marketing", "personalisation", "security", "partner_sharing")
Purpose = Literal["analytics", "marketing", "personalisation", "security", "partner_sharing"]
#: What the law allows without consent (PIPL art. 13: legal obligations, security): a withdrawal of consent does
#: not reach it, and an objection cannot name it.
LAWFUL_AFTER_WITHDRAWAL = ("security",)
#: Purposes whose releases leave minors out unless a guardian consented (clause 7; PIPL art. 31).
MINOR_RESTRICTED = ("marketing", "personalisation", "partner_sharing")
#: The requests of the consent ledger: an objection (8.2) to named purposes, a withdrawal of consent (8.3).
CONSENT_KINDS = ("objection", "withdrawal")


class Dataset(_Frozen):
    category: Literal["registration", "usage", "device", "log", "enterprise"]
    #: What the dataset is, for the release's data dictionary.
    description: Description = ""
    location: str
    region: str | None = None
    format: Literal["parquet", "csv", "jsonl", "delta"]
    #: For csv/jsonl: the file name pattern inside ``location``; ``{dt}`` marks the partition date.
    files: str | None = None
    #: Encodings to try in order when reading text files (the first that decodes the file wins).
    encodings: tuple[str, ...] = ("utf-8", "gb18030")
    subject_key: str | None = None
    org_key: str | None = None
    row_key: str | None = None
    event_time: str | None = None
    retention: Duration | None = None
    #: A legal minimum: the catalog refuses a retention shorter than this.
    min_retention: Duration | None = None
    immutable: bool = False
    on_missing_time: Literal["keep", "quarantine"] = "keep"
    on_erase: Literal["delete", "anonymise"] = "delete"
    #: A file that cannot be read (corrupt, malformed): ``skip`` leaves it where it is; ``quarantine`` sets it
    #: aside as ``.bad-<name>`` beside it (hidden from every reader, removed when its date expires). Either way the
    #: run reports it and exits non-zero.
    on_bad_file: Literal["skip", "quarantine"] = "skip"
    #: The most bytes one text file (csv, jsonl) may hold once decompressed: a larger one (a gzip bomb: 611 KB that
    #: inflate to gigabytes) is refused as a bad file, naming it, before it fills the machine's memory. A number of
    #: bytes or a size such as ``512MB``, ``2GiB``.
    max_file_bytes: Annotated[int, BeforeValidator(lambda v: _byte_size(v))] = Field(1 << 30, ge=1 << 10)
    #: The purposes a release of this dataset may serve (default: all of PURPOSES).
    purposes: tuple[Purpose, ...] = PURPOSES
    #: A column that says whether a minor's guardian consented (true/false, yes/no, 1/0): releases for purposes that
    #: leave minors out (``transforms.consent.MINOR_RESTRICTED``) keep the rows of minors whose guardian consented.
    guardian_consent: str | None = None
    columns: dict[str, ColumnPolicy]

    _location = field_validator("location")(lambda v: _check_location(v))
    _files = field_validator("files")(lambda v: _check_files(v))

    @model_validator(mode="after")
    def _keys_are_columns(self) -> "Dataset":
        for key in ("subject_key", "org_key", "row_key", "event_time", "guardian_consent"):
            value = getattr(self, key)
            if value is not None and value not in self.columns:
                raise ValueError(
                    f"{key}: expected one of the declared columns ({', '.join(self.columns)}), found {value!r}")
        if self.guardian_consent and not any(p.age_from for p in self.columns.values()):
            raise ValueError("guardian_consent: expected a column that tells the age (age_from: birth_date, "
                             "resident_id or age) beside it, found none")
        if any(p.age_from for p in self.columns.values()) and not self.subject_key:
            raise ValueError("subject_key: expected the subject key that ages are known by (a column declares "
                             "age_from), found nothing")
        if self.format in ("csv", "jsonl") and not self.files:
            raise ValueError(f"files: expected a file name pattern such as 'app-{{dt}}.jsonl.gz' for format "
                             f"{self.format!r}, found nothing")
        if self.retention is not None and self.event_time is None:
            raise ValueError("event_time: expected the event-time column that retention is measured on, "
                             "found nothing")
        if self.min_retention is not None and self.retention is not None and self.retention < self.min_retention:
            raise ValueError(f"retention: expected at least {format_duration(self.min_retention)} (the legal minimum "
                             f"declared in min_retention), found {format_duration(self.retention)}")
        if (self.immutable or self.on_missing_time == "quarantine") and self.row_key is None:
            raise ValueError("row_key: expected a row key column, which quarantining rows (immutable: true or "
                             "on_missing_time: quarantine) needs, found nothing")
        return self

    def columns_of_kind(self, *kinds: str) -> list[str]:
        return [c for c, p in self.columns.items() if p.kind in kinds]


class LegalHold(_Frozen):
    reason: str
    until: date
    subjects: tuple[str, ...] = ()
    subjects_file: Path | None = None
    datasets: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _has_scope(self) -> "LegalHold":
        if not (self.subjects or self.subjects_file or self.datasets):
            raise ValueError("expected subjects, subjects_file or datasets to say what the hold covers, found none")
        return self


class Release(_Frozen):
    recipient: Annotated[str, BeforeValidator(lambda v: _check_name(v, RECIPIENT, "a recipient"))]
    #: What the recipient may use it for, one of PURPOSES.
    purpose: Purpose
    #: Words for the data dictionary: what this release is for, in the company's terms.
    description: Description = ""
    datasets: tuple[str, ...]
    k_anonymity: int = Field(5, ge=1)
    #: Share of a partition's rows that may be suppressed before quasi-identifiers are generalised further.
    max_suppression: float = Field(0.05, ge=0, le=1)
    retention: Duration | None = None
    anonymised: bool = True
    region: str | None = None
    #: Per dataset, the columns this release writes otherwise than the dataset declares: a coarser operator
    #: (``{op: bucket, width: 1000}``, a coarser truncation, ``drop``) where another release of the same dataset
    #: keeps the column finer, so that the two copies cannot be joined row by row on it. Not for direct identifiers
    #: (they are pseudonymised per recipient already).
    columns: dict[str, dict[str, Annotated[Operator, BeforeValidator(op_shorthand)]]] = {}
    #: The largest share of a partition's rows that may be matched one-to-one with another release of the same
    #: dataset on the columns both release (pseudonyms aside): past it, the partition is blocked (the gate's
    #: ``linking`` check, :mod:`transforms.linking`).
    max_linked_share: float = Field(0.05, ge=0, le=1)


class AggregateDimension(_Frozen):
    """A cell's dimension in an aggregate release: a dataset column through a generalising operator."""

    column: str
    op: Annotated[Operator, BeforeValidator(op_shorthand)] = Keep()
    #: The dimension's public values: every cell is published (zeros included) and no threshold is needed.
    values: tuple[str, ...] | None = None
    #: The operator's own values are public (``generalize_place``: every division at its level).
    public: bool = False

    @model_validator(mode="after")
    def _public_domain(self) -> "AggregateDimension":
        if not hasattr(self.op, "steps"):
            raise ValueError(f"op: expected an operator that keeps or generalises values (keep, generalize_place, "
                             f"truncate_time, bucket...), found {self.op.op!r}")
        if self.public and self.values is None and self.op.op != "generalize_place":
            raise ValueError(f"public: expected values for a dimension written by {self.op.op!r} (only "
                             f"generalize_place has public values of its own)")
        return self


class AggregateMeasure(_Frozen):
    """``users``: distinct subjects; ``rows``: rows; ``sum``: a numeric column clipped to ``clip``; ``mean``: a
    sum of ``column`` divided by the release's ``rows`` measure (post-processing: no budget of its own)."""

    of: Literal["users", "rows", "sum", "mean"]
    column: str | None = None
    clip: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _needs(self) -> "AggregateMeasure":
        if self.of in ("sum", "mean") and not self.column:
            raise ValueError(f"expected the column a {self.of} reads, found none")
        if self.of == "sum" and (self.clip is None or not self.clip[0] < self.clip[1]):
            raise ValueError(f"clip: expected [low, high] with low < high for a sum, found {self.clip}")
        if self.of in ("users", "rows") and (self.column or self.clip):
            raise ValueError(f"a count of {self.of} reads no column and clips nothing")
        return self


class Aggregate(_Frozen):
    """A release of differentially private aggregates (``kind: aggregate`` under ``releases``): per day, the
    measures of each cell of ``dimensions``, from one dataset, the privacy unit being one subject."""

    kind: Literal["aggregate"] = "aggregate"
    recipient: Annotated[str, BeforeValidator(lambda v: _check_name(v, RECIPIENT, "a recipient"))]
    purpose: Purpose
    description: Description = ""
    dataset: str
    dimensions: dict[str, AggregateDimension]
    measures: dict[str, AggregateMeasure]
    #: Rows a subject may contribute to one cell a day, and cells a subject may contribute to a day: rows past
    #: these bounds are left out of the counts (OpenDP's truncation), so the noise covers every subject.
    max_rows_per_day: int = Field(20, ge=1, le=10_000)
    max_cells_per_day: int = Field(1, ge=1, le=1_000)
    #: Privacy loss per published day (delta: only where a dimension's values are not public).
    epsilon: float = Field(gt=0)
    delta: float = Field(0.0, ge=0, lt=1e-3)
    region: str | None = None

    @field_validator("dimensions", "measures")
    @classmethod
    def _names(cls, v: dict, info) -> dict:
        if not v:
            raise ValueError(f"expected at least one of the {info.field_name}")
        for name in v:
            _check_name(name, NAME, f"{info.field_name} names in lower_snake_case")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Aggregate":
        clash = set(self.dimensions) & set(self.measures)
        if clash:
            raise ValueError(f"expected different names for dimensions and measures, found {sorted(clash)} in both")
        for name, m in self.measures.items():
            if m.of == "mean" and not ({"rows"} <= {x.of for x in self.measures.values()}
                                       and any(x.of == "sum" and x.column == m.column
                                               for x in self.measures.values())):
                raise ValueError(f"measures.{name}: a mean of {m.column!r} needs a rows measure and a sum of "
                                 f"{m.column!r} in the same release")
        if self.delta == 0 and any(d.values is None and not d.public for d in self.dimensions.values()):
            raise ValueError("delta: expected a delta > 0 (say 1e-7): a dimension whose values are not public is "
                             "published only past a threshold, which needs one")
        return self

    def measure_families(self) -> dict[str, list[tuple[str, "AggregateMeasure"]]]:
        """The measures by the query that answers them: ``users`` (one row per subject and cell) and ``rows``
        (counts and sums of rows); means are post-processing and in neither."""
        out: dict[str, list] = {}
        for name, m in self.measures.items():
            if m.of != "mean":
                out.setdefault("users" if m.of == "users" else "rows", []).append((name, m))
        return out

    def mean_parts(self, name: str) -> tuple[str, str]:
        """(sum measure, rows measure) a mean divides."""
        col = self.measures[name].column
        return (next(n for n, x in self.measures.items() if x.of == "sum" and x.column == col),
                next(n for n, x in self.measures.items() if x.of == "rows"))


class PrivacyBudget(_Frozen):
    """The ceiling of what aggregate releases may spend, per recipient: epsilon a day (all its aggregates
    together) and over any ``window`` of consecutive days (the ledger in ``state/`` keeps the account)."""

    epsilon_per_day: float = Field(1.0, gt=0)
    window: Duration = timedelta(days=30)
    epsilon_per_window: float = Field(30.0, gt=0)
    delta_per_day: float = Field(1e-6, ge=0, lt=1e-3)


class Catalog(_Frozen):
    lake: Lake
    datasets: dict[str, Dataset]
    legal_holds: tuple[LegalHold, ...] = ()
    releases: dict[str, Release] = {}
    #: Aggregate releases: declared under ``releases`` with ``kind: aggregate`` (the loader puts them here).
    aggregates: dict[str, Aggregate] = {}
    privacy_budget: PrivacyBudget = PrivacyBudget()
    #: Set by the loader: the file this catalog came from, and the hash of its canonical content.
    source: Path | None = None
    policy_hash: str = ""

    @model_validator(mode="before")
    @classmethod
    def _aggregates_apart(cls, data: Any) -> Any:
        """``releases`` entries of ``kind: aggregate`` are aggregate releases; the others release rows."""
        if isinstance(data, dict) and isinstance(data.get("releases"), dict) and "aggregates" not in data:
            rel = data["releases"]
            agg = {k: v for k, v in rel.items() if isinstance(v, dict) and v.get("kind") == "aggregate"}
            if agg:
                data = {**data, "releases": {k: v for k, v in rel.items() if k not in agg}, "aggregates": agg}
        return data

    @field_validator("datasets", "releases", "aggregates")
    @classmethod
    def _names(cls, v: dict, info) -> dict:
        for name in v:
            _check_name(name, NAME, f"{info.field_name[:-1]} names in lower_snake_case")
            if info.field_name in ("releases", "aggregates") and name in RESERVED_RELEASES:
                raise ValueError(f"expected a release name of the catalog's own, found {name!r}, which piiflow "
                                 f"keeps for a sunset's archive")
        return v

    @model_validator(mode="after")
    def _cross_refs(self) -> "Catalog":
        seen: dict[tuple[str, ...], str] = {}
        for name, ds in sorted(self.datasets.items(), key=lambda kv: len(PurePosixPath(kv[1].location).parts)):
            parts = PurePosixPath(ds.location).parts
            for other_parts, other in seen.items():
                if parts[:len(other_parts)] == other_parts:
                    raise ValueError(f"datasets.{name}.location: expected a folder of its own, found {ds.location!r}, "
                                     f"{'the location' if parts == other_parts else 'inside the location'} of "
                                     f"dataset {other!r}")
            seen[parts] = name
        for name, ds in self.datasets.items():
            region = ds.region or self.lake.region
            if not region_allowed(region, self.lake.allowed_regions):
                raise ValueError(f"datasets.{name}.region: expected a region matching allowed_regions "
                                 f"{list(self.lake.allowed_regions)}, found {region!r}")
        for rname, rel in self.releases.items():
            if rel.recipient in RESERVED_RECIPIENTS:
                raise ValueError(f"releases.{rname}.recipient: expected a recipient of the catalog's own, found "
                                 f"{rel.recipient!r}, which piiflow keeps for a sunset's archive")
            for ds in rel.datasets:
                if ds not in self.datasets:
                    raise ValueError(f"releases.{rname}.datasets: expected names of declared datasets "
                                     f"({', '.join(self.datasets)}), found {ds!r}")
                if rel.purpose not in self.datasets[ds].purposes:
                    raise ValueError(f"releases.{rname}.purpose: dataset {ds!r} may serve only "
                                     f"{', '.join(self.datasets[ds].purposes) or 'no purpose'}, found "
                                     f"{rel.purpose!r}")
            for ds, cols in rel.columns.items():
                if ds not in rel.datasets:
                    raise ValueError(f"releases.{rname}.columns: expected datasets of the release "
                                     f"({', '.join(rel.datasets)}), found {ds!r}")
                for col in cols:
                    declared = self.datasets[ds].columns.get(col)
                    if declared is None:
                        raise ValueError(f"releases.{rname}.columns.{ds}: expected columns the dataset declares, "
                                         f"found {col!r}")
                    if declared.kind == "direct":
                        raise ValueError(f"releases.{rname}.columns.{ds}.{col}: a direct identifier keeps the "
                                         f"dataset's operator (pseudonymised per recipient); expected a column of "
                                         f"another kind")
            region = rel.region or self.lake.region
            if not region_allowed(region, self.lake.allowed_regions):
                raise ValueError(f"releases.{rname}.region: expected a region matching allowed_regions "
                                 f"{list(self.lake.allowed_regions)}, found {region!r}")
        per_recipient: dict[str, float] = {}
        for aname, agg in self.aggregates.items():
            where = f"releases.{aname}"
            ds = self.datasets.get(agg.dataset)
            if ds is None:
                raise ValueError(f"{where}.dataset: expected a declared dataset ({', '.join(self.datasets)}), "
                                 f"found {agg.dataset!r}")
            if not ds.subject_key:
                raise ValueError(f"{where}.dataset: expected a dataset with a subject_key (the privacy unit), "
                                 f"found {agg.dataset!r} without one")
            if agg.purpose not in ds.purposes:
                raise ValueError(f"{where}.purpose: dataset {agg.dataset!r} may serve only "
                                 f"{', '.join(ds.purposes) or 'no purpose'}, found {agg.purpose!r}")
            cols = [(f"dimensions.{n}", d.column) for n, d in agg.dimensions.items()]
            cols += [(f"measures.{n}", m.column) for n, m in agg.measures.items() if m.column]
            for key, col in cols:
                pol = ds.columns.get(col)
                if pol is None:
                    raise ValueError(f"{where}.{key}: expected a column dataset {agg.dataset!r} declares, "
                                     f"found {col!r}")
                if pol.kind in ("direct", "free_text") or col == ds.subject_key:
                    raise ValueError(f"{where}.{key}: {col!r} is a {pol.kind.replace('_', ' ')} column; an "
                                     f"aggregate may count by and sum only columns of other kinds")
            if agg.epsilon > self.privacy_budget.epsilon_per_day:
                raise ValueError(f"{where}.epsilon: expected at most the privacy_budget's epsilon_per_day "
                                 f"({self.privacy_budget.epsilon_per_day:g}), found {agg.epsilon:g}")
            if agg.delta > self.privacy_budget.delta_per_day:
                raise ValueError(f"{where}.delta: expected at most the privacy_budget's delta_per_day "
                                 f"({self.privacy_budget.delta_per_day:g}), found {agg.delta:g}")
            per_recipient[agg.recipient] = per_recipient.get(agg.recipient, 0.0) + agg.epsilon
            region = agg.region or self.lake.region
            if not region_allowed(region, self.lake.allowed_regions):
                raise ValueError(f"{where}.region: expected a region matching allowed_regions "
                                 f"{list(self.lake.allowed_regions)}, found {region!r}")
        for recipient, eps in per_recipient.items():
            if eps > self.privacy_budget.epsilon_per_day + 1e-12:
                raise ValueError(f"releases: the aggregates of recipient {recipient!r} spend epsilon {eps:g} a day "
                                 f"together, past the privacy_budget's epsilon_per_day "
                                 f"({self.privacy_budget.epsilon_per_day:g})")
        for i, hold in enumerate(self.legal_holds):
            for ds in hold.datasets:
                if ds not in self.datasets:
                    raise ValueError(f"legal_holds.{i}.datasets: expected names of declared datasets, found {ds!r}")
        return self

    def release_dataset(self, release: str, dataset: str) -> "Dataset":
        """``dataset`` as ``release`` writes it: the dataset's column policies with the release's own operators
        (:attr:`Release.columns`) in place of the declared ones."""
        ds = self.datasets[dataset]
        own = self.releases[release].columns.get(dataset) if release in self.releases else None
        if not own:
            return ds
        return ds.model_copy(update={"columns": {c: p.model_copy(update={"op": own[c]}) if c in own else p
                                                 for c, p in ds.columns.items()}})

    # -- paths -------------------------------------------------------------------------------------------------

    def dataset_path(self, name: str) -> Path:
        return self.lake.root / self.datasets[name].location

    def dataset_region(self, name: str) -> str:
        return self.datasets[name].region or self.lake.region

    def release_path(self, release: str, dataset: str | None = None) -> Path:
        p = self.lake.root / "releases" / release
        return p / dataset if dataset else p

    @property
    def state_path(self) -> Path:
        return self.lake.root / "state"


# --------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------


def _clean_loc(loc: tuple) -> tuple:
    # The discriminated union adds the tag as a path element (columns.ip.op.generalize_ip.v4_prefix); keep it
    # out, and drop the "function-before[...]" elements that validators add.
    out = []
    for p in loc:
        if isinstance(p, str) and (p in OPERATOR_NAMES or p.startswith("function-") or "[" in p):
            continue
        out.append(p)
    if out and out[0] == "aggregates":  # written under releases (kind: aggregate): say where it was written
        out[0] = "releases"
    return tuple(out)


_EXPECTED = {
    "int_parsing": "an integer", "int_type": "an integer", "int_from_float": "an integer",
    "float_parsing": "a number", "float_type": "a number", "bool_parsing": "true or false", "bool_type": "true or false",
    "string_type": "text", "less_than_equal": "at most {le}", "greater_than_equal": "at least {ge}",
    "greater_than": "more than {gt}", "less_than": "less than {lt}", "date_parsing": "a date like 2027-06-30",
    "date_from_datetime_parsing": "a date like 2027-06-30", "date_type": "a date like 2027-06-30",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "list_type": "a list", "tuple_type": "a list", "string_too_short": "at least {min_length} character(s)",
    "string_too_long": "at most {max_length} character(s)",
}


def _describe(err: dict) -> str:
    loc = ".".join(str(p) for p in _clean_loc(err["loc"]))
    etype, found = err["type"], err.get("input")
    ctx = err.get("ctx") or {}
    if etype == "union_tag_invalid":
        return f"{loc}: unknown operator {ctx.get('tag')!r}; expected one of {', '.join(OPERATOR_NAMES)}"
    if etype == "union_tag_not_found":
        return f"{loc}: expected an operator name under 'op', found {found!r}"
    if etype == "missing":
        return f"{loc}: expected a value, found nothing"
    if etype == "extra_forbidden":
        return f"{loc}: unknown key (found {found!r}); check the spelling against the catalog reference"
    if etype == "value_error":
        msg = str(ctx.get("error", err["msg"]))
        # Errors raised in model validators start with the key they are about ("subject_key: expected ...").
        if re.match(r"^[\w.]+: ", msg):
            return f"{loc}.{msg}" if loc else msg
        return f"{loc}: {msg}" if loc else msg
    if etype == "literal_error":
        return f"{loc}: expected {ctx.get('expected')}, found {found!r}"
    expected = _EXPECTED.get(etype)
    if expected:
        return f"{loc}: expected {expected.format(**ctx)}, found {found!r}"
    return f"{loc}: {err['msg'].lower()}, found {found!r}"


def policy_hash(raw: dict) -> str:
    """SHA-256 of what the catalog declares that changes released data: every declaration but where the lake is
    (``lake.root``: two spellings of one lake are one policy) and the descriptions (words for the data dictionary)."""
    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "description"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    declared = strip(raw)
    if isinstance(declared.get("lake"), dict):
        declared["lake"] = {k: v for k, v in declared["lake"].items() if k != "root"}
    return hashlib.sha256(json.dumps(declared, sort_keys=True, default=str).encode()).hexdigest()


def load_catalog(path: str | Path, *, root: str | Path | None = None) -> Catalog:
    """Read and validate a catalog file. ``lake.root`` is resolved relative to the file (or set by ``root``).

    Raises PolicyError("<file>: <key>: expected ..., found ...") on the first problem; nothing is read but the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"{path}: cannot read the catalog ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise PolicyError(f"{path}: cannot read the catalog (not UTF-8 text, byte {e.start})") from e
    try:
        raw = strict_yaml.load(text)
    except strict_yaml.StrictYamlError as e:
        raise PolicyError(f"{path}: {e}") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise PolicyError(f"{path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from e
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: expected a mapping with lake, datasets and releases, found {type(raw).__name__}")
    return catalog_from_dict(raw, source=path, root=root)


def catalog_from_dict(raw: dict, *, source: Path | None = None, root: str | Path | None = None) -> Catalog:
    name = str(source) if source else "<catalog>"
    data = dict(raw)
    lake = dict(data.get("lake") or {}) if isinstance(data.get("lake"), dict) else data.get("lake")
    if not isinstance(lake, dict):
        raise PolicyError(f"{name}: lake: expected a mapping with root and region, found {type(lake).__name__}")
    if root is not None:
        lake["root"] = str(root)
    elif "root" in lake and (not isinstance(lake["root"], str) or not lake["root"].strip()):
        raise PolicyError(f"{name}: lake.root: expected the lake's folder (a path, relative to the catalog file or "
                          f"absolute) or an s3:// URI, found {lake['root']!r}")
    elif (source is not None and "root" in lake and not is_uri(lake["root"])
          and not Path(str(lake["root"])).is_absolute()):
        lake["root"] = str((source.parent / str(lake["root"])).resolve())
    data["lake"] = lake
    holds = []
    for h in data.get("legal_holds") or []:
        h = dict(h)
        if source is not None and h.get("subjects_file") and not Path(str(h["subjects_file"])).is_absolute():
            h["subjects_file"] = str(source.parent / str(h["subjects_file"]))
        holds.append(h)
    if holds:
        data["legal_holds"] = holds
    try:
        cat = Catalog.model_validate(data)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise PolicyError(f"{name}: {_describe(first)}{more}") from e
    return cat.model_copy(update={"source": source, "policy_hash": policy_hash(raw)})
