"""The synthetic lake: realistic rows for the five categories the privacy policy names, and the truth of every
identifier planted in them.

Pure and deterministic: the same ``seed`` gives the same population and the same rows for a (dataset, day), in
any order and in any process, so a lake of any size is produced chunk by chunk in bounded memory
(``flows.generate`` writes the chunks). Chinese values come from Faker's ``zh_CN`` locale, a share of English ones
from ``en_US``. Resident IDs (ISO 7064 MOD 11-2), IMEIs and bank cards (Luhn) carry valid check digits.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cached_property

import numpy as np
import pyarrow as pa
from faker import Faker

from transforms import places
from transforms.checksums import luhn_digit, resident_id_check

CN_TZ = timezone(timedelta(hours=8))

#: Event datasets written per day, with their share of ``rows`` (registration and enterprise are per subject).
DAILY_SHARE = {"device_events": 1.0, "app_logs": 1.0, "usage_events": 1.0, "call_records": 0.2,
               "chat_messages": 0.2}

TRUTH_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("column", pa.string()), ("row_key", pa.string()), ("entity_type", pa.string()),
    ("value", pa.string()), ("subject_id", pa.string()), ("start", pa.int32()), ("end", pa.int32()),
])

_DEVICES = [  # (model, brand, os family, os versions, share)
    ("HUAWEI Mate 60 Pro", "HUAWEI", "HarmonyOS", ["4.0", "4.2", "3.1"], 0.14),
    ("HUAWEI P60", "HUAWEI", "HarmonyOS", ["4.0", "3.1"], 0.06),
    ("Xiaomi 14", "Xiaomi", "Android", ["14", "13"], 0.10),
    ("Redmi K70", "Xiaomi", "Android", ["14", "13"], 0.08),
    ("iPhone 15 Pro", "Apple", "iOS", ["17.2", "17.4", "18.1"], 0.12),
    ("iPhone 13", "Apple", "iOS", ["16.6", "17.2"], 0.08),
    ("OPPO Reno11", "OPPO", "Android", ["14", "13"], 0.09),
    ("vivo X100", "vivo", "Android", ["14"], 0.09),
    ("HONOR Magic6", "HONOR", "Android", ["14", "13"], 0.08),
    ("OnePlus 12", "OnePlus", "Android", ["14"], 0.04),
    ("Samsung Galaxy S24", "Samsung", "Android", ["14"], 0.04),
    ("Pixel 8", "Google", "Android", ["14"], 0.02),
    ("iPad Air", "Apple", "iPadOS", ["17.2"], 0.02),
    ("MacBook Pro", "Apple", "macOS", ["14.2"], 0.02),
    ("ThinkPad X1", "Lenovo", "Windows", ["11", "10"], 0.02),
    # the long tail: many models, each used by few
    *[(f"{brand} {model}", brand, family, versions, 0.003) for brand, family, versions, models in [
        ("HUAWEI", "HarmonyOS", ["4.0", "3.1"], ["nova 11", "nova 12", "Mate X5", "Pura 70", "Enjoy 70", "Mate 50"]),
        ("Xiaomi", "Android", ["14", "13"], ["Civi 4", "13 Ultra", "Mix Fold 3", "Redmi Note 13", "Redmi 12C"]),
        ("OPPO", "Android", ["14", "13"], ["A2", "Find X7", "K11", "Reno10", "A58"]),
        ("vivo", "Android", ["14", "13"], ["Y78", "S18", "X Fold3", "iQOO 12", "iQOO Neo9"]),
        ("HONOR", "Android", ["14"], ["X50", "90 GT", "Play 8T", "Magic V2"]),
        ("Meizu", "Android", ["14"], ["21", "20 Pro"]), ("Lenovo", "Android", ["13"], ["Legion Y70"]),
        ("OnePlus", "Android", ["14"], ["Ace 3", "Ace 2V"]), ("Samsung", "Android", ["14"], ["Galaxy A54"])]
      for model in models],
]
_TACS = ["35875110", "86729704", "35391811", "86091105", "35467312", "86886504", "35290611", "86481206"]
_CITIES = [  # (city, area code of resident IDs, landline area code); positions: transforms.places
    ("北京市", "110105", "010"), ("上海市", "310104", "021"),
    ("广州市", "440106", "020"), ("深圳市", "440305", "0755"),
    ("成都市", "510107", "028"), ("杭州市", "330106", "0571"),
    ("武汉市", "420106", "027"), ("西安市", "610113", "029"),
    ("南京市", "320106", "025"), ("重庆市", "500103", "023"),
    ("长沙市", "430104", "0731"), ("郑州市", "410105", "0371"),
]
_CARRIERS = [("中国移动", "00", 0.55), ("中国联通", "01", 0.25), ("中国电信", "11", 0.20)]
_MOBILE_PREFIXES = ["134", "135", "136", "137", "138", "139", "147", "150", "151", "152", "157", "158", "159",
                    "178", "182", "183", "187", "188", "198", "130", "131", "132", "155", "156", "166", "175",
                    "176", "185", "186", "133", "153", "173", "177", "180", "181", "189", "191", "199"]
_IPV4_FIRST = [36, 39, 42, 49, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115, 116, 117, 119, 120, 121,
               122, 123, 124, 125, 171, 175, 180, 182, 183, 202, 210, 211, 218, 219, 220, 221, 222, 223]
_IPV6_PREFIX = ["240e", "2408", "2409"]
#: First octets of each carrier's address blocks (China Mobile, China Unicom, China Telecom): a user's address is in
#: their carrier's block for their region, in the /16 of their city, as real access networks allocate them.
_CARRIER_BLOCKS = {"中国移动": (117, 223, 111, 120), "中国联通": (112, 123, 221, 60), "中国电信": (58, 114, 183, 14)}
_OUIS = ["3C:CD:5D", "F4:8E:92", "AC:C1:EE", "00:9A:CD", "88:E9:FE", "B4:0B:44", "70:8A:09", "DC:A6:32"]
_SSIDS = ["TP-LINK_{}", "ChinaNet-{}", "CMCC-{}", "Xiaomi_{}", "HUAWEI-{}", "MERCURY_{}", "office-{}"]
_USAGE_EVENTS = ["im.message.send", "im.message.read", "im.group.create", "im.file.upload", "crm.customer.create",
                 "crm.customer.update", "crm.followup.add", "crm.deal.won", "marketing.sms.send",
                 "marketing.call.start", "content.article.publish", "content.article.view"]
_CLIENTS = ["android", "ios", "web", "pc", "harmony"]
_PATHS = ["/api/v2/search", "/api/v2/contacts", "/api/v2/im/send", "/api/v2/crm/customers", "/api/v2/feed",
          "/api/v2/login", "/api/v2/profile"]
_TITLES = ["销售经理", "客户经理", "市场专员", "技术总监", "产品经理", "人事主管", "财务", "客服专员", "运营经理"]
_DEPARTMENTS = ["销售部", "市场部", "技术部", "产品部", "人力资源部", "财务部", "客服中心", "运营部"]
_QUERIES_PLAIN = ["附近的火锅店", "怎么导出客户名单", "群发短信模板", "如何设置自动回复", "会议室预定", "发票抬头怎么改",
                  "销售漏斗报表", "客户跟进提醒", "how to export contacts", "meeting notes template",
                  "年终总结模板", "营销活动方案", "电话外呼时间段", "合同审批流程"]
_CHAT_PLAIN = ["好的，明天上午见", "报价单已经发到群里了", "收到，我确认一下", "这个客户下周再跟进", "会议改到三点",
               "OK, talk tomorrow", "Please check the latest proposal", "麻烦把合同再发一遍", "辛苦了", "周五之前给答复"]


@dataclass(frozen=True)
class LakeSpec:
    """What to generate: ``rows`` device events (other event datasets in proportion) over ``start..end``."""

    seed: int
    rows: int
    start: date
    end: date

    def __post_init__(self):
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        if self.rows < 1:
            raise ValueError(f"rows must be positive, found {self.rows}")

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    @property
    def n_users(self) -> int:
        return int(min(50_000, max(60, self.rows // 20)))

    def rows_on(self, dataset: str, day: date) -> int:
        """Rows of ``dataset`` on ``day``: the share spread evenly, the remainder on the first days."""
        total = max(1, int(self.rows * DAILY_SHARE[dataset]))
        n_days = len(self.days)
        i = (day - self.start).days
        return total // n_days + (1 if i < total % n_days else 0)

    def rng(self, *parts: object) -> np.random.Generator:
        digest = hashlib.sha256(repr((self.seed, *parts)).encode()).digest()
        return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _choice(rng: np.random.Generator, items: list, n: int, p: list[float] | None = None) -> np.ndarray:
    idx = rng.choice(len(items), size=n, p=None if p is None else np.asarray(p) / np.sum(p))
    return np.asarray(items, dtype=object)[idx]


def _digits(rng: np.random.Generator, n: int, k: int) -> list[str]:
    return ["".join(map(str, row)) for row in rng.integers(0, 10, size=(n, k))]


def _mac(rng: np.random.Generator, n: int) -> list[str]:
    ouis = _choice(rng, _OUIS, n)
    tail = rng.integers(0, 256, size=(n, 3))
    return [f"{o}:{a:02X}:{b:02X}:{c:02X}" for o, (a, b, c) in zip(ouis, tail)]


def ipv4_in(city: np.ndarray, car: np.ndarray, low: np.ndarray) -> np.ndarray:
    """IPv4 addresses on carrier ``car``'s access network in ``city``: the carrier's regional block, the city's /16,
    then the two octets ``low``."""
    return np.array([f"{_CARRIER_BLOCKS[_CARRIERS[c][0]][t % 4]}.{(t * 19 + c * 7) % 256}.{a}.{b}"
                     for t, c, (a, b) in zip(city.tolist(), car.tolist(), low.tolist())], dtype=object)


def make_resident_id(area: str, birth: date, seq: int) -> str:
    body = f"{area}{birth:%Y%m%d}{seq:03d}"
    return body + resident_id_check(body)


def make_imei(tac: str, serial: int) -> str:
    body = f"{tac}{serial:06d}"
    return body + luhn_digit(body)


def make_bank_card(rng: np.random.Generator) -> str:
    body = "62" + "".join(map(str, rng.integers(0, 10, 15)))
    return body + luhn_digit(body)


class Population:
    """Subjects (users) and organisations of a lake; every per-user attribute is an array indexed by user."""

    def __init__(self, spec: LakeSpec):
        self.spec = spec
        n = spec.n_users
        rng = spec.rng("population")
        zh, en = Faker("zh_CN"), Faker("en_US")
        zh.seed_instance(spec.seed)
        en.seed_instance(spec.seed + 1)
        self.n = n
        english = rng.random(n) < 0.12
        self.english = english
        self.user_id = np.array([f"u{10_000_000 + i * 7919 % 9_000_000:08d}" for i in range(n)], dtype=object)
        self.name = np.array([en.name() if e else zh.name() for e in english], dtype=object)
        self.nickname = np.array([en.user_name() if e else zh.user_name() + str(rng.integers(10, 99))
                                  for e in english], dtype=object)
        self.gender = _choice(rng, ["男", "女", "未知"], n, [0.48, 0.48, 0.04])
        pre = _choice(rng, _MOBILE_PREFIXES, n)
        self.phone = np.array([p + d for p, d in zip(pre, _digits(rng, n, 8))], dtype=object)
        self.email = np.array([(en.free_email() if e else f"{zh.user_name()}{rng.integers(1, 999)}@"
                                + str(_choice(rng, ["qq.com", "163.com", "126.com", "sina.com", "foxmail.com"], 1)[0]))
                               for e in english], dtype=object)
        city = rng.integers(0, len(_CITIES), n)
        self.city = city
        births = [date(1960, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 16000, n)]
        self.birth = births
        self.resident_id = np.array([make_resident_id(_CITIES[c][1], b, int(s))
                                     for c, b, s in zip(city, births, rng.integers(0, 1000, n))], dtype=object)
        self.address = np.array([f"{_CITIES[c][0]}{zh.street_name()}{a}号{b}栋{r}室" for c, a, b, r in
                                 zip(city, rng.integers(1, 400, n), rng.integers(1, 30, n), rng.integers(101, 2800, n))],
                                dtype=object)
        self.avatar_url = np.array([f"https://cdn.im-example.cn/avatar/{h:012x}.jpg"
                                    for h in rng.integers(0, 2**48, n)], dtype=object)
        start = datetime(spec.start.year, spec.start.month, spec.start.day, tzinfo=CN_TZ)
        span = (spec.end - spec.start).days + 1
        self.registered_at = np.array([start + timedelta(seconds=int(s))
                                       for s in rng.integers(0, span * 86400, n)], dtype=object)
        # Device profile
        dev_p = [d[4] for d in _DEVICES]
        dev = rng.choice(len(_DEVICES), size=n, p=np.asarray(dev_p) / sum(dev_p))
        self.device_model = np.array([_DEVICES[d][0] for d in dev], dtype=object)
        self.os_version = np.array([f"{_DEVICES[d][2]} {_DEVICES[d][3][int(v) % len(_DEVICES[d][3])]}"
                                    for d, v in zip(dev, rng.integers(0, 10, n))], dtype=object)
        apple = np.array([_DEVICES[d][1] == "Apple" for d in dev])
        self.imei = np.array([make_imei(t, int(s)) for t, s in zip(_choice(rng, _TACS, n),
                                                                    rng.integers(0, 10**6, n))], dtype=object)
        self.imei[apple] = None
        self.android_id = np.array([f"{h:016x}" for h in rng.integers(0, 2**63, n)], dtype=object)
        self.android_id[apple] = None
        uu = [uuid.UUID(int=int(a) << 64 | int(b)) for a, b in zip(rng.integers(0, 2**63, n), rng.integers(0, 2**63, n))]
        self.idfa = np.array([str(u).upper() if a else None for u, a in zip(uu, apple)], dtype=object)
        self.oaid = np.array([None if a else str(u) for u, a in zip(uu, apple)], dtype=object)
        self.bt_mac = np.array(_mac(rng, n), dtype=object)
        self.bssid = np.array(_mac(rng, n), dtype=object)
        self.ssid = np.array([s.format(h) for s, h in zip(_choice(rng, _SSIDS, n),
                                                            [f"{x:04X}" for x in rng.integers(0, 65536, n)])],
                             dtype=object)
        _choice(rng, _IPV4_FIRST, n)  # drawn and unused: the draws after it stay as they were
        octets = rng.integers(1, 255, size=(n, 3))  # addresses are made from these below, in the carrier's blocks
        v6 = rng.integers(0, 65536, size=(n, 5))
        self.ipv6 = np.array([f"{p}:{a:x}:{b:x}:{c:x}::{d:x}:{e:x}" for p, (a, b, c, d, e)
                              in zip(_choice(rng, _IPV6_PREFIX, n), v6)], dtype=object)
        car = rng.choice(len(_CARRIERS), size=n, p=[c[2] for c in _CARRIERS])
        self.carrier = np.array([_CARRIERS[c][0] for c in car], dtype=object)
        self.car = car
        self.ipv4 = ipv4_in(city, car, octets[:, 1:])
        self.cell_id = np.array([f"460-{_CARRIERS[c][1]}-{lac}-{ci}" for c, lac, ci in
                                 zip(car, rng.integers(1000, 65535, n), rng.integers(10000, 268435455, n))],
                                dtype=object)
        self.language = np.where(english, "en-US", "zh-CN").astype(object)
        self.bank_card = np.array([make_bank_card(rng) for _ in range(n)], dtype=object)
        self.wechat = np.array([f"wxid_{h:010x}" if i % 2 else f"{u.split('@')[0][:10]}_{i % 97}"
                                for i, (h, u) in enumerate(zip(rng.integers(0, 2**40, n), self.email))], dtype=object)
        self.qq = np.array([str(x) for x in rng.integers(10_000_000, 3_999_999_999, n)], dtype=object)
        # Organisations: 85% of users work for one of the customer enterprises
        n_orgs = max(3, n // 25)
        self.org_ids = np.array([f"org{1000 + i}" for i in range(n_orgs)], dtype=object)
        self.org_names = np.array([zh.company() for _ in range(n_orgs)], dtype=object)
        member = rng.random(n) < 0.85
        self.org = np.where(member, self.org_ids[rng.integers(0, n_orgs, n)], None).astype(object)
        self.title = _choice(rng, _TITLES, n)
        self.department = _choice(rng, _DEPARTMENTS, n)
        self.work_phone = np.array([f"{_CITIES[c][2]}-{d}" for c, d in zip(city, _digits(rng, n, 8))], dtype=object)
        # Zipf-like activity: a few users do most of the events
        w = 1.0 / np.arange(1, n + 1) ** 0.8
        self.activity = rng.permutation(w / w.sum())
        # Minors (clause 7): about 6% of users were born 9-17 years before the lake's last day, 1 in 3 of them with
        # a guardian's consent on record; their resident IDs carry the same birth date. Drawn last: the draws above
        # stay as they were.
        minor = rng.random(n) < 0.06
        young = rng.integers(9 * 365, 17 * 365, n)
        self.guardian_consent = np.where(minor, rng.random(n) < 1 / 3, None).astype(object)
        for i in np.flatnonzero(minor):
            self.birth[i] = spec.end - timedelta(days=int(young[i]))
            self.resident_id[i] = make_resident_id(_CITIES[city[i]][1], self.birth[i], int(young[i]) % 1000)
        self.minor = minor
        self._zh = zh
        self._en = en

    @cached_property
    def registered_on(self) -> dict[date, np.ndarray]:
        days = np.array([t.date() for t in self.registered_at], dtype=object)
        return {d: np.flatnonzero(days == d) for d in set(days)}

    @cached_property
    def ua(self) -> np.ndarray:
        out = []
        for model, os_v in zip(self.device_model, self.os_version):
            fam, ver = os_v.split(" ", 1)
            if fam in ("iOS", "iPadOS"):
                out.append(f"Mozilla/5.0 (iPhone; CPU iPhone OS {ver.replace('.', '_')} like Mac OS X) "
                           f"AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 imapp/8.2.1")
            elif fam in ("Android", "HarmonyOS"):
                out.append(f"Mozilla/5.0 (Linux; Android {ver}; {model}) AppleWebKit/537.36 (KHTML, like Gecko) "
                           f"Chrome/120.0.0.0 Mobile Safari/537.36 imapp/8.2.1")
            else:
                out.append(f"Mozilla/5.0 ({fam} {ver}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
                           f"Safari/537.36")
        return np.array(out, dtype=object)


# --------------------------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Chunk:
    """One day's rows of one dataset and the identifiers planted in them."""

    table: pa.Table
    truth: pa.Table


class _Truth:
    def __init__(self, dataset: str):
        self.dataset = dataset
        self.cols: dict[str, list] = {k: [] for k in TRUTH_SCHEMA.names}

    def column(self, column: str, entity: str, row_keys, values, subjects) -> None:
        """Every non-null cell of a structured identifier column."""
        for rk, v, s in zip(row_keys, values, subjects):
            if v is not None:
                self.add(column, entity, rk, v, s)

    def add(self, column, entity, row_key, value, subject, start=None, end=None) -> None:
        c = self.cols
        c["dataset"].append(self.dataset)
        c["column"].append(column)
        c["row_key"].append(row_key)
        c["entity_type"].append(entity)
        c["value"].append(value)
        c["subject_id"].append(subject)
        c["start"].append(start)
        c["end"].append(end)

    def table(self) -> pa.Table:
        return pa.table(self.cols, schema=TRUTH_SCHEMA)


def _times(spec: LakeSpec, rng: np.random.Generator, day: date, n: int) -> np.ndarray:
    """Sorted event times on ``day`` (Asia/Shanghai), more by day than by night, as epoch milliseconds."""
    start_ms = int(datetime(day.year, day.month, day.day, tzinfo=CN_TZ).timestamp() * 1000)
    hours = rng.choice(24, size=n, p=_HOUR_WEIGHTS)
    ms = hours * 3_600_000 + rng.integers(0, 3_600_000, n)
    return np.sort(start_ms + ms)


_HW = np.array([1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 8, 9, 10, 10, 9, 8, 7, 7, 6, 5, 3, 2], dtype=float)
_HOUR_WEIGHTS = _HW / _HW.sum()


def _ts_array(ms: np.ndarray) -> pa.Array:
    return pa.array(ms, type=pa.int64()).cast(pa.timestamp("ms", tz="Asia/Shanghai"))


def _iso(ms: np.ndarray) -> list[str]:
    return [datetime.fromtimestamp(m / 1000, CN_TZ).isoformat(timespec="milliseconds") for m in ms]


def _users(pop: Population, rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(pop.n, size=n, p=pop.activity)


class _TextPlanter:
    """Fills free-text templates with a user's identifiers and records each planted span."""

    def __init__(self, pop: Population, truth: _Truth, column: str):
        self.pop, self.truth, self.column = pop, truth, column

    def fill(self, row_key: str, u: int, template: list[tuple[str, str | None]]) -> str:
        out, pos = [], 0
        for piece, entity in template:
            text = piece if entity is None else self._value(entity, u)
            if entity is not None:
                self.truth.add(self.column, entity, row_key, text, self.pop.user_id[u], pos, pos + len(text))
            out.append(text)
            pos += len(text)
        return "".join(out)

    def _value(self, entity: str, u: int) -> str:
        p = self.pop
        return {"PERSON": p.name[u], "CN_MOBILE": p.phone[u], "CN_RESIDENT_ID": p.resident_id[u],
                "EMAIL_ADDRESS": p.email[u], "CN_ADDRESS": p.address[u], "BANK_CARD": p.bank_card[u],
                "WECHAT_ID": p.wechat[u], "QQ_NUMBER": p.qq[u], "CN_LANDLINE": p.work_phone[u],
                "NICKNAME": p.nickname[u]}[entity]


_QUERY_TEMPLATES = [
    [("", "PERSON"), ("的手机号", None)],
    [("查找客户", None), ("", "PERSON"), (" ", None), ("", "CN_MOBILE")],
    [("身份证", None), ("", "CN_RESIDENT_ID")],
    [("", "EMAIL_ADDRESS")],
    [("发货地址", None), ("", "CN_ADDRESS")],
    [("联系", None), ("", "PERSON"), ("电话", None), ("", "CN_MOBILE")],
    [("", "CN_MOBILE")],
    [("find contact ", None), ("", "EMAIL_ADDRESS")],
]
_CHAT_TEMPLATES = [
    [("你好，我是", None), ("", "PERSON"), ("，我的电话是", None), ("", "CN_MOBILE")],
    [("请把合同发到", None), ("", "EMAIL_ADDRESS"), ("，谢谢", None)],
    [("收货地址：", None), ("", "CN_ADDRESS"), ("，电话", None), ("", "CN_MOBILE")],
    [("我的身份证号是", None), ("", "CN_RESIDENT_ID"), ("，麻烦登记一下", None)],
    [("打款账户：", None), ("", "BANK_CARD"), ("，户名", None), ("", "PERSON")],
    [("加我微信", None), ("", "WECHAT_ID"), ("，细聊", None)],
    [("我QQ是", None), ("", "QQ_NUMBER")],
    [("座机", None), ("", "CN_LANDLINE"), ("，找", None), ("", "PERSON"), ("经理", None)],
    [("Hi, this is ", None), ("", "PERSON"), (", call me on ", None), ("", "CN_MOBILE")],
    [("@", None), ("", "NICKNAME"), (" 收到，明天把报价发你", None)],
]


def _free_text(rng, planter: _TextPlanter, row_keys, users, share: float, templates, plain) -> list[str]:
    plant = rng.random(len(users)) < share
    which = rng.integers(0, len(templates), len(users))
    pick = rng.integers(0, len(plain), len(users))
    return [planter.fill(rk, int(u), templates[w]) if p else plain[k]
            for rk, u, p, w, k in zip(row_keys, users, plant, which, pick)]


def _begin(spec: LakeSpec, pop: Population, dataset: str, prefix: str, day: date, n: int, part: int):
    """What every daily generator starts from: its random stream, its truth, who acts, when, and the row keys."""
    rng = spec.rng(dataset, day, part)
    u = _users(pop, rng, n)
    ms = _times(spec, rng, day, n)
    keys = np.array([f"{prefix}-{day:%Y%m%d}-{part:03d}-{i:07d}" for i in range(n)], dtype=object)
    return rng, _Truth(dataset), u, ms, keys, pop.user_id[u]


def registration(spec: LakeSpec, pop: Population, day: date) -> Chunk:
    """Users who registered on ``day``."""
    truth = _Truth("registration")
    idx = pop.registered_on.get(day, np.array([], dtype=int))
    uid = pop.user_id[idx]
    ms = np.array([int(pop.registered_at[i].timestamp() * 1000) for i in idx], dtype=np.int64)
    table = pa.table({
        "user_id": pa.array(uid, pa.string()), "phone": pa.array(pop.phone[idx], pa.string()),
        "name": pa.array(pop.name[idx], pa.string()), "nickname": pa.array(pop.nickname[idx], pa.string()),
        "gender": pa.array(pop.gender[idx], pa.string()), "avatar_url": pa.array(pop.avatar_url[idx], pa.string()),
        "registered_at": _ts_array(ms), "birth_date": pa.array([pop.birth[i] for i in idx], pa.date32()),
        "guardian_consent": pa.array(pop.guardian_consent[idx], pa.bool_()),
    })
    truth.column("user_id", "USER_ID", uid, uid, uid)
    truth.column("phone", "CN_MOBILE", uid, pop.phone[idx], uid)
    truth.column("name", "PERSON", uid, pop.name[idx], uid)
    truth.column("nickname", "NICKNAME", uid, pop.nickname[idx], uid)
    truth.column("avatar_url", "URL", uid, pop.avatar_url[idx], uid)
    return Chunk(table, truth.table())


def device_events(spec: LakeSpec, pop: Population, day: date, n: int, part: int = 0) -> Chunk:
    rng, truth, u, ms, keys, uid = _begin(spec, pop, "device_events", "dev", day, n, part)
    # A user is mostly at home; on some days in another city, all day, on their carrier's network there: the
    # position and the address agree on the city, as a city level of either means
    travel = spec.rng("travel", day)  # per user and day, the same in every part of the day
    visiting = np.where(travel.random(pop.n) < 0.15, pop.city[travel.integers(0, pop.n, pop.n)], pop.city)
    where = visiting[u]
    away = where != pop.city[u]
    ipv4 = pop.ipv4[u].copy()
    ipv4[away] = ipv4_in(where[away], pop.car[u][away], rng.integers(1, 255, size=(int(away.sum()), 2)))
    seats = np.array([places.centre_of(c[0]) for c in _CITIES])  # the same table that names a release's cities
    lat = seats[where, 0] + rng.normal(0, 0.05, n)
    lon = seats[where, 1] + rng.normal(0, 0.05, n)
    gps = [f"{a:.6f},{b:.6f}" for a, b in zip(lat, lon)]
    cols = {
        "event_id": keys, "ts": None, "user_id": uid, "device_model": pop.device_model[u],
        "os_version": pop.os_version[u], "imei": pop.imei[u], "android_id": pop.android_id[u],
        "idfa": pop.idfa[u], "oaid": pop.oaid[u], "ipv4": ipv4, "ipv6": pop.ipv6[u], "gps": gps,
        "wifi_bssid": pop.bssid[u], "wifi_ssid": pop.ssid[u], "bt_mac": pop.bt_mac[u], "cell_id": pop.cell_id[u],
        "carrier": pop.carrier[u], "language": pop.language[u],
    }
    table = pa.table({k: (_ts_array(ms) if k == "ts" else pa.array(v, pa.string())) for k, v in cols.items()})
    for col, ent in [("user_id", "USER_ID"), ("imei", "IMEI"), ("android_id", "DEVICE_ID"), ("idfa", "DEVICE_ID"),
                     ("oaid", "DEVICE_ID"), ("ipv4", "IP_ADDRESS"), ("ipv6", "IP_ADDRESS"), ("gps", "GPS_COORDINATE"),
                     ("wifi_bssid", "MAC_ADDRESS"), ("bt_mac", "MAC_ADDRESS"), ("cell_id", "CELL_ID")]:
        truth.column(col, ent, keys, cols[col], uid)
    return Chunk(table, truth.table())


def app_logs(spec: LakeSpec, pop: Population, day: date, n: int, part: int = 0) -> Chunk:
    rng, truth, u, ms, keys, uid = _begin(spec, pop, "app_logs", "req", day, n, part)
    paths = _choice(rng, _PATHS, n)
    search = np.flatnonzero(paths == "/api/v2/search")
    query = np.full(n, None, dtype=object)
    query[search] = _free_text(rng, _TextPlanter(pop, truth, "query"), keys[search], u[search], 0.35,
                               _QUERY_TEMPLATES, _QUERIES_PLAIN)
    table = pa.table({
        "request_id": pa.array(keys, pa.string()), "ts": pa.array(_iso(ms), pa.string()),
        "user_id": pa.array(uid, pa.string()), "ip": pa.array(pop.ipv4[u], pa.string()),
        "user_agent": pa.array(pop.ua[u], pa.string()), "carrier": pa.array(pop.carrier[u], pa.string()),
        "language": pa.array(pop.language[u], pa.string()), "path": pa.array(paths, pa.string()),
        "query": pa.array(query, pa.string()),
        "status": pa.array(_choice(rng, [200, 200, 200, 200, 304, 404, 500], n).astype(np.int64), pa.int64()),
    })
    truth.column("user_id", "USER_ID", keys, uid, uid)
    truth.column("ip", "IP_ADDRESS", keys, pop.ipv4[u], uid)
    return Chunk(table, truth.table())


def usage_events(spec: LakeSpec, pop: Population, day: date, n: int, part: int = 0) -> Chunk:
    rng, truth, u, ms, keys, uid = _begin(spec, pop, "usage_events", "use", day, n, part)
    table = pa.table({
        "event_id": pa.array(keys, pa.string()), "ts": _ts_array(ms), "user_id": pa.array(uid, pa.string()),
        "org_id": pa.array(pop.org[u], pa.string()), "event_type": pa.array(_choice(rng, _USAGE_EVENTS, n), pa.string()),
        "client": pa.array(_choice(rng, _CLIENTS, n), pa.string()),
        "duration_ms": pa.array(rng.integers(5, 60_000, n), pa.int64()),
    })
    truth.column("user_id", "USER_ID", keys, uid, uid)
    return Chunk(table, truth.table())


def call_records(spec: LakeSpec, pop: Population, day: date, n: int, part: int = 0) -> Chunk:
    rng, truth, u, ms, keys, uid = _begin(spec, pop, "call_records", "call", day, n, part)
    callee = rng.integers(0, pop.n, n)
    table = pa.table({
        "call_id": pa.array(keys, pa.string()), "ts": pa.array(_iso(ms), pa.string()),
        "user_id": pa.array(uid, pa.string()), "org_id": pa.array(pop.org[u], pa.string()),
        "callee_phone": pa.array(pop.phone[callee], pa.string()),
        "duration_s": pa.array(rng.gamma(1.5, 60, n).astype(np.int64), pa.int64()),
        "result": pa.array(_choice(rng, ["answered", "no_answer", "busy", "rejected"], n, [0.6, 0.25, 0.1, 0.05]),
                           pa.string()),
    })
    truth.column("user_id", "USER_ID", keys, uid, uid)
    truth.column("callee_phone", "CN_MOBILE", keys, pop.phone[callee], pop.user_id[callee])
    return Chunk(table, truth.table())


def chat_messages(spec: LakeSpec, pop: Population, day: date, n: int, part: int = 0) -> Chunk:
    rng, truth, u, ms, keys, uid = _begin(spec, pop, "chat_messages", "msg", day, n, part)
    text = _free_text(rng, _TextPlanter(pop, truth, "text"), keys, u, 0.3, _CHAT_TEMPLATES, _CHAT_PLAIN)
    table = pa.table({
        "msg_id": pa.array(keys, pa.string()), "ts": pa.array(_iso(ms), pa.string()),
        "user_id": pa.array(uid, pa.string()), "org_id": pa.array(pop.org[u], pa.string()),
        "conversation_id": pa.array([f"conv-{c:06d}" for c in rng.integers(0, max(10, pop.n // 3), n)], pa.string()),
        "text": pa.array(text, pa.string()),
    })
    truth.column("user_id", "USER_ID", keys, uid, uid)
    return Chunk(table, truth.table())


def enterprise_contacts(spec: LakeSpec, pop: Population) -> Chunk:
    """The enterprise control data: one row per employee of a customer organisation, as of ``spec.end``."""
    truth = _Truth("enterprise_contacts")
    rng = spec.rng("enterprise_contacts")
    idx = np.flatnonzero(pop.org != None)  # noqa: E711  (object array)
    span = (spec.end - spec.start).days + 1
    start_ms = int(datetime(spec.start.year, spec.start.month, spec.start.day, tzinfo=CN_TZ).timestamp() * 1000)
    ms = start_ms + rng.integers(0, span * 86_400_000, len(idx))
    keys = pop.user_id[idx]
    table = pa.table({
        "employee_id": pa.array(keys, pa.string()), "org_id": pa.array(pop.org[idx], pa.string()),
        "name": pa.array(pop.name[idx], pa.string()), "title": pa.array(pop.title[idx], pa.string()),
        "department": pa.array(pop.department[idx], pa.string()),
        "work_phone": pa.array(pop.work_phone[idx], pa.string()), "mobile": pa.array(pop.phone[idx], pa.string()),
        "email": pa.array(pop.email[idx], pa.string()), "resident_id": pa.array(pop.resident_id[idx], pa.string()),
        "updated_at": pa.array(_iso(np.sort(ms)), pa.string()),
    })
    for col, ent in [("employee_id", "USER_ID"), ("name", "PERSON"), ("work_phone", "CN_LANDLINE"),
                     ("mobile", "CN_MOBILE"), ("email", "EMAIL_ADDRESS"), ("resident_id", "CN_RESIDENT_ID")]:
        truth.column(col, ent, keys, table.column(col).to_pylist(), keys)
    return Chunk(table, truth.table())


DAILY_GENERATORS = {"device_events": device_events, "app_logs": app_logs, "usage_events": usage_events,
                    "call_records": call_records, "chat_messages": chat_messages}
