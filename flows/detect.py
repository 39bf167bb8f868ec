"""`piiflow detect`'s streaming engine: JSONL records in, findings out, in input order, on any number of lines.

Lines are read and parsed in the calling process and cut into batches. The first batch is analysed in process (a
one-batch input never pays for workers); when there are more and ``workers`` > 1, the next batches go to a pool of
worker processes, which start on them while the caller analyses the first. Each worker has its own detection engine
(forked from the caller's where the platform forks, so it is built once), with at most two batches per worker in
flight, so memory stays bounded however long the input. Texts repeat: the caller keeps
the findings of texts already analysed and sends the workers only the distinct texts of a batch it does not know
yet; each engine also remembers recent distinct texts (see :class:`transforms.detection.PiiflowAnalyzer`).
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Iterable, Iterator

from configs.errors import PolicyError

#: (text, language or None) per record of a batch.
Batch = list[tuple[str, str | None]]
_ENGINE = None


def _use_engine(engine) -> None:
    global _ENGINE
    _ENGINE = engine


def _init_worker(threshold: float, ner_model: str | None) -> None:
    """Pool initializer: keep the forked engine, or build one where processes are spawned."""
    if _ENGINE is None:
        from configs.settings import Settings
        from transforms.detection import build_analyzer

        _use_engine(build_analyzer(Settings(score_threshold=threshold, ner_model=ner_model)))


def _analyze(batch: Batch) -> list[list[tuple[str, int, int, float]]]:
    return [[(f.type, f.start, f.end, f.score) for f in _ENGINE.findings(text, lang)] for text, lang in batch]


def _parse(lines: Iterable[str], batch_size: int) -> Iterator[tuple[list, Batch]]:
    """(ids, [(text, language)]) per batch; a malformed line raises PolicyError naming its line number."""
    ids: list = []
    batch: Batch = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            rid, text = rec["id"], rec["text"]
            lang = rec.get("language")
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise PolicyError(f"stdin line {n}: expected a JSON object with id and text ({type(e).__name__})") from None
        if text is not None and not isinstance(text, str):
            raise PolicyError(f"stdin line {n}: expected text to be a string, found {type(text).__name__}")
        ids.append(rid)
        batch.append((text or "", lang if isinstance(lang, str) else None))
        if len(batch) >= batch_size:
            yield ids, batch
            ids, batch = [], []
    if batch:
        yield ids, batch


def _render(ids: list, found: list) -> str:
    return "".join(json.dumps({"id": rid, "entities": [{"type": t, "start": s, "end": e, "score": sc}
                                                         for t, s, e, sc in fs]}, ensure_ascii=False) + "\n"
                   for rid, fs in zip(ids, found))


def detect_lines(lines: Iterable[str], engine, workers: int = 1, batch_size: int = 2000,
                 threshold: float = 0.5, ner_model: str | None = None) -> Iterator[str]:
    """Output JSONL chunks, one per input batch, in input order.

    ``engine`` is the caller's :class:`~transforms.detection.PiiflowAnalyzer` (built from ``threshold`` and
    ``ner_model``, which spawned workers rebuild it from).
    """
    _use_engine(engine)
    batches = _parse(lines, batch_size)
    first = next(batches, None)
    if first is None:
        return
    second = next(batches, None) if workers > 1 else None
    if second is None:  # one batch, or one process: no pool
        yield _render(first[0], _analyze(first[1]))
        for ids, batch in batches:
            yield _render(ids, _analyze(batch))
        return
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    # Texts repeat (logs, chat): the findings of texts already analysed are kept here, and a batch sends the
    # workers only its distinct texts not yet known, so no text is analysed once per worker.
    known: dict = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(threshold, ner_model)) as pool:
        pending: deque[tuple[list, Batch, Batch, Future]] = deque()

        def finish(ids: list, batch: Batch, sent: Batch, fut: Future) -> str:
            own = dict(zip(sent, fut.result()))
            if len(known) < _KNOWN_MAX:  # entries are never dropped: batches in flight count on them
                known.update(own)
            return _render(ids, [own[item] if item in own else known[item] for item in batch])

        def submit(ids: list, batch: Batch) -> None:
            sent = [item for item in dict.fromkeys(batch) if item not in known]
            pending.append((ids, batch, sent, pool.submit(_analyze, sent)))

        rest = itertools.chain([second], batches)
        # The workers start on the next batches while this process analyses the first one itself.
        for ids, batch in itertools.islice(rest, 2 * workers):
            submit(ids, batch)
        first_found = _analyze(first[1])
        known.update(zip(first[1], first_found))
        yield _render(first[0], first_found)
        for ids, batch in rest:
            yield finish(*pending.popleft())
            submit(ids, batch)
        while pending:
            yield finish(*pending.popleft())


#: Findings of about this many distinct texts are kept between batches (then no more are added: memory stays
#: bounded, and texts not seen by then are analysed by the workers as they come).
_KNOWN_MAX = 200_000
