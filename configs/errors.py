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
