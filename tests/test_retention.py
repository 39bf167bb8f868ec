from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from configs.errors import PolicyError
from transforms.retention import cutoff, expired_mask, partition_status, resolve_as_of

SH = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize("dt, status", [(date(2026, 5, 1), "expired"), (date(2026, 5, 3), "mixed"),
                                        (date(2026, 5, 4), "live"), (None, "unknown")])
def test_partition_status(dt, status):
    cut = datetime(2026, 5, 3, 12, 0, tzinfo=SH)
    assert partition_status(dt, cut, "Asia/Shanghai") == status


def test_expired_mask_keeps_missing_times_null():
    cut = datetime(2026, 5, 3, tzinfo=SH)
    ts = pa.array([datetime(2026, 5, 2, tzinfo=SH), None, datetime(2026, 5, 4, tzinfo=SH)],
                  pa.timestamp("ms", tz="Asia/Shanghai"))
    assert expired_mask(ts, cut).to_pylist() == [True, None, False]


def test_cutoff():
    assert cutoff(datetime(2026, 11, 1, tzinfo=SH), timedelta(days=30)) == datetime(2026, 10, 2, tzinfo=SH)


def test_as_of_in_future_is_refused():
    now = datetime(2026, 11, 28, 10, tzinfo=SH)
    with pytest.raises(PolicyError, match="in the future"):
        resolve_as_of(date(2026, 12, 1), "Asia/Shanghai", now=now)
    assert resolve_as_of(date(2026, 11, 1), "Asia/Shanghai", now=now) == datetime(2026, 11, 1, tzinfo=SH)
