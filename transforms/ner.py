"""piiflow's Chinese named-entity model: a character-level linear-chain CRF (CRFsuite, through python-crfsuite).

Each character is described by the characters around it (unigrams and bigrams in a window of two), its script,
where it stands in jieba's dictionary segmentation and that word's part of speech, and piiflow's own name and place
statistics (how likely the character is to start a Chinese name or to be part of a given name, whether it ends a
place-kind word such as 路, 街, 号, whether the word is a known place). The model labels characters ``B-``/``I-``
``PER`` (a person's name), ``ADR`` (an address or a named place, CLUENER's convention), ``LOC`` (a place as news
corpora tag it) and ``ORG`` (organisations: learnt so that 北京 in 北京大学 is not taken for a place), or ``O``.

The model file ships in the package (``transforms/models/zh_ner.crfsuite``); ``make train-ner`` rebuilds it from
``../shared/ner-corpus/`` (see :mod:`flows.train_ner`). This module is pure: features, labels and decoding.
Spans come with the model's marginal probability of their labels (the mean over their characters), which is what
:class:`transforms.recognizers.cn_ner_recognizer.ChineseNerRecognizer` turns into a score.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

MODEL_PATH = Path(__file__).parent / "models" / "zh_ner.crfsuite"
#: The model's entity labels and the corpus types they learn from.
LABELS = ("PER", "ADR", "LOC", "ORG")
#: Corpus ``type`` -> model label, per source corpus. CLUENER and CCF label addresses and place names alike
#: (``ADR``); the news corpora and Weibo label places as ``LOC``. Nominal mentions (老师, 妈妈) are not names.
LABEL_MAP = {
    "cluener": {"PERSON": "PER", "ADDRESS": "ADR", "ORGANIZATION": "ORG"},
    "ccf": {"PERSON": "PER", "ADDRESS": "ADR", "ORGANIZATION": "ORG"},
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


def features(text: str, words: Sequence[tuple[int, int, str]], hints: Iterable[tuple[int, int, str]] = ()
             ) -> list[list[str]]:
    """CRFsuite features of every character of ``text``; ``words`` is jieba's segmentation of it as
    (start, end, word); ``hints`` are (start, end, tag) spans the rules propose (:func:`rule_hints`): the model
    learns how far to trust each."""
    surnames, compounds, first, given, tags, places = _statistics()
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
    hint = [""] * n
    for start, end, tag in hints:
        for k in range(start, min(end, n)):
            hint[k] = ("B" if k == start else "I") + tag
    out = []
    for i in range(n):
        j = i + 2
        c0, cm1, cm2, cp1, cp2 = pad[j], pad[j - 1], pad[j - 2], pad[j + 1], pad[j + 2]
        ch = text[i]
        f = ["b", "c=" + c0, "c-1=" + cm1, "c+1=" + cp1, "c-2=" + cm2, "c+2=" + cp2,
             "cc-1=" + cm1 + c0, "cc+1=" + c0 + cp1, "cc-2=" + cm2 + cm1, "cc+2=" + cp1 + cp2, "c-+=" + cm1 + cp1,
             "s=" + spad[j - 1] + spad[j] + spad[j + 1],
             "w=" + wpos[i] + wtag[i], "w-1=" + (wpos[i - 1] + wtag[i - 1] if i else "^"),
             "w+1=" + (wpos[i + 1] + wtag[i + 1] if i + 1 < n else "$"),
             "sl=" + _bucket(first.get(ch)), "gl=" + _bucket(given.get(ch)), "ccc=" + cm1 + c0 + cp1]
        if wword[i]:
            f.append("ww=" + wword[i])
        if ch in surnames:
            f.append("sur")
        if text[i:i + 2] in compounds:
            f.append("sur2")
        if ch in _PLACE_END:
            f.append("pe")
        if wplace[i]:
            f.append("pl")
        if hint[i]:
            f.append("h=" + hint[i])
        out.append(f)
    return out


def rule_hints(text: str) -> list[tuple[int, int, str]]:
    """The Chinese-name rule's candidates (:meth:`PersonRecognizer._chinese`), each tagged with its score in tenths:
    features for the model, at training and at inference alike."""
    from transforms.recognizers.person_recognizer import chinese_name_candidates

    return [(r.start, r.end, "p" + str(int(r.score * 10))) for r in chinese_name_candidates(text)]


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

    def __init__(self, path: Path = MODEL_PATH):
        import pycrfsuite

        if not Path(path).is_file():
            raise FileNotFoundError(f"NER model not found at {path}; run `make train-ner`")
        self.path = Path(path)
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

    def spans(self, text: str, words: Sequence[tuple[int, int, str]]) -> list[Span]:
        """Entity spans of ``text`` (jieba's segmentation of it in ``words``) in the best labelling."""
        return self.tag(text, words, ()).spans

    def tag(self, text: str, words: Sequence[tuple[int, int, str]], labels: Iterable[str] = ("PER", "ADR", "LOC")
            ) -> Tagging:
        """The best labelling's spans, and per-character probabilities of ``labels``."""
        tagger = self._tagger()
        known = self._local.labels
        feats = features(text, words, rule_hints(text))
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
