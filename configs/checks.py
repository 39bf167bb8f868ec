"""Checks of a request against the catalog's declarations: the release and dataset names, the date range, the
policy's releasability. Importable without Prefect, Presidio or the data, so that a bad call fails in a second,
before anything starts."""

from __future__ import annotations

from datetime import date

from configs.catalog import CONSENT_KINDS, LAWFUL_AFTER_WITHDRAWAL, PURPOSES, Catalog, Dataset
from configs.errors import PolicyError, ReleaseBlocked
from configs.operators import DIRECT_SAFE_OPERATORS, FREE_TEXT_SAFE_OPERATORS


def policy_violations(name: str, dataset: Dataset, *, anonymised: bool) -> list[str]:
    """Declarations that would let an identifier out: a direct column not dropped or keyed-pseudonymised, free
    text neither dropped nor redacted. Empty when the policy is releasable."""
    problems = []
    for col, pol in dataset.columns.items():
        if pol.kind == "direct" and pol.op.op not in DIRECT_SAFE_OPERATORS:
            problems.append(f"{name}.{col}: direct identifier with operator {pol.op.op!r}; expected drop or "
                            f"pseudonymize")
        if pol.kind == "free_text" and pol.op.op not in FREE_TEXT_SAFE_OPERATORS:
            problems.append(f"{name}.{col}: free text with operator {pol.op.op!r}; expected drop or redact_entities")
        if anonymised and pol.kind == "sensitive" and pol.op.op == "keep":
            problems.append(f"{name}.{col}: reversible operator 'keep' in a release marked anonymised")
    return problems


def check_dataset(catalog: Catalog, dataset: str | None) -> None:
    """Refuse a dataset the catalog does not declare, before anything is read."""
    if dataset is not None and dataset not in catalog.datasets:
        raise PolicyError(f"{catalog.source}: dataset {dataset!r} is not declared; expected one of "
                          f"{', '.join(catalog.datasets)}")


def check_range(start: date | None, end: date | None, *, today: date | None = None) -> None:
    """Refuse a range that ends before it starts (both ends are included)."""
    if start and end and end < start:
        raise PolicyError(f"--end {end} is before --start {start} (both dates are included)")


def check_release_request(catalog: Catalog, release: str, start: date | None, end: date | None) -> None:
    """Refuse, before any data is read, a release the catalog does not declare, a range that ends before it starts,
    or a policy that would let an identifier out."""
    if release not in catalog.releases and release not in catalog.aggregates:
        raise PolicyError(f"{catalog.source}: release {release!r} is not declared; expected one of "
                          f"{', '.join([*catalog.releases, *catalog.aggregates]) or '(none)'}")
    check_range(start, end)
    if release in catalog.aggregates:
        return  # what an aggregate may count by was checked when the catalog loaded
    rel = catalog.releases[release]
    problems = [p for ds in rel.datasets for p in policy_violations(ds, catalog.datasets[ds],
                                                                      anonymised=rel.anonymised)]
    if problems:
        raise ReleaseBlocked(f"release {release!r} blocked before reading data: {problems[0]}"
                             + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                             {"policy": problems})


def check_erase_request(subjects_file: object | None, org: str | None, ledger: bool) -> None:
    """An erasure names subjects or an organisation, or (``ledger``) re-applies processed requests: not both."""
    if ledger and (subjects_file or org):
        raise PolicyError("erase: --ledger re-applies processed requests; give it no --subjects or --org")
    if not ledger and not subjects_file and org is None:
        raise PolicyError("erase: expected subject ids (--subjects FILE) or an organisation (--org ID), found "
                          "neither (or --ledger)")


def check_consent_request(kind: str, purposes: list[str] | tuple[str, ...] | None) -> None:
    """An objection names purposes from the vocabulary, none the law allows without consent; a withdrawal names
    none (it reaches every purpose but those)."""
    if kind not in CONSENT_KINDS:
        raise PolicyError(f"expected a request kind of {', '.join(CONSENT_KINDS)}, found {kind!r}")
    purposes = list(purposes or [])
    if kind == "withdrawal":
        if purposes:
            raise PolicyError("withdraw: a withdrawal of consent reaches every purpose but "
                              f"{', '.join(LAWFUL_AFTER_WITHDRAWAL)}; give it no --purpose")
        return
    if not purposes:
        raise PolicyError(f"object: expected --purpose (one of {', '.join(PURPOSES)}), found none")
    for p in purposes:
        if p not in PURPOSES:
            raise PolicyError(f"object: --purpose: expected one of {', '.join(PURPOSES)}, found {p!r}")
        if p in LAWFUL_AFTER_WITHDRAWAL:
            raise PolicyError(f"object: --purpose {p}: the law allows it without consent (clause 8.3); an objection "
                              f"cannot reach it")


#: How a discontinued product's data ends (clause 5.2.2).
SUNSET_MODES = ("delete", "anonymise")


def check_sunset_request(catalog: Catalog, datasets: list[str] | tuple[str, ...], mode: str) -> None:
    """A sunset names declared datasets and a mode; anonymising needs each dataset's event time (it is archived by
    date) and a policy that releases no identifier."""
    if mode not in SUNSET_MODES:
        raise PolicyError(f"sunset: --mode: expected one of {', '.join(SUNSET_MODES)}, found {mode!r}")
    if not datasets:
        raise PolicyError("sunset: expected the discontinued product's datasets (--datasets a,b), found none")
    twice = sorted({d for d in datasets if list(datasets).count(d) > 1})
    if twice:
        raise PolicyError(f"sunset: --datasets: expected each dataset once, found {', '.join(twice)} more than once")
    for name in datasets:
        check_dataset(catalog, name)
        ds = catalog.datasets[name]
        if mode != "anonymise":
            continue
        if ds.event_time is None:
            raise PolicyError(f"sunset: {name} has no event_time to archive it by date; use --mode delete")
        # the archive drops every direct column whatever its policy says; the others must be releasable as declared
        others = ds.model_copy(update={"columns": {c: p for c, p in ds.columns.items() if p.kind != "direct"}})
        problems = policy_violations(name, others, anonymised=True)
        if problems:
            raise PolicyError(f"sunset: {name} cannot be anonymised under its policy: {problems[0]}")
