"""The domain exceptions. Messages never carry a raw identifier: only names, counts and masked evidence."""


class PiiflowError(Exception):
    """Base of every error piiflow raises on purpose; the CLI prints its message as one line."""


class PolicyError(PiiflowError):
    """The catalog, or a request made against it, is invalid. Raised before any data is touched."""


class ReleaseBlocked(PiiflowError):
    """A release partition failed its gate; nothing was published."""

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report or {}


class StorageError(PiiflowError):
    """Reading or writing a dataset failed, or a write would leave the allowed regions."""


class LakeBusy(StorageError):
    """Another piiflow run holds the lake's lock: nothing was done."""


class RunIncomplete(PiiflowError):
    """A run did everything it safely could, but refused or could not handle some things (a link, a file that
    cannot be read, a folder that is no partition). ``result`` is what it did; its ``problems`` say the rest."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result or {}


def incomplete(what: str, problems: list, result: dict) -> RunIncomplete:
    """The error a run raises at its end when ``problems`` is not empty: one line, the first problem, the count."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return RunIncomplete(f"{what}: done except for {len(problems)} problem(s): {problems[0]}{more}", result)
