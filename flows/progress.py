"""Progress of long work: a terminal bar (when stderr is a terminal) and a Prefect progress artifact (inside a
flow run), moved together."""

from __future__ import annotations

import sys


class Progress:
    """``advance(n)`` as work completes, ``close()`` at the end (or use it as a context manager). The artifact is
    updated every tenth of the way, not on every step: each update is an API call."""

    def __init__(self, total: int, label: str):
        self.total, self.done, self.bar, self.artifact = total, 0, None, None
        if sys.stderr.isatty():
            from rich.progress import Progress as Bar

            self.bar = Bar(transient=True)
            self.bar.start()
            self.task = self.bar.add_task(label, total=total)
        try:
            from prefect.artifacts import create_progress_artifact

            self.artifact = create_progress_artifact(progress=0.0, description=label)
        except Exception:  # noqa: BLE001  (no flow run or no API: a bar is enough)
            self.artifact = None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.bar:
            self.bar.update(self.task, completed=self.done)
        if self.artifact is not None and (self.done == self.total or self.done // 10 != (self.done - n) // 10):
            from prefect.artifacts import update_progress_artifact

            update_progress_artifact(self.artifact, progress=100.0 * self.done / max(1, self.total))

    def close(self) -> None:
        if self.bar:
            self.bar.stop()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_callback(label: str):
    """A ``(done, total)`` callback for plain-Python work that learns its total as it goes (the purge's actions):
    the :class:`Progress` is made at the first call and closed when ``done`` reaches ``total``."""
    current: list[Progress] = []

    def tick(done: int, total: int) -> None:
        if not current:
            current.append(Progress(total, label))
        current[0].advance(done - current[0].done)
        if done >= total:
            current[0].close()

    return tick
