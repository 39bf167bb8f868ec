"""LAC, the release engine's second reader: loaded offline and checked, in the release engine only, the same
findings one text at a time or thousands at once."""

import json
import socket
import subprocess
import sys

import pytest

from tests.helpers import ROOT
from tests.recognizers._table import found

#: Names in service chat, as people write them there: what a release must not let through.
SERVICE_CHAT = [
    ("您好，我是客服小周，工号8812，请问有什么可以帮您", ["小周"]),
    ("老板让易建联下周来", ["易建联"]),  # LAC's reading: the rules and the model miss it
    ("麻烦转告一下欧阳娜娜，她的快递到了", ["欧阳娜娜"]),
    ("我是刘德华的助理，想改一下收货地址", ["刘德华"]),
    ("这个订单是吴亦凡下的吗", ["吴亦凡"]),
    ("金莎和许嵩合作的新歌什么时候上线", ["金莎", "许嵩"]),
    ("工单9528907866661762已处理完毕", []),  # LAC takes some long numbers for names: never a name
]


@pytest.mark.parametrize("text, names", SERVICE_CHAT)
def test_the_release_engine_finds_names_in_service_chat(release_analyzer, text, names):
    assert set(names) <= set(found(release_analyzer, text, "PERSON"))
    if not names:
        assert found(release_analyzer, text, "PERSON") == []


def test_only_the_release_engine_reads_with_lac_and_the_second_model(analyzer, release_analyzer):
    def readers(engine):
        return {type(r).__name__ for r in engine.registry.recognizers}

    second = {"LacRecognizer", "ChineseNerRecallRecognizer"}
    assert second <= readers(release_analyzer) and not second & readers(analyzer)
    assert "ChineseNerRecognizer" in readers(analyzer)


def test_lac_loads_offline_and_checks_its_encoder(monkeypatch):
    from configs.errors import PolicyError
    from transforms import lac

    def refused(*a, **k):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refused)
    lac.reader.cache_clear(); lac.words.cache_clear()
    try:
        assert lac.persons("我叫王建国") == [(2, 5)]
        monkeypatch.setattr(lac, "ENCODER_SHA256", "0" * 64)
        lac.reader.cache_clear(); lac.words.cache_clear()
        with pytest.raises(PolicyError, match="SHA-256"):
            lac.reader()
    finally:
        monkeypatch.undo()
        lac.reader.cache_clear(); lac.words.cache_clear()


def test_one_text_and_thousands_give_the_same_findings(release_analyzer):
    from flows.detect import detect_lines

    texts = [t for t, _ in SERVICE_CHAT] * 400 + [f"第{i}位客户张{i % 7}明来电" for i in range(600)]
    lines = [json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)]
    many = [json.loads(x) for chunk in detect_lines(iter(lines), release_analyzer, workers=1, batch_size=5000,
                                                    threshold=0.3) for x in chunk.splitlines()]
    for record, text in zip(many[:len(SERVICE_CHAT)] + many[-3:], [t for t, _ in SERVICE_CHAT] + texts[-3:]):
        one = [json.loads(x) for chunk in detect_lines(iter([json.dumps({"id": 0, "text": text}) + "\n"]),
                                                       release_analyzer, workers=1, threshold=0.3)
               for x in chunk.splitlines()]
        assert one[0]["entities"] == record["entities"]
    assert len(many) == len(texts)


def test_detect_release_runs_the_release_engine():
    line = json.dumps({"id": 1, "text": "发给李四了吗"}, ensure_ascii=False) + "\n"

    def call(*flags):
        p = subprocess.run([sys.executable, "-m", "flows.cli", "detect", "--workers", "1", *flags], input=line,
                           capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert p.returncode == 0, p.stderr
        return {(e["type"], e["start"], e["end"]) for e in json.loads(p.stdout)["entities"]}

    assert ("PERSON", 2, 4) in call("--release") and ("PERSON", 2, 4) not in call()
