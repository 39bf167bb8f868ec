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
    ("手机13812345678，邮箱张三abc.d@qq.com谢谢", [("CN_MOBILE", "13812345678"), ("EMAIL_ADDRESS", "abc.d@qq.com")]),
    ("电话+86 138-1234-5678", [("CN_MOBILE", "+86 138-1234-5678")]),
    ("订单号2138123456789012", []),  # a mobile inside a longer digit run
    ("Tel13701233057QQ", [("CN_MOBILE", "13701233057")]),  # glued to Latin letters on both sides
    ("trace 9f13812345678a0b1c2d3e4f5a6b7c8d", []),  # inside a hexadecimal token
    ("（86）138-0284-1004", [("CN_MOBILE", "（86）138-0284-1004")]),
    ("香港電話：（852）94896744", [("CN_ADDRESS", "香港"), ("PHONE_NUMBER", "（852）94896744")]),
    ("工作請洽：+852-37411033WowMusic", [("PHONE_NUMBER", "+852-37411033")]),
    ("台北0933905613", [("CN_ADDRESS", "台北"), ("PHONE_NUMBER", "0933905613")]),  # Taiwan mobile, trunk 0
    ("共83192727人", []),  # 8 digits are a valid Hong Kong number, but nothing says it is a phone
    ("办公电话83192727", [("PHONE_NUMBER", "83192727")]),  # ... unless the context does
    ("from 163.27.187.39 (163.27.187.39): denied", [("IP_ADDRESS", "163.27.187.39"), ("IP_ADDRESS", "163.27.187.39")]),
    ("host 62.99.164.82.sh.example.net up", []),  # reverse-DNS name, not an address
    ("經紀人-004bill_yeung@uih.com.hk，演员", [("EMAIL_ADDRESS", "04bill_yeung@uih.com.hk")]),
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
