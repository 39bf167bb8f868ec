"""Detection engine: matches and near misses for the recognizers that back scan and the gate, in Chinese text
with no spaces around the value as well as in logs. (Issue 3 grows this into one file per recognizer.)"""

import json
import subprocess
import sys

import pytest

from transforms.detection import detect, guess_language, mask_value
from transforms.recognizers import RECOGNIZERS, register
from transforms.recognizers.base import PiiflowRecognizer

CASES = [
    # (text, expected [(type, value)])
    ("登录IP为192.168.1.20的用户", [("IP_ADDRESS", "192.168.1.20")]),  # glued to Chinese on both sides
    ("版本1.2.3.4.5发布", []),  # a version string is not an address
    ("手机13812345678，邮箱张三abc.d@qq.com谢谢",  # a name glued to an e-mail address is no part of it
     [("CN_MOBILE", "13812345678"), ("PERSON", "张三"), ("EMAIL_ADDRESS", "abc.d@qq.com")]),
    ("电话+86 138-1234-5678", [("CN_MOBILE", "+86 138-1234-5678")]),
    ("订单号2138123456789012", []),  # a mobile inside a longer digit run
    ("Tel13701233057QQ", [("CN_MOBILE", "13701233057")]),  # glued to Latin letters on both sides
    ("trace 9f13812345678a0b1c2d3e4f5a6b7c8d", []),  # inside a hexadecimal token
    ("（86）138-0284-1004", [("CN_MOBILE", "（86）138-0284-1004")]),
    ("香港電話：（852）94896744", [("PHONE_NUMBER", "（852）94896744")]),
    ("博客：http://vivian.live.love.blog.163.com郵箱：vivian.live.love@163.com",  # no name inside a URL or address
     [("URL", "http://vivian.live.love.blog.163.com"), ("EMAIL_ADDRESS", "vivian.live.love@163.com")]),
    ("工作請洽：+852-37411033WowMusic", [("PHONE_NUMBER", "+852-37411033")]),
    ("台北0933905613", [("LOCATION", "台北"), ("PHONE_NUMBER", "0933905613")]),  # Taiwan mobile, trunk 0
    ("共83192727人", []),  # 8 digits are a valid Hong Kong number, but nothing says it is a phone
    ("办公电话83192727", [("PHONE_NUMBER", "83192727")]),  # ... unless the context does
    ("from 163.27.187.39 (163.27.187.39): denied", [("IP_ADDRESS", "163.27.187.39"), ("IP_ADDRESS", "163.27.187.39")]),
    ("host 62.99.164.82.sh.example.net up", []),  # reverse-DNS name, not an address
    ("經紀人-004bill_yeung@uih.com.hk，演员", [("EMAIL_ADDRESS", "004bill_yeung@uih.com.hk")]),
    ("中國電話：（86）1380-2841-004bill_yeung@uih.com.hk，演员",  # an address glued to a phone number
     [("LOCATION", "中國"), ("CN_MOBILE", "（86）1380-2841-004"), ("EMAIL_ADDRESS", "bill_yeung@uih.com.hk")]),
    ("工作Q826929452（助理）", [("QQ_NUMBER", "826929452")]),
    ("身份证号510107199003071236", [("CN_RESIDENT_ID", "510107199003071236")]),
    ("身份证号510107199003071237", []),  # wrong check digit
    ("身份证号51010719900307123", []),  # 17 digits
    ("IMEI:358751101234561", [("IMEI", "358751101234561")]),
    ("IMEI:358751101234562", []),  # Luhn fails
    ("卡号6245790189238428271", []),  # 19 digits, Luhn fails
    ("卡号624579018923842827", [("BANK_CARD", "624579018923842827")]),
    ("蓝牙3C:CD:5D:AA:BB:0C已连接", [("MAC_ADDRESS", "3C:CD:5D:AA:BB:0C")]),
    ("client 2408:8a1:3f::12:ab said", [("IP_ADDRESS", "2408:8a1:3f::12:ab")]),
    ("时间12:30:45", []),
    ("位置30.572800,104.066800附近", [("GPS_COORDINATE", "30.572800,104.066800")]),
    ("基站460-00-12345-678901", [("CELL_ID", "460-00-12345-678901")]),
    ("座机028-86048320转分机", [("CN_LANDLINE", "028-86048320")]),
    ("加我微信wxid_abc123def，QQ是12345678", [("WECHAT_ID", "wxid_abc123def"), ("QQ_NUMBER", "12345678")]),
    ("共12345678人参加", []),  # digits without a QQ cue
    ("idfa 6D92078A-8246-4BA4-AE5B-76104861E7DC", [("DEVICE_ID", "6D92078A-8246-4BA4-AE5B-76104861E7DC")]),
    ("头像https://cdn.im-example.cn/a/1.jpg，好", [("URL", "https://cdn.im-example.cn/a/1.jpg")]),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_detect(analyzer, text, expected):
    found = [(f.type, text[f.start:f.end]) for f in detect(analyzer, text)]
    assert found == expected


def test_context_words_raise_scores_in_chinese(analyzer):
    bare = detect(analyzer, "028-86048320")[0].score
    cued = detect(analyzer, "联系电话028-86048320")[0].score
    assert cued > bare


def test_registry_refuses_a_taken_name():
    with pytest.raises(ValueError, match="registered twice"):
        @register
        class CnMobileRecognizer(PiiflowRecognizer):  # noqa: F811
            SUPPORTED_ENTITY = "CN_MOBILE"
            ENTITY_ROLES = {"CN_MOBILE": "direct"}
            PATTERNS = []
    assert RECOGNIZERS["CnMobileRecognizer"].__module__.endswith("cn_mobile_recognizer")


def test_language_and_masking():
    assert guess_language("hello 你好") == "zh" and guess_language("hello") == "en"
    assert mask_value("13812345678") == "13*******78" and mask_value("张三") == "**"


def test_detect_cli_speaks_jsonl():
    lines = [{"id": "a", "text": "手机13812345678", "language": "zh"}, {"id": "b", "text": "nothing here"}]
    p = subprocess.run([sys.executable, "-m", "flows.cli", "detect"], input="\n".join(json.dumps(l, ensure_ascii=False)
                       for l in lines), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = [json.loads(l) for l in p.stdout.splitlines()]
    assert out[0] == {"id": "a", "entities": [{"type": "CN_MOBILE", "start": 2, "end": 13, "score": out[0]["entities"][0]["score"]}]}
    assert out[1] == {"id": "b", "entities": []}


def test_detect_cli_rejects_bad_line_with_one_line_reason():
    p = subprocess.run([sys.executable, "-m", "flows.cli", "detect"], input='{"id": 1}\n', capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 1
    assert p.stderr.strip() == "piiflow: error: stdin line 1: expected a JSON object with id and text (KeyError)"


# --- the fast path ------------------------------------------------------------------------------------------------

def _corpus() -> list[str]:
    """Texts with and without identifiers: the cases above, generated chat and search queries, log lines."""
    from datetime import date

    from transforms import synth

    spec = synth.LakeSpec(seed=3, rows=1500, start=date(2026, 10, 1), end=date(2026, 10, 1))
    pop = synth.Population(spec)
    texts = [t for t, _ in CASES]
    texts += synth.chat_messages(spec, pop, spec.start, 1500).table.column("text").to_pylist()
    texts += [
        "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; rhost=218.188.2.4 uid=0",
        "081110 230202 28 INFO dfs.DataNode$PacketResponder: blk_-1608999687919862906 size 67108864 from /10.251.43.21",
        "Call +1-944-435-4352x04732 or 986.291.2294, or write to ann.lee@example.org",
        "会员张伟（身份证110101199003077578）在北京市朝阳区建国路88号下单，联系电话021-62345678",
        "Dear Mr. John Smith, your card 4111 1111 1111 1111 is on file; Android ID 9774d56d682e549c",
    ]
    return texts


def test_fast_path_equals_presidio_analyze(analyzer):
    """``findings`` (pre-filters, no tokenisation, cache) gives exactly what Presidio's ``analyze`` gives."""
    from transforms.detection import _resolve_overlaps

    for text in _corpus():
        slow = _resolve_overlaps(analyzer.analyze(text=text, language=guess_language(text)), text)
        assert list(analyzer.findings(text)) == slow, text
        assert list(analyzer.findings(text)) == slow, text  # the second answer comes from the cache


def test_every_match_implies_its_recognizers_prefilter(analyzer):
    """A pre-filter that missed a text a recognizer matches would lose findings: every match must imply it."""
    import re

    texts = _corpus()
    checked = 0
    for lang in ("zh", "en"):
        artifacts = analyzer.nlp_engine.process_text("", lang)
        for rec in analyzer.registry.get_recognizers(language=lang, all_fields=True):
            prefilter = getattr(rec, "PREFILTER", None)
            if not prefilter:
                continue
            rx = re.compile(prefilter, re.IGNORECASE | re.DOTALL)
            for text in texts:
                if rec.analyze(text=text, entities=rec.supported_entities, nlp_artifacts=artifacts):
                    checked += 1
                    assert rx.search(text), (rec.name, text)
    assert checked > 500


def test_adding_a_recognizer_refreshes_the_fast_path():
    from presidio_analyzer import Pattern, PatternRecognizer

    from transforms.detection import build_analyzer

    engine = build_analyzer()
    text = "ticket TKT-123456 opened"
    assert engine.findings(text) == ()
    engine.registry.add_recognizer(PatternRecognizer("TICKET", patterns=[Pattern("t", r"TKT-\d{6}", 0.9)],
                                                     supported_language="en"))
    assert [(f.type, text[f.start:f.end]) for f in engine.findings(text)] == [("TICKET", "TKT-123456")]


@pytest.mark.parametrize("spec, expected", [
    (None, {}), ("en_core_web_sm", {"en": "en_core_web_sm"}),
    ("zh=/models/zh, en=en_core_web_sm", {"zh": "/models/zh", "en": "en_core_web_sm"}),
])
def test_ner_model_setting(spec, expected):
    from transforms.detection import parse_ner_models

    assert parse_ner_models(spec) == expected


def test_ner_model_setting_rejects_unknown_language():
    from transforms.detection import parse_ner_models

    with pytest.raises(ValueError, match="LANG=NAME"):
        parse_ner_models("fr=fr_core_news_sm")


def test_ner_plugin_adds_person_from_a_spacy_pipeline(tmp_path, caplog):
    """The NER plug-in, with tiny spaCy pipelines built here (an entity ruler per language) standing in for a
    trained model: its PERSON findings join the rule-based ones, in Chinese and English; a missing model is
    logged and skipped."""
    import spacy

    from configs.settings import Settings
    from transforms.detection import build_analyzer

    paths = {}
    for lang, name in (("en", "Quentin Abernathy"), ("zh", "司空摘星")):
        nlp = spacy.blank(lang)
        nlp.add_pipe("entity_ruler").add_patterns([{"label": "PERSON", "pattern": name}])
        nlp.to_disk(tmp_path / lang)
        paths[lang] = tmp_path / lang
    rules_only = build_analyzer()
    engine = build_analyzer(Settings(ner_model=f"en={paths['en']},zh={paths['zh']}"))
    for text, name in (("met Quentin Abernathy today", "Quentin Abernathy"), ("昨天司空摘星来过", "司空摘星")):
        assert not any(text[f.start:f.end] == name for f in detect(rules_only, text))
        assert [(f.type, text[f.start:f.end]) for f in detect(engine, text)] == [("PERSON", name)]
    with caplog.at_level("WARNING"):
        fallback = build_analyzer(Settings(ner_model=str(tmp_path / "missing")))
    assert "not loaded" in caplog.text
    assert detect(fallback, "手机13812345678")[0].type == "CN_MOBILE"


def test_detect_lines_in_order_across_worker_processes(analyzer):
    """Batches analysed by two worker processes come back in input order, equal to one process's output."""
    from flows.detect import detect_lines

    texts = _corpus()[:600]
    lines = [json.dumps({"id": i, "text": t, "language": None if i % 3 else guess_language(t)}, ensure_ascii=False)
             for i, t in enumerate(texts)]
    one = "".join(detect_lines(lines, analyzer, workers=1, batch_size=50))
    two = "".join(detect_lines(lines, analyzer, workers=2, batch_size=50))
    assert one == two
    out = [json.loads(l) for l in two.splitlines()]
    assert [o["id"] for o in out] == list(range(len(texts)))
    assert sum(len(o["entities"]) for o in out) > 200


@pytest.mark.parametrize("line, reason", [
    ('{"id": 1}', "stdin line 2: expected a JSON object with id and text (KeyError)"),
    ('[1, 2]', "stdin line 2: expected a JSON object with id and text (TypeError)"),
    ('{"id": 1, "text": 13812345678}', "stdin line 2: expected text to be a string, found int"),
])
def test_detect_lines_names_the_bad_line(analyzer, line, reason):
    from configs.errors import PolicyError
    from flows.detect import detect_lines

    with pytest.raises(PolicyError) as e:
        list(detect_lines(['{"id": 0, "text": "ok"}', line], analyzer))
    assert str(e.value) == reason
    assert "13812345678" not in str(e.value)


def test_every_recognizer_module_is_registered():
    """A recognizer is a module in transforms/recognizers/ with a registered class: a module that is not imported
    (so its recognizer never runs) fails here, instead of a hand-kept list drifting from the folder."""
    import importlib
    import pkgutil

    import transforms.recognizers as pkg

    modules = {m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.endswith("_recognizer")}
    registered = {cls.__module__.rsplit(".", 1)[-1] for cls in RECOGNIZERS.values()}
    weighed_by_the_model = {"cn_address_recognizer"}  # its findings are the Chinese NER recognizer's features
    assert modules - registered == weighed_by_the_model
    for name in weighed_by_the_model:
        assert importlib.import_module(f"transforms.recognizers.{name}")
