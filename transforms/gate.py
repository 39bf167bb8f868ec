"""The release gate's verdicts (DESIGN.md, clause 6.5): whether a de-identified partition may be published, what
its manifest records, and what a release run amounts to. Pure: the evidence comes in (policy problems, re-scan
leaks, the k-anonymity report), records and reasons go out; ``flows.deidentify`` reads, writes and publishes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from configs.catalog import Release
from transforms.consent import LEFT_OUT_REASONS
from transforms.policy import KReport, Leak


@dataclass
class PartitionResult:
    dataset: str
    dt: str
    status: str  # published (possibly with every row suppressed) | skipped (unchanged) | blocked | unreadable
    rows_in: int = 0
    rows_out: int = 0
    suppressed: int = 0
    path: str = ""
    reasons: list[str] = field(default_factory=list)
    gate: dict = field(default_factory=dict)
    staged: str = ""  # a gated partition written but not yet moved into place (see deidentify_flow)
    seconds: float = 0.0  # time spent on it, recorded in the manifest to balance the next run's tasks
    redo: str = ""  # why it was (re)built: one of REDO_REASONS; empty when skipped
    left_out: dict = field(default_factory=dict)  # rows the release's purpose left out, by reason (counts only)
    #: What the partition refused without being blocked (rows of another day in a dated file, naming the file).
    problems: list = field(default_factory=list)

    def log_line(self, release: str) -> str:
        """One line for the run's log: which partition, what happened and why, in counts (never a value)."""
        head = f"{release} {self.dataset} {self.dt}: {self.status}"
        if self.status == "skipped":
            return head + " (unchanged: inputs, policy, key and ledger as when it was published)"
        if self.status == "unreadable":
            return head + " (its input could not be read; the published version, if any, stays)"
        left = ", ".join(f"{n:,} ({why})" for why, n in self.left_out.items())
        return (head + f" ({self.redo}); {self.rows_in:,} rows in, {self.rows_out:,} out, {self.suppressed:,} "
                f"suppressed" + (f"; left out {left}" if left else "")
                + (f"; {len(self.reasons)} reason(s) to block" if self.reasons else ""))


#: Why a partition is (re)built, in the order they are told apart: never published, ``--force``, an input file
#: added, removed or changed, the catalog's policy, the pseudonymisation key, whom the release leaves out of it
#: (``consent``: an objection, a withdrawal of consent or a minor's status that reaches its subjects), the erasure
#: ledger or the dataset's quarantine list, or (``fingerprint``) a manifest from an earlier version of piiflow that
#: records no parts.
REDO_REASONS = ("new", "forced", "input", "policy", "key", "consent", "ledger", "fingerprint")


def redo_reason(manifest: dict | None, *, fingerprint: str, inputs: list[dict], policy_hash: str,
                key_fingerprint: str, state_digest: str, force: bool, exclusion_digest: str = "",
                levels: dict[str, str] | None = None) -> str | None:
    """Why a partition must be (re)built given its published ``manifest``, or None: it is unchanged and skipped.
    ``levels``: the quasi-identifiers' levels the release now has (a partition published at others is redone)."""
    if not manifest:
        return "new"
    if force:
        return "forced"
    if manifest.get("input_fingerprint") == fingerprint:
        if levels is not None and manifest.get("gate", {}).get("k_anonymity", {}).get("generalisation") != levels:
            return "levels"
        return None
    before = [(i.get("path"), i.get("bytes"), i.get("sha256")) for i in manifest.get("inputs", [])]
    if before != [(i["path"], i["bytes"], i["sha256"]) for i in inputs]:
        return "input"
    if manifest.get("policy_hash") != policy_hash:
        return "policy"
    if manifest.get("key_fingerprint") != key_fingerprint:
        return "key"
    if manifest.get("exclusion_digest", "") != exclusion_digest:
        return "consent"
    if "state_digest" in manifest and manifest["state_digest"] != state_digest:
        return "ledger"
    return "fingerprint"


def judge(dataset: str, rel: Release, policy: list[str], undeclared: list[str], leaks: list[Leak],
          krep: KReport) -> tuple[dict, list[str]]:
    """The gate's record of one partition (for its manifest) and the reasons it is blocked (none: publish).

    Blocked: a policy problem, a re-scan leak, k not reached, or more rows suppressed than ``max_suppression``
    allows. A partition with fewer rows than k (a quiet day, what is left of a day partly past retention) is not
    blocked for that: no generalisation releases any of its rows, so it is released empty and the record says
    ``fewer_rows_than_k``; :func:`block_releases_left_empty` then allows it only while the dataset's release keeps
    rows in other partitions. (With every quasi-identifier hidden, every row is in one class, since a hidden value is
    a null like a missing one: a partition of k rows or more can always be released.)"""
    gate = {"policy": policy, "undeclared_columns_dropped": undeclared,
            "rescan_leaks": [leak.__dict__ for leak in leaks], "k_anonymity": krep.as_dict()}
    reasons = list(policy) + [f"{dataset}.{leak.column}: re-scan found {leak.count} {leak.entity_type} value(s), "
                              f"e.g. {leak.evidence}" for leak in leaks]
    if krep.rows_in - krep.suppressed and (krep.k_reached or 0) < rel.k_anonymity:
        reasons.append(f"{dataset}: k={krep.k_reached} below the release's k={rel.k_anonymity}")
    if not krep.within_budget and krep.rows_in < rel.k_anonymity:
        gate["k_anonymity"]["fewer_rows_than_k"] = True
    elif not krep.within_budget:
        reasons.append(f"{dataset}: k={rel.k_anonymity} unreachable: even fully generalised, {krep.suppressed} of "
                       f"{krep.rows_in} rows would be suppressed (max_suppression {rel.max_suppression:.0%})")
    return gate, reasons


def block_releases_left_empty(results: list[PartitionResult], k: int, kept_rows: dict[tuple[str, str], int]) -> None:
    """Partitions with fewer rows than k are released empty, but not when that leaves a dataset's whole release
    empty (every partition processed in this run too small, and none kept from earlier runs with rows: skipped
    partitions' rows are ``kept_rows[(dataset, dt)]``): that is a k the data cannot reach, and those partitions are
    blocked."""
    def rows_after(r: PartitionResult) -> int:
        if r.status == "published":
            return r.rows_out
        return kept_rows.get((r.dataset, r.dt), 0) if r.status == "skipped" else 0

    for ds in {r.dataset for r in results}:
        mine = [r for r in results if r.dataset == ds]
        small = [r for r in mine if r.status == "published" and _released_empty(r)]
        if small and not any(rows_after(r) for r in mine if r not in small):
            for r in small:
                r.status = "blocked"
                r.reasons.append(f"{ds}: k={k} unreachable: every partition has fewer than {k} rows, the release "
                                 f"would be empty")


def _released_empty(r: PartitionResult) -> bool:
    k = r.gate.get("k_anonymity", {})
    return bool(k.get("fewer_rows_than_k") or k.get("no_class_reaches_k"))  # (the latter: manifests before 2026-12)


def partition_manifest(*, release: str, rel: Release, result: PartitionResult, policy_hash: str,
                       key_fingerprint: str, input_fingerprint: str, inputs: list[dict], outputs: list[dict],
                       created_at: str, state_digest: str = "", exclusion_digest: str = "") -> dict:
    """What a published partition's ``_manifest.json`` says: where it came from (inputs and their content hashes,
    the policy, the key's fingerprint), what was done (counts, time) and the gate's evidence."""
    return {
        "release": release, "recipient": rel.recipient, "purpose": rel.purpose, "dataset": result.dataset,
        "dt": result.dt, "created_at": created_at, "policy_hash": policy_hash, "key_fingerprint": key_fingerprint,
        "input_fingerprint": input_fingerprint, "state_digest": state_digest, "redo": result.redo, "inputs": inputs,
        "rows": {"in": result.rows_in, "out": result.rows_out, "suppressed": result.suppressed},
        # rows the release's purpose left out before de-identification (objection, withdrawal, minors), and a hash
        # of whom (keyed hashes): counts only
        "left_out": result.left_out, "exclusion_digest": exclusion_digest,
        "seconds": result.seconds, "gate": result.gate, "outputs": outputs,
    }


def release_summary(release: str, rel: Release, path: str, results: list[PartitionResult],
                    problems: list | None = None) -> dict:
    """A release run in figures. ``status`` is ``blocked`` when any partition was (nothing was published), else
    ``published``; ``blocked`` always counts partitions. ``problems`` lists what the run refused or could not read
    (partitions whose input was unreadable were not published; the others were)."""
    blocked = sum(r.status == "blocked" for r in results)
    unreadable = [reason for r in results if r.status == "unreadable" for reason in r.reasons]
    unreadable += [p for r in results if r.status == "published" for p in r.problems]
    return {
        "release": release, "recipient": rel.recipient, "path": path,
        "status": "blocked" if blocked else "published",
        "problems": [str(p) for p in dict.fromkeys(problems or [])] + unreadable,
        "partitions": [r.__dict__ for r in results],
        "published": sum(r.status == "published" for r in results),
        "skipped": sum(r.status == "skipped" for r in results),
        # why the partitions of this run were built: {reason: partitions} (see REDO_REASONS)
        "redone": {why: n for why in REDO_REASONS
                   if (n := sum(r.redo == why for r in results if r.status in ("published", "blocked")))},
        "blocked": blocked,
        "rows_in": sum(r.rows_in for r in results), "rows_out": sum(r.rows_out for r in results),
        "suppressed": sum(r.suppressed for r in results),
        "left_out": {why: n for why in LEFT_OUT_REASONS
                     if (n := sum(r.left_out.get(why, 0) for r in results))},
        # columns some partition of this run had to hide entirely to reach k (the data allows no finer level there):
        # suppressed, or generalised to a level that keeps nothing (an IP's /0: all of its information lost)
        "hidden_columns": sorted({f"{r.dataset}.{c}" for r in results if r.status == "published"
                                  for c, g in r.gate.get("k_anonymity", {}).get("generalisation", {}).items()
                                  if g == "suppress" or r.gate["k_anonymity"].get(
                                      "information_loss_by_column", {}).get(c, 0.0) >= 0.9999}),
    }
