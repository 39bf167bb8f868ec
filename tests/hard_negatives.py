"""Hard negatives: log lines and messages that hold numbers and words shaped like identifiers or names, and none.

Version numbers written like IPv4 addresses, order, tracking, invoice and ticket numbers that pass the Luhn check
like a bank card, resident-ID-shaped numbers whose check digit fails, amounts, durations, hashes, error codes, and
Chinese words that start with a surname (马上, 高兴, 黄金). :func:`hard_negatives` makes ``n`` of them from a seed;
``python -m tests.hard_negatives > hardneg.jsonl`` writes them in the dev set's format (ids ``hardneg-N``, no
spans), for ``python ../shared/eval/score.py --data hardneg.jsonl -- piiflow detect``.
"""

from __future__ import annotations

import json
import random
import sys

from transforms.checksums import luhn_digit, resident_id_check


def _octets(rng: random.Random) -> str:
    return ".".join(str(rng.randint(0, 30 if k else 12)) for k in range(4))


def _luhn(rng: random.Random, length: int, prefix: str = "") -> str:
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    return body + luhn_digit(body)


def _bad_id(rng: random.Random) -> str:
    body = rng.choice(["110101", "440301", "320102", "510104"]) + f"{rng.randint(1960, 2010)}{rng.randint(1, 12):02d}" \
        f"{rng.randint(1, 28):02d}" + f"{rng.randint(0, 999):03d}"
    good = resident_id_check(body)
    return body + rng.choice([c for c in "0123456789" if c != good])


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


_TEMPLATES = [
    lambda r: f"客户端版本号{_octets(r)}，请升级",
    lambda r: f"当前版本 {_octets(r)} 已是最新",
    lambda r: f"app version {_octets(r)} released",
    lambda r: f"升级到{_octets(r)}后闪退",
    lambda r: f"firmware {_octets(r)} build {r.randint(100, 9999)}",
    lambda r: f"[INFO] sdk={_octets(r)} init ok in {r.randint(3, 900)}ms",
    lambda r: f"内核版本：{_octets(r)}-generic",
    lambda r: f"订单号{_luhn(r, r.choice([16, 18, 19]), '62')}已发货",
    lambda r: f"您的订单 {_luhn(r, 16, '4')} 已支付成功",
    lambda r: f"运单号：{_luhn(r, 15)}，预计明天送达",
    lambda r: f"快递单号 {_luhn(r, 16, '5' + str(r.randint(1, 5)))} 已签收",
    lambda r: f"invoice no. {_luhn(r, 16, '4')} is due",
    lambda r: f"ticket #{_luhn(r, 19, '62')} closed by agent",
    lambda r: f"order {_luhn(r, 16, '5' + str(r.randint(1, 5)))} shipped",
    lambda r: f"交易流水号{_luhn(r, 19, '62')}",
    lambda r: f"tracking {_luhn(r, 15, '3' + r.choice('47'))} delivered",
    lambda r: f"工单{_luhn(r, 16)}已处理完毕",
    lambda r: f"用户编号{_bad_id(r)}登录成功",
    lambda r: f"ref {_bad_id(r)} accepted",
    lambda r: f"金额 {r.randint(1, 9999999)}.{r.randint(0, 99):02d} 元，余额 {r.randint(1, 99999)} 元",
    lambda r: f"耗时 {r.randint(1000, 99999999)} ms，重试 {r.randint(0, 5)} 次",
    lambda r: f"trace_id={_hex(r, 32)} span={_hex(r, 16)} status=200",
    lambda r: f"md5 {_hex(r, 32)} sha1 {_hex(r, 40)}",
    lambda r: f"错误码 E{r.randint(100000, 999999)}，请稍后再试",
    lambda r: f"HTTP {r.choice([200, 301, 404, 500])} GET /api/v{r.randint(1, 3)}/items/{r.randint(1, 10**9)} "
              f"{r.randint(1, 3000)}ms",
    lambda r: f"{r.randint(2020, 2026)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} {r.randint(0, 23):02d}:"
              f"{r.randint(0, 59):02d}:{r.randint(0, 59):02d} job finished",
    lambda r: f"商品编码 {r.randint(10**12, 10**13 - 1)}，库存 {r.randint(0, 5000)}",
    lambda r: f"pid={r.randint(100, 99999)} port={r.randint(1024, 65535)} mem={r.randint(10, 9000)}MB",
    lambda r: r.choice(["马上处理一下这个问题", "很高兴为您服务", "黄金价格今天上涨", "王者荣耀更新了新版本", "常见问题请看帮助",
                        "方便面口味调查结果", "明天见，周末愉快", "石油价格下跌", "宋体字显示不全", "白金会员权益说明",
                        "高级设置里可以关闭推送", "江湖救急，帮忙转发", "周末安排客户回访", "严重错误：磁盘已满",
                        "项目经理审批通过", "请联系客服处理退款", "管理员已重置密码", "祝您生活愉快", "余额不足，请充值",
                        "该功能暂不支持", "邵阳红烧肉做法", "龙井茶叶到货", "康师傅红烧牛肉面", "金山文档已同步"]),
    lambda r: f"型号 SM-G{r.randint(9000, 9999)}{r.choice('UBN')} 固件 {_octets(r)}",
]


def hard_negatives(n: int = 400, seed: int = 7) -> list[str]:
    """``n`` hard negatives (every template in turn, random values from ``seed``)."""
    rng = random.Random(seed)
    return [_TEMPLATES[k % len(_TEMPLATES)](rng) for k in range(n)]


if __name__ == "__main__":
    for k, text in enumerate(hard_negatives()):
        lang = "zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else "en"
        sys.stdout.write(json.dumps({"id": f"hardneg-{k}", "set": "hardneg", "lang": lang, "text": text, "spans": []},
                                    ensure_ascii=False) + "\n")
