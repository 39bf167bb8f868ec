"""piiflow's Chinese named-entity model: a character-level linear-chain CRF (CRFsuite, through python-crfsuite).

Each character is described by the characters around it (unigrams and bigrams in a window of two), its script,
where it stands in jieba's dictionary segmentation and that word's part of speech, piiflow's own name and place
statistics (how likely the character is to start a Chinese name or to be part of a given name, whether it ends a
place-kind word such as 路, 街, 号, whether the word is a known place), the Latin word it is part of, and what the
name and address rules propose there. The model labels characters ``B-``/``I-`` ``PER`` (a person's name), ``ADR``
(an address or a named place, CLUENER's convention), ``LOC`` (a place as news corpora tag it), and, never reported
but learnt so that the model can tell them apart, ``ORG`` (北京 in 北京大学 is not a place), ``WRK`` (a title: 刘老根
in 《刘老根》 is not a person) and ``POS`` (a position: 董事长), or ``O``.

The model file ships in the package (``transforms/models/zh_ner.crfsuite``); ``make train-ner`` rebuilds it from
``../shared/ner-corpus/`` (see :mod:`flows.train_ner`). This module is pure: features, labels and decoding.
Spans come with the model's marginal probability of their labels (the mean over their characters), which is what
:class:`transforms.recognizers.cn_ner_recognizer.ChineseNerRecognizer` turns into a score.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

MODEL_PATH = Path(__file__).parent / "models" / "zh_ner.crfsuite"
#: Whether the shipped model reads LAC's tags (:mod:`transforms.lac`) among its features: it was trained so, and
#: must be given them to label a text (``make train-ner`` trains it so).
LAC_FEATURES = True
#: The release engine's second model: the same features but LAC's, so that it errs where the first does not (on
#: cross-validation folds the union of both and LAC found more names and addresses at higher precision than either
#: model with LAC; see docs/detection-model.md). ``make train-ner`` trains it too.
RECALL_MODEL_PATH = Path(__file__).parent / "models" / "zh_ner_recall.crfsuite"
#: The model's entity labels and the corpus types they learn from.
LABELS = ("PER", "ADR", "LOC", "ORG", "WRK", "POS")
#: Corpus ``type`` -> model label, per source corpus. CLUENER and CCF label addresses and place names alike
#: (``ADR``); the news corpora and Weibo label places as ``LOC``. Nominal mentions (老师, 妈妈) are not names.
#: CLUENER's scenes (洱海, 帝国大厦, 时代广场) are named places, so ``ADR`` too. Titles of works (books, films,
#: games: ``WRK``) and positions (董事长, 主教练: ``POS``) are learnt though never reported: a name inside a title
#: (《刘老根》) is no person, and a position is where a name often starts.
_CLUE = {"PERSON": "PER", "ADDRESS": "ADR", "SCENE": "ADR", "ORGANIZATION": "ORG", "BOOK": "WRK", "MOVIE": "WRK",
         "GAME": "WRK", "POSITION": "POS"}
LABEL_MAP = {
    "cluener": _CLUE,
    "ccf": _CLUE,
    "news": {"PERSON": "PER", "LOCATION": "LOC", "ORGANIZATION": "ORG"},
}
SOURCE_KIND = {"cluener2020-train": "cluener", "ccf-bdci2020": "ccf", "weibo-train": "news",
               "peoples-daily-dev": "news", "peoples-daily-test": "news", "msra-val": "news", "msra-test": "news"}
#: Characters that end a place-kind word: provinces to rooms.
_PLACE_END = frozenset("省市区县旗镇乡村路街道巷弄号栋幢座室楼层园厦场苑里湾坊寓")
#: The longest text the model labels in one sequence; longer texts are cut at sentence ends (or hard).
MAX_SEQUENCE = 400
_SENTENCE_END = frozenset("。！？；!?;\n")
#: A character whose probability of being outside every entity is at least this has every label's probability
#: taken as 0 (below any threshold used), which saves most marginal computations.
SURE_OUTSIDE = 0.98


@dataclass(frozen=True)
class Span:
    label: str
    start: int
    end: int
    probability: float


def _norm(ch: str) -> str:
    """Full-width forms folded to ASCII, letters lower-cased, every digit written 0."""
    if "\uff01" <= ch <= "\uff5e":
        ch = chr(ord(ch) - 0xFEE0)
    if ch.isdigit():
        return "0"
    return ch.lower()


def _script(ch: str) -> str:
    if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
        return "H"
    if ch.isdigit():
        return "D"
    if ch.isascii() and ch.isalpha():
        return "L"
    if ch.isspace():
        return "S"
    return "P" if unicodedata.category(ch).startswith("P") else "O"


@functools.lru_cache(maxsize=1)
def _statistics():
    """(surname set, compound surnames, surname LLR, given-name LLR, word tags, place set) from piiflow's person and
    address recognizers, loaded once."""
    from transforms.recognizers import cn_address_recognizer as addr
    from transforms.recognizers import person_recognizer as person

    surnames, tags, _ = person._lexicon()
    first, given = person._name_model()
    return surnames, frozenset(person.COMPOUND_SURNAMES), first, given, tags, addr.PLACE_SET


def _bucket(x: float | None) -> str:
    if x is None:
        return "n"
    return str(max(-3, min(4, int(x // 1))))


def features(text: str, words: Sequence[tuple[int, int, str]], hints: Iterable[tuple[int, int, str]] = (),
             lac: Sequence[str] | None = None) -> list[list[str]]:
    """CRFsuite features of every character of ``text``; ``words`` is jieba's segmentation of it as
    (start, end, word); ``hints`` are (start, end, tag) spans the rules propose (:func:`rule_hints`): the model
    learns how far to trust each; ``lac`` is LAC's reading of each character (:func:`transforms.lac.tags`), the
    second reader's word position and tag, with its neighbours'."""
    _, compounds, _, _, tags, places = _statistics()
    n = len(text)
    c = [_norm(ch) for ch in text]
    s = [_script(ch) for ch in text]
    pad = ["^", "^"] + c + ["$", "$"]
    spad = ["^", "^"] + s + ["$", "$"]
    wpos = [""] * n
    wtag = [""] * n
    wplace = [False] * n
    wword = [""] * n
    for start, end, w in words:
        tag = tags.get(w, "?") if len(w) > 1 else tags.get(w, "?1")
        known = w in places or w.rstrip("省市县") in places
        length = end - start
        for k in range(start, end):
            wpos[k] = "S" if length == 1 else ("B" if k == start else "E" if k == end - 1 else "M")
            wtag[k] = tag
            wplace[k] = known
            if 2 <= length <= 4:
                wword[k] = w
    latin = _latin_runs(text)
    hint: list[list[str]] = [[] for _ in range(n)]
    for start, end, tag in hints:
        for k in range(start, min(end, n)):
            hint[k].append("h=" + ("B" if k == start else "I") + tag)
    # column by column (a list comprehension per feature), then one row per character: several times faster
    # than building each character's row in turn
    cm2, cm1, c0, cp1, cp2 = pad[:n], pad[1:n + 1], pad[2:n + 2], pad[3:n + 3], pad[4:n + 4]
    w = [a + b for a, b in zip(wpos, wtag)]
    static = [_char_static(ch) for ch in text]
    cols = (["c=" + x for x in c0], ["c-1=" + x for x in cm1], ["c+1=" + x for x in cp1],
            ["c-2=" + x for x in cm2], ["c+2=" + x for x in cp2],
            ["cc-1=" + a + b for a, b in zip(cm1, c0)], ["cc+1=" + a + b for a, b in zip(c0, cp1)],
            ["cc-2=" + a + b for a, b in zip(cm2, cm1)], ["cc+2=" + a + b for a, b in zip(cp1, cp2)],
            ["c-+=" + a + b for a, b in zip(cm1, cp1)],
            ["s=" + a + b + c for a, b, c in zip(spad[1:n + 1], spad[2:], spad[3:])],
            ["w=" + x for x in w], ["w-1=" + x for x in ["^"] + w[:-1]], ["w+1=" + x for x in w[1:] + ["$"]],
            [x[0] for x in static], [x[1] for x in static],
            ["ccc=" + a + b + c for a, b, c in zip(cm1, c0, cp1)])
    out = [["b", *row] for row in zip(*cols)]
    for i, f in enumerate(out):
        if wword[i]:
            f.append("ww=" + wword[i])
        f += static[i][2]
        if text[i:i + 2] in compounds:
            f.append("sur2")
        if wplace[i]:
            f.append("pl")
        if hint[i]:
            f += hint[i]
        if latin[i]:
            f += latin[i]
    if lac is not None:
        lp = ["^"] + list(lac) + ["$"]
        for i, f in enumerate(out):
            f += ("L=" + lp[i + 1], "L-1=" + lp[i], "L+1=" + lp[i + 2], "LL=" + lp[i + 1] + lp[i + 2],
                  "Lc=" + lp[i + 1] + c[i])
    return out


@functools.lru_cache(maxsize=16384)
def _char_static(ch: str) -> tuple[str, str, tuple[str, ...]]:
    """A character's own features, whatever surrounds it: its name-statistics buckets, and whether it is a
    surname or ends a place-kind word."""
    surnames, _, first, given, _, _ = _statistics()
    flags = (("sur",) if ch in surnames else ()) + (("pe",) if ch in _PLACE_END else ())
    return "sl=" + _bucket(first.get(ch)), "gl=" + _bucket(given.get(ch)), flags


def _latin_runs(text: str) -> list[list[str] | None]:
    """Per character of a run of Latin letters, features of the whole run: the word itself (lower-cased), its shape
    (capitalised, all capitals, camel case), its length and whether it is a first or last name Faker knows (Tomo,
    Anita, JamesCameron as a first name glued to a last): the character n-grams alone cannot see a word."""
    from transforms.recognizers.person_recognizer import _latin_names

    first, last = _latin_names()
    out: list[list[str] | None] = [None] * len(text)
    for m in _LATIN_RUN.finditer(text):
        w = m.group()
        shape = ("A" if w.isupper() else "C" if w[0].isupper() and w[1:].islower() else
                 "M" if w[0].isupper() else "l")
        f = ["lw=" + w.lower(), "ls=" + shape, "ll=" + str(min(len(w), 9))]
        head = _CAMEL.match(w)
        if w.capitalize() in first or (head and head.group() in first):
            f.append("lfn")
        if w.capitalize() in last:
            f.append("lln")
        for k in range(m.start(), m.end()):
            out[k] = f + ["lp=" + ("B" if k == m.start() else "E" if k == m.end() - 1 else "M")]
    return out


_LATIN_RUN = re.compile(r"[A-Za-z]{2,}")
_CAMEL = re.compile(r"[A-Z][a-z]+(?=[A-Z])")


def rule_hints(text: str) -> list[tuple[int, int, str]]:
    """The Chinese-name rule's candidates (:meth:`PersonRecognizer._chinese`) and the address rules' findings
    (:func:`address_candidates`), each tagged with its kind and its score in tenths: features for the model, at
    training and at inference alike."""
    from transforms.recognizers.cn_address_recognizer import address_candidates
    from transforms.recognizers.person_recognizer import chinese_name_candidates

    return ([(r.start, r.end, "p" + str(int(r.score * 10))) for r in chinese_name_candidates(text)]
            + [(r.start, r.end, "a" + str(int(r.score * 10))) for r in address_candidates(text)])


def bio(text: str, spans: Iterable[tuple[str, int, int]]) -> list[str]:
    """BIO labels of every character for (label, start, end) spans; overlapping spans keep the first."""
    labels = ["O"] * len(text)
    for label, start, end in spans:
        if start >= end or any(x != "O" for x in labels[start:end]):
            continue
        labels[start] = "B-" + label
        for k in range(start + 1, end):
            labels[k] = "I-" + label
    return labels


def chunks(text: str, limit: int = MAX_SEQUENCE) -> list[tuple[int, int]]:
    """(start, end) pieces of ``text`` no longer than ``limit``, cut after a sentence end where there is one."""
    out, start, n = [], 0, len(text)
    while n - start > limit:
        cut = max((k + 1 for k in range(start + limit // 2, start + limit) if text[k] in _SENTENCE_END),
                  default=start + limit)
        out.append((start, cut))
        start = cut
    out.append((start, n))
    return out


def decode(labels: Sequence[str], marginal, offset: int = 0) -> list[Span]:
    """Spans of BIO ``labels`` (an ``I-`` without its ``B-`` starts a span), each with the mean of its characters'
    marginal probabilities (``marginal(label, position)``)."""
    out: list[Span] = []
    start, label = None, None

    def close(end):
        if start is not None:
            p = sum(marginal(labels[k], k) for k in range(start, end)) / (end - start)
            out.append(Span(label, offset + start, offset + end, p))

    for k, tag in enumerate(labels):
        kind, _, lab = tag.partition("-")
        if kind == "B" or (kind == "I" and lab != label):
            close(k)
            start, label = k, lab
        elif kind == "O":
            close(k)
            start, label = None, None
    close(len(labels))
    return out


@dataclass
class Tagging:
    """The model's reading of one text: the best labelling's spans, and per character the probability of each
    entity label (``B-`` and ``I-`` together), so that a span the best labelling leaves out can still be weighed."""

    spans: list[Span]
    probabilities: dict[str, list[float]]

    def probability(self, label: str, start: int, end: int) -> float:
        """Mean probability over ``text[start:end]`` that its characters belong to a ``label`` entity."""
        p = self.probabilities[label]
        return sum(p[start:end]) / (end - start) if end > start else 0.0

    def candidates(self, label: str, floor: float) -> list[Span]:
        """Runs of characters whose ``label`` probability is at least ``floor``, other than the best labelling's
        spans of that label: what a recall-first reading adds."""
        p, taken = self.probabilities[label], [(s.start, s.end) for s in self.spans if s.label == label]
        out, k, n = [], 0, len(p)
        while k < n:
            if p[k] < floor:
                k += 1
                continue
            j = k
            while j < n and p[j] >= floor:
                j += 1
            if not any(s < j and k < e for s, e in taken):
                out.append(Span(label, k, j, sum(p[k:j]) / (j - k)))
            k = j
        return out


class NerModel:
    """The trained model, ready to label texts. One CRFsuite tagger per thread (a tagger is not thread-safe)."""

    def __init__(self, path: Path = MODEL_PATH, *, lac: bool = LAC_FEATURES):
        import pycrfsuite

        if not Path(path).is_file():
            raise FileNotFoundError(f"NER model not found at {path}; run `make train-ner`")
        self.path = Path(path)
        self.lac = lac
        self._local = threading.local()
        self._tagger_class = pycrfsuite.Tagger
        self._tagger()  # fail now, not on the first text, if the file is not a model

    def _tagger(self):
        tagger = getattr(self._local, "tagger", None)
        if tagger is None:
            tagger = self._local.tagger = self._tagger_class()
            tagger.open(str(self.path))
            self._local.labels = frozenset(tagger.labels())
        return tagger

    def spans(self, text: str, words: Sequence[tuple[int, int, str]], lac_tags: Sequence[str] | None = None
              ) -> list[Span]:
        """Entity spans of ``text`` (jieba's segmentation of it in ``words``) in the best labelling."""
        return self.tag(text, words, (), lac_tags).spans

    def tag(self, text: str, words: Sequence[tuple[int, int, str]], labels: Iterable[str] = ("PER", "ADR", "LOC"),
            lac_tags: Sequence[str] | None = None) -> Tagging:
        """The best labelling's spans, and per-character probabilities of ``labels``; ``lac_tags`` is LAC's reading
        of ``text`` if already made (read here when the model needs it)."""
        tagger = self._tagger()
        known = self._local.labels
        if self.lac and lac_tags is None:
            from transforms import lac

            lac_tags = lac.tags(text)
        feats = features(text, words, rule_hints(text), lac_tags if self.lac else None)
        spans: list[Span] = []
        probs: dict[str, list[float]] = {lab: [] for lab in labels}
        for start, end in chunks(text):
            tagger.set(feats[start:end])
            spans += decode(tagger.tag(), tagger.marginal, start)
            # a character the model is sure is outside every entity gets 0 for each label without asking again
            unsure = [k for k in range(end - start) if tagger.marginal("O", k) < SURE_OUTSIDE]
            for lab, out in probs.items():
                b, i = "B-" + lab, "I-" + lab
                has_b, has_i = b in known, i in known
                row = [0.0] * (end - start)
                for k in unsure:
                    row[k] = (tagger.marginal(b, k) if has_b else 0.0) + (tagger.marginal(i, k) if has_i else 0.0)
                out += row
        return Tagging(spans, probs)


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """``text`` in simplified characters (OpenCC's t2s, offline), so that 陳雋曄 reads as 陈隽晔 to the model and the
    name statistics; the text itself when the conversion would change its length (offsets must stay valid)."""
    out = _t2s().convert(text)
    return out if len(out) == len(text) else text
