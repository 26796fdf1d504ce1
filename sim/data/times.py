"""Times of market data: user input -> UTC Timestamps, and the text the diagnostics print."""

from __future__ import annotations

import pandas as pd

from sim.errors import DataError


def to_utc(t) -> pd.Timestamp:
    """A time given as text, datetime or Timestamp -> tz-aware UTC Timestamp."""
    try:
        ts = pd.Timestamp(t)
    except (ValueError, TypeError):
        raise DataError(f"time {t!r}: not a date or time (use e.g. 2021-01-01 or 2021-01-01T08:00)") from None
    if ts is pd.NaT:
        raise DataError(f"time {t!r}: not a date or time")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.as_unit("ns")


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
