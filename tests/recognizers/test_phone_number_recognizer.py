"""Matches and near misses; each case says what it checks."""

import pytest

from tests.recognizers._table import found

CASES = [
    ('香港電話：（852）94896744', ['（852）94896744']),  # Hong Kong with country code
    ('工作請洽：+852-37411033WowMusic', ['+852-37411033']),  # glued to Latin letters
    ('台北0933905613', ['0933905613']),  # Taiwan mobile with trunk 0
    ('办公电话83192727', ['83192727']),  # 8 digits with a phone cue
    ('共83192727人', []),  # 8 digits without a cue
    ('from 163.27.187.39 (163.27.187.39)', []),  # an IP address is not a phone
    ('通告聯繫范小姐886-2-2369-9886，信箱', ['886-2-2369-9886']),  # Taiwan country code without a plus
    ('台中趙悅辰0916991114／04-23109266演藝', ['0916991114', '04-23109266']),  # a full-width slash separates
    ('Call 986.291.2294 today', ['986.291.2294']),  # North American dotted form
    ('version 10.251.43.21.5 released', []),  # dotted digits that are not a phone
    ('共886人报名', []),  # 886 alone is a count, not a country code
    ("call me at (96) 627-277 I'd like", ['(96) 627-277']),  # phone-shaped, not valid anywhere, but a cue
    ('Fax: 001-420-335-7509x38548', ['001-420-335-7509x38548']),  # international prefix and extension
    ('+1-944-435-4352x04732 mobile', ['+1-944-435-4352x04732']),  # a plus is enough
    ('released on 2019-10-21 12 by the team', []),  # a date
    ('build 21 212 133 2727 finished', []),  # shaped like a phone but no cue
    ('081110 230202 28 INFO dfs.FSNamesystem', []),  # a log time stamp (yymmdd hhmmss) and a thread id
    ('rhost=220-135-151-1.hinet-ip.hinet.net', []),  # digits in a host name
    ('rhost=061092085098.ctinets.com', []),  # ... also without dashes
    ('hard=67108864 soft=4096', []),  # a bare number in English text needs a cue
    ('081110 010354 5184 INFO dfs.DataNode', []),  # the time of a log time stamp
    ('kernel: audit(1122475266.4294965305:0)', []),  # a decimal time stamp
    ('call me on 020 7946 0958 tomorrow', ['020 7946 0958']),  # a UK number with a cue
    ('電話：+852 2369 9886，2026-10-01', ['+852 2369 9886']),  # a date after a number leaves the number alone
]


@pytest.mark.parametrize("text, expected", CASES)
def test_table(analyzer, text, expected):
    assert found(analyzer, text, 'PHONE_NUMBER') == expected


@pytest.mark.parametrize("line", [
    "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660",
    "081110 223849 16493 INFO dfs.DataNode$DataXceiver: Receiving block blk_3358274959811806117 src: /10.251.106.214",
])
def test_a_log_time_stamp_is_no_phone_even_at_the_release_point(line):
    """The release engine keeps findings down to 0.3: the time stamp's date (081109, valid in some region's
    numbering plan) and a thread id after it scored 0.4 and were redacted from released log lines."""
    from configs.settings import Settings
    from transforms.detection import build_analyzer, detect

    engine = build_analyzer(Settings(), threshold=Settings().release_score_threshold)
    assert [f for f in detect(engine, line, "en") if f.type == "PHONE_NUMBER"] == []


@pytest.mark.parametrize("value", [
    "0d41b407-8185-19fc-0dcc-34098294cf3e",  # a UUID (an OAID): its letters read as spaces, 0d41b407-8185-19 valid
    "04a13601-bc76-32b2-0a51-0623cec3723d",
    "2026-10-01T00:30:27.655+08:00",  # an ISO time stamp: +08 is an offset, not a country code
    "31.290819,121.455497",  # a coordinate
    "dev-20261001-000-0000000",  # an event id
    "lns-vlq-45-tou-82-252-162-81.adsl.proxad.net",  # a host name
])
def test_values_of_the_lakes_columns_are_no_phone_number_at_any_score(value):
    """The recognizer alone, every score: in a column of such values even a weak finding is a false alarm at the
    release point, and libphonenumber's work on them was most of a scan's time."""
    from transforms.recognizers.phone_number_recognizer import PhoneNumberRecognizer

    for language in ("en", "zh"):
        assert PhoneNumberRecognizer(language).analyze(value, ["PHONE_NUMBER"]) == [], language
