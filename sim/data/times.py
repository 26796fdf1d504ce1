"""Times of market data: user input -> UTC Timestamps, and the text the diagnostics print."""

from __future__ import annotations

import pandas as pd

from sim.errors import DataError


# times are nanoseconds since 1970 in int64 (pandas' unit for every index here): this range
FIRST_TIME = pd.Timestamp("1677-09-22", tz="UTC")
LAST_TIME = pd.Timestamp("2262-04-11", tz="UTC")
TIME_RANGE = "1677-09-22 to 2262-04-11 UTC"
MIN_SECONDS = (FIRST_TIME.value // 10**9)  # the same range in Unix seconds
MAX_SECONDS = (LAST_TIME.value // 10**9)


def to_utc(t, what: str | None = None) -> pd.Timestamp:
    """A time given as text, datetime or Timestamp -> tz-aware UTC Timestamp (ns).
    DataError (message starting with ``what``, default ``time 'T'``) if it is not a time
    or lies outside ``TIME_RANGE``."""
    what = what or f"time {t!r}"
    try:
        ts = pd.Timestamp(t)
        if ts is pd.NaT:
            raise ValueError
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        if not (FIRST_TIME <= ts <= LAST_TIME):
            raise OverflowError
        return ts.as_unit("ns")
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        raise DataError(f"{what}: outside the supported time range ({TIME_RANGE})") from None
    except (ValueError, TypeError):
        raise DataError(f"{what}: not a date or time (use e.g. 2021-01-01 or 2021-01-01T08:00)") from None


def fmt_time(t) -> str:
    """``2021-01-01 08:00 UTC`` (midnight as ``2021-01-01 00:00 UTC``)."""
    t = pd.Timestamp(t)
    return t.strftime("%Y-%m-%d %H:%M") + " UTC" if (t.hour or t.minute) else t.strftime("%Y-%m-%d") + " 00:00 UTC"


def fmt_td(td: pd.Timedelta) -> str:
    """A bar length or spacing in its largest whole unit: ``1 h``, ``8 h``, ``1 d``."""
    s = td.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size and abs(s / size - round(s / size)) < 1e-9:
            return f"{int(round(s / size))} {unit}"
    return f"{s:g} s"


def describe_period(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """``2021-01-01 00:00 UTC to 2021-07-01 00:00 UTC (181.0 days)``."""
    days = (end - start).total_seconds() / 86400
    return f"{fmt_time(start)} to {fmt_time(end)} ({days:,.1f} days)"
