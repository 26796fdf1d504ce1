"""Price and funding CSVs -> UTC-indexed pandas structures.

Every layout of the project's market-data folder is recognised from its header (see
``LAYOUTS``); any other file is read through an explicit column mapping
(``columns={"time": ..., "close": ..., ...}``) or a generic guess (a time column such as
``timestamp``/``time``/``date`` and a price column such as ``close``/``price``). What was
detected is said on stderr (``log``), together with everything that was changed:

* times: Unix seconds or milliseconds, decided row by row (files that switch units
  mid-way are read correctly and the switch is reported), or ISO-8601 / "YYYY-MM-DD
  HH:MM:SS" text, naive text taken as UTC unless the layout (or ``utc_offset``) says
  otherwise; rounded to whole seconds (some exports carry millisecond jitter);
* the index is the **end** of each bar (the time at which its close is known): bars
  labelled by their open time are shifted by one bar, so slicing at a time t never
  uses a price observed after t (no look-ahead);
* rows are sorted (newest-first files are common), duplicated times are reduced to one
  row (identical rows silently; differing rows keep the row written in milliseconds,
  else the first in the file, and the largest difference is reported);
* the last bar of a file labelled by bar **open** times is dropped: nothing in such a
  file shows that the bar had closed when it was saved (``keep_last=True`` keeps it);
* gaps (missing bars) are reported, never filled; OHLC rows whose high/low do not
  contain open and close are widened (reported), non-positive open/high/low are
  replaced by the close (reported);
* anything unreadable raises :class:`DataError` naming the file, the line and the problem.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from sim.errors import ConfigError, DataError  # noqa: F401  (DataError re-exported)

PRICE_ROLES = ("open", "high", "low", "close")
PERP_ROLES = ("perp_open", "perp_high", "perp_low", "perp_close")
MAP_KEYS = ("time", *PRICE_ROLES, *PERP_ROLES, "funding", "spot", "perp", "funding_interval", "label",
            "utc_offset", "unit")




def _norm(name: str) -> str:
    return "_".join(str(name).strip().lower().replace("-", " ").split())


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    required: tuple[str, ...]  # normalised header names that identify the layout
    roles: Mapping[str, str]  # role -> normalised header name
    label: str  # "open": time = bar open; "end": time = bar end; "point": an observation at that time
    utc_offset_h: float = 0.0


LAYOUTS: tuple[Layout, ...] = (
    Layout("spot-perp-8h", "Bybit/Binance 8-hourly spot and perpetual OHLC with funding (Timestamp = bar end, UTC)",
           ("timestamp", "close_spot", "close_futures"),
           {"time": "timestamp", "open": "open_spot", "high": "high_spot", "low": "low_spot", "close": "close_spot",
            "perp_open": "open_futures", "perp_high": "high_futures", "perp_low": "low_futures",
            "perp_close": "close_futures", "funding": "funding_rate", "spot": "close_spot", "perp": "close_futures"},
           "end"),
    Layout("cryptocompare-dailyfiles", "CryptoCompare hourly OHLC, upper-case columns (TIME_UNIX = bar open)",
           ("time_unix", "close_price"),
           {"time": "time_unix", "open": "open_price", "high": "high_price", "low": "low_price",
            "close": "close_price"}, "open"),
    Layout("cryptocompare-hourly", "CryptoCompare hourly OHLC, columns O,H,C,L (time = bar open, Unix s)",
           ("time", "date", "hour", "open", "high", "close", "low"),
           {"time": "time", "open": "open", "high": "high", "low": "low", "close": "close"}, "open"),
    Layout("cryptodatadownload", "CryptoDataDownload OHLC (Unix Timestamp = bar open, s or ms, newest first)",
           ("unix_timestamp", "open", "high", "low", "close"),
           {"time": "unix_timestamp", "open": "open", "high": "high", "low": "low", "close": "close"}, "open"),
    Layout("cryptodatadownload-unix", "CryptoDataDownload OHLC (unix = bar open, s or ms, newest first)",
           ("unix", "open", "high", "low", "close"),
           {"time": "unix", "open": "open", "high": "high", "low": "low", "close": "close"}, "open"),
    Layout("binance-klines", "Binance klines (Open time = bar open, UTC)",
           ("open_time", "open", "high", "low", "close", "close_time"),
           {"time": "open_time", "open": "open", "high": "high", "low": "low", "close": "close"}, "open"),
    Layout("deribit-funding-index", "Deribit hourly funding with its index (timestamp in ms, UTC; the local-time "
           "time_dt column is ignored)", ("timestamp", "interest_8h", "index_price"),
           {"time": "timestamp", "close": "index_price", "funding": "interest_8h"}, "point"),
    Layout("bitmex-funding", "BitMEX funding history (timestamp = settlement, UTC)",
           ("timestamp", "fundingrate", "fundinginterval"),
           {"time": "timestamp", "funding": "fundingrate", "funding_interval": "fundinginterval"}, "point"),
    Layout("bitmex-trades", "BitMEX trades (timestamp = trade time, UTC)", ("timestamp", "price", "trdmatchid"),
           {"time": "timestamp", "close": "price"}, "point"),
    Layout("linear-funding-utc+3", "funding history with Date in local time UTC+3 (shifted to UTC)",
           ("symbol", "date", "funding_rate"), {"time": "date", "funding": "funding_rate"}, "point", 3.0),
    Layout("daily-funding-mean", "daily mean of 8-hourly funding rates (date = the day)",
           ("date", "funding_mean"), {"time": "date", "funding": "funding_mean"}, "open"),
    Layout("daily-close", "daily closes (date = the day, price = its close)", ("date", "price"),
           {"time": "date", "close": "price"}, "open"),
)

TIME_CANDIDATES = ("timestamp", "unix_timestamp", "unix", "time_unix", "time", "open_time", "datetime", "date")
GENERIC = {
    "open": ("open", "open_price", "open_spot"),
    "high": ("high", "high_price", "high_spot"),
    "low": ("low", "low_price", "low_spot"),
    "close": ("close", "close_price", "close_spot", "price", "index_price", "mark", "mark_price"),
    "perp_open": ("open_futures", "open_perp", "perp_open"),
    "perp_high": ("high_futures", "high_perp", "perp_high"),
    "perp_low": ("low_futures", "low_perp", "perp_low"),
    "perp_close": ("close_futures", "close_perp", "perp_close", "perp_price"),
    "funding": ("funding_rate", "fundingrate", "funding", "rate", "interest_8h"),
}


@dataclass
class PriceData:
    """Bars of one price series (possibly spliced from several files).

    ``bars``: DataFrame indexed by the bar **end** time (UTC, tz-aware), columns ``close``
    and, when the file has them, ``open``, ``high``, ``low`` and the perpetual's
    ``perp_open`` ... ``perp_close``. ``bar``: the bar length (most common spacing).
    ``gaps``: one row per gap: ``after`` (last bar end before it), ``before`` (next bar
    end), ``missing`` (number of bars missing).
    """

    bars: pd.DataFrame
    bar: pd.Timedelta
    source: str
    layout: str
    gaps: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def has_ohlc(self) -> bool:
        return "high" in self.bars

    @property
    def has_perp(self) -> bool:
        return "perp_close" in self.bars

    def between(self, start=None, end=None) -> pd.DataFrame:
        """Bars whose end time is in [start, end] (either may be None)."""
        b = self.bars
        if start is not None:
            b = b[b.index >= to_utc(start)]
        if end is not None:
            b = b[b.index <= to_utc(end)]
        return b


@dataclass
class FundingData:
    """Funding rates at their settlement times (UTC), per ``rate_interval`` (8 h unless the
    file says otherwise), and, when the file has them, spot and perpetual prices at the
    same times (``spot``, ``perp``) for the basis perp/spot - 1."""

    rate: pd.Series
    spacing: pd.Timedelta
    source: str
    layout: str
    gaps: pd.DataFrame
    spot: pd.Series | None = None
    perp: pd.Series | None = None
    rate_interval: pd.Timedelta = pd.Timedelta("8h")
    notes: list[str] = field(default_factory=list)

    @property
    def has_basis(self) -> bool:
        return self.spot is not None and self.perp is not None

    @property
    def basis(self) -> pd.Series | None:
        return (self.perp / self.spot - 1.0).rename("basis") if self.has_basis else None


# --------------------------------------------------------------------------- helpers


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


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def parse_columns(spec: str | None) -> dict | None:
    """``"time=Timestamp,close=Close_futures,label=end"`` -> mapping (CLI option)."""
    if not spec:
        return None
    out = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise DataError(f"column mapping {spec!r}: item {item.strip()!r} is not KEY=COLUMN")
        k, v = (x.strip() for x in item.split("=", 1))
        if k not in MAP_KEYS:
            raise DataError(f"column mapping {spec!r}: unknown key {k!r}; keys are {', '.join(MAP_KEYS)}")
        out[k] = v
    return out


def _fmt_t(t) -> str:
    t = pd.Timestamp(t)
    return t.strftime("%Y-%m-%d %H:%M") + " UTC" if (t.hour or t.minute) else t.strftime("%Y-%m-%d") + " 00:00 UTC"


def fmt_td(td: pd.Timedelta) -> str:
    s = td.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size and abs(s / size - round(s / size)) < 1e-9:
            return f"{int(round(s / size))} {unit}"
    return f"{s:g} s"


# --------------------------------------------------------------------------- reading


@dataclass
class _Table:
    path: str
    layout: Layout
    times: pd.DatetimeIndex  # UTC, as labelled in the file (before the bar-end shift), file order
    lines: np.ndarray  # file line of each row (header = 1)
    ms_rows: np.ndarray  # bool: raw time was in milliseconds
    values: dict[str, np.ndarray]  # role -> float values, file order
    notes: list[str]


def _read_csv(path: str) -> pd.DataFrame:
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file {path!r}: not found")
    if p.is_dir():
        raise DataError(f"data file {path!r}: is a directory, expected a CSV file")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False, skip_blank_lines=False, compression="infer",
                         skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {path!r}: is empty") from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[0]
        raise DataError(f"data file {path!r}: malformed CSV ({msg})") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"data file {path!r}: not UTF-8 text (byte {exc.start})") from None
    except (OSError, EOFError) as exc:  # e.g. a truncated .gz
        raise DataError(f"data file {path!r}: cannot be read ({exc})") from None
    return df


def _detect(path: str, header: list[str], mapping: Mapping | None, want: str) -> Layout:
    """The layout of a file: explicit mapping, a known layout, or a generic guess."""
    norm = [_norm(h) for h in header]
    if mapping:
        roles = {}
        for k, v in mapping.items():
            if k in ("label", "utc_offset", "unit"):
                continue
            if _norm(v) not in norm:
                raise DataError(f"data file {path!r}: column {v!r} (for {k}) not in the header "
                                f"({', '.join(header)})")
            roles[k] = _norm(v)
        if "time" not in roles:
            raise DataError(f"data file {path!r}: the column mapping needs time=COLUMN")
        label = mapping.get("label", "open" if "high" in roles else "point")
        if label not in ("open", "end", "point"):
            raise DataError(f"column mapping: label={label!r}; use open (time = bar open), end (time = bar end) "
                            "or point (an observation at that time)")
        try:
            off = float(mapping.get("utc_offset", 0.0))
        except ValueError:
            raise DataError(f"column mapping: utc_offset={mapping['utc_offset']!r} is not a number of hours") from None
        return Layout("explicit", "explicit column mapping", tuple(roles.values()), roles, label, off)
    for lay in LAYOUTS:
        if all(r in norm for r in lay.required):
            return lay
    roles = {}
    for cand in TIME_CANDIDATES:
        if cand in norm:
            roles["time"] = cand
            break
    for role, cands in GENERIC.items():
        for c in cands:
            if c in norm:
                roles[role] = c
                break
    if "time" not in roles:
        raise DataError(f"data file {path!r}: no time column found (header: {', '.join(header)}); "
                        f"name it one of {', '.join(TIME_CANDIDATES)} or map it explicitly, e.g. "
                        "--price-columns time=MyTime,close=MyClose")
    need = "close" if want == "prices" else "funding"
    if need not in roles:
        what = "price (close)" if want == "prices" else "funding rate"
        raise DataError(f"data file {path!r}: no {what} column found (header: {', '.join(header)}); map it "
                        f"explicitly, e.g. --{want[:-1] if want == 'prices' else 'funding'}-columns "
                        f"time={header[norm.index(roles['time'])]},{need}=COLUMN")
    label = "open" if "high" in roles else "point"
    desc = "generic: " + ", ".join(f"{k}={header[norm.index(v)]}" for k, v in roles.items())
    return Layout("generic", desc, tuple(roles.values()), roles, label)


def _parse_times(path: str, raw: pd.Series, col: str, lines: np.ndarray, unit: str | None,
                 notes: list[str]) -> tuple[pd.DatetimeIndex, np.ndarray]:
    text = raw.str.strip()
    empty = (text == "").to_numpy()
    if empty.any():
        i = int(np.argmax(empty))
        raise DataError(f"data file {path!r}, line {lines[i]}: the time ({col}) is empty")
    num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    is_num = ~np.isnan(num)
    if is_num.all():
        if unit in ("s", "ms"):
            ms = np.full(num.size, unit == "ms")
        else:
            ms = np.abs(num) > 1e11  # 1e11 s is the year 5138; 1e11 ms is 1973
        secs = np.where(ms, num / 1000.0, num)
        if ms.any() and not ms.all():
            order = np.argsort(secs, kind="stable")
            ms_sorted = ms[order]
            first_ms = order[np.argmax(ms_sorted)]
            notes.append(f"timestamp unit changes from seconds to milliseconds at "
                         f"{_fmt_t(pd.Timestamp(secs[first_ms], unit='s'))} (line {lines[first_ms]}; "
                         f"{int(ms.sum()):,} rows in ms, {int((~ms).sum()):,} in s)")
        t = pd.to_datetime(np.round(secs).astype(np.int64), unit="s", utc=True)
        return pd.DatetimeIndex(t).as_unit("ns"), ms
    if is_num.any() and (~is_num).any() and is_num.mean() > 0.5:
        i = int(np.argmax(~is_num))
        raise DataError(f"data file {path!r}, line {lines[i]}: cannot read the time {text.iloc[i]!r} in column "
                        f"{col!r} (the other rows are Unix timestamps)")
    t = None
    for fmt in ("ISO8601", "mixed"):
        try:
            t = pd.to_datetime(text, utc=True, format=fmt)
            break
        except (ValueError, TypeError, OverflowError):
            continue
    if t is None:  # find the first row that does not parse
        for i, s in enumerate(text):
            try:
                pd.Timestamp(s)
            except (ValueError, TypeError, OverflowError):
                raise DataError(f"data file {path!r}, line {lines[i]}: cannot read the time {s!r} in column "
                                f"{col!r} (ISO-8601, YYYY-MM-DD HH:MM:SS or Unix seconds/milliseconds)") from None
        raise DataError(f"data file {path!r}: cannot read the times in column {col!r}")
    t = pd.DatetimeIndex(t)
    if t.isna().any():
        i = int(np.argmax(np.asarray(t.isna())))
        raise DataError(f"data file {path!r}, line {lines[i]}: cannot read the time {text.iloc[i]!r} in column {col!r}")
    return t.as_unit("ns").round("s"), np.zeros(len(t), dtype=bool)


def _numbers(path: str, raw: pd.Series, col: str, role: str, lines: np.ndarray) -> np.ndarray:
    text = raw.str.strip()
    x = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(x) | ~np.isfinite(x)
    if bad.any():
        i = int(np.argmax(bad))
        what = "is empty" if text.iloc[i] == "" else f"{text.iloc[i]!r} is not a number"
        raise DataError(f"data file {path!r}, line {lines[i]}: {role} ({col}) {what}")
    return x


def _read_table(path: str, mapping: Mapping | None, want: str) -> _Table:
    path = str(path)
    df = _read_csv(path)
    header = list(df.columns)
    lines = np.arange(len(df)) + 2
    blank = (df.apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy() if len(df) else np.zeros(0, bool)
    if blank.any():
        df = df[~blank]
        lines = lines[~blank]
    if len(df) < 2:
        raise DataError(f"data file {path!r}: needs a header and at least two data rows (has {len(df)})")
    lay = _detect(path, header, mapping, want)
    norm_to_col = {}
    for h in header:
        norm_to_col.setdefault(_norm(h), h)
    notes: list[str] = []
    unit = mapping.get("unit") if mapping else None
    if unit not in (None, "s", "ms", "auto"):
        raise DataError(f"column mapping: unit={unit!r}; use s, ms or auto")
    tcol = norm_to_col[lay.roles["time"]]
    times, ms = _parse_times(path, df[tcol], tcol, lines, None if unit == "auto" else unit, notes)
    if lay.utc_offset_h:
        times = times - pd.Timedelta(hours=lay.utc_offset_h)
        notes.append(f"times in column {tcol!r} are local time UTC{lay.utc_offset_h:+g} h: converted to UTC")
    values = {}
    for role, ncol in lay.roles.items():
        if role in ("time", "funding_interval"):
            continue
        col = norm_to_col[ncol]
        values[role] = _numbers(path, df[col], col, role, lines)
    if "funding_interval" in lay.roles:
        col = norm_to_col[lay.roles["funding_interval"]]
        iv = pd.to_datetime(df[col].str.strip(), utc=True, errors="coerce") - pd.Timestamp("2000-01-01", tz="UTC")
        if iv.isna().any():
            i = int(np.argmax(iv.isna().to_numpy()))
            raise DataError(f"data file {path!r}, line {lines[i]}: funding interval {df[col].iloc[i]!r} not readable")
        values["funding_interval_s"] = iv.dt.total_seconds().to_numpy()
    return _Table(path, lay, times, lines, ms, values, notes)


def _clean(tb: _Table, roles: Iterable[str], keep_last: bool, kind: str) -> tuple[pd.DataFrame, pd.Timedelta, pd.DataFrame]:
    """Sort, de-duplicate, shift to bar end, drop a possibly partial last bar, find gaps."""
    path, notes, lines = tb.path, tb.notes, tb.lines
    cols = [r for r in roles if r in tb.values]
    df = pd.DataFrame({r: tb.values[r] for r in cols})
    df["_line"] = lines
    df["_ms"] = tb.ms_rows
    df["_t"] = tb.times
    d = np.diff(tb.times.asi8)
    if (d < 0).any():
        if (d < 0).mean() > 0.5:
            notes.append("rows are newest first: sorted by time")
        else:
            notes.append(f"{int((d < 0).sum()):,} rows out of time order: sorted by time")
    df = df.sort_values("_t", kind="stable")
    dup = df["_t"].duplicated(keep=False).to_numpy()
    if dup.any():
        sub = df[dup]
        vals = sub[cols]
        n_groups = sub["_t"].nunique()
        n_extra = int(dup.sum()) - n_groups
        # keep per time: a millisecond row first, else the first in file order
        df = df.sort_values(["_t", "_ms", "_line"], ascending=[True, False, True], kind="stable")
        spread = (vals.groupby(sub["_t"]).max() - vals.groupby(sub["_t"]).min())
        base = vals.groupby(sub["_t"]).max().abs().replace(0, np.nan)
        rel = float(np.nanmax((spread / base).to_numpy())) if len(spread) else 0.0
        first = sub["_t"].iloc[0]
        first_lines = sub.loc[sub["_t"] == first, "_line"].tolist()
        if rel == 0.0:
            notes.append(f"{n_extra:,} duplicated rows with identical values dropped (first at {_fmt_t(first)}, "
                         f"lines {', '.join(map(str, first_lines[:3]))})")
        else:
            how = "the row written in milliseconds" if sub["_ms"].any() and not sub["_ms"].all() else \
                "the first row in the file"
            notes.append(f"{n_extra:,} duplicated times with differing values (first at {_fmt_t(first)}, lines "
                         f"{', '.join(map(str, first_lines[:3]))}; largest difference {100 * rel:.3g} %): kept {how}")
        df = df.drop_duplicates("_t", keep="first")
    t = pd.DatetimeIndex(df["_t"]).as_unit("ns")
    if len(t) < 2:
        raise DataError(f"data file {path!r}: fewer than two distinct times")
    diffs = np.diff(t.asi8) // 10**9
    step_s = int(pd.Series(diffs).mode().iloc[0])
    bar = pd.Timedelta(seconds=step_s)
    label = tb.layout.label
    if label == "open":
        if not keep_last:
            notes.append(f"last bar (open {_fmt_t(t[-1])}, line {int(df['_line'].iloc[-1])}) dropped: a bar "
                         "labelled by its open time may have been saved before it closed")
            df = df.iloc[:-1]
            t = t[:-1]
        t = t + bar
    df.index = pd.DatetimeIndex(t, name="time").as_unit("ns")
    lines_kept = df["_line"].to_numpy()
    df = df[cols]
    diffs = np.diff(df.index.asi8) // 10**9
    g = np.nonzero(diffs > step_s * 1.5)[0]
    gaps = pd.DataFrame({"after": df.index[g], "before": df.index[g + 1],
                         "missing": (diffs[g] / step_s - 1).round().astype(int)})
    irregular = int(np.count_nonzero((diffs % step_s) != 0))
    if len(gaps):
        big = gaps.iloc[int(np.argmax(gaps["missing"].to_numpy()))]
        notes.append(f"{len(gaps):,} gap(s), {int(gaps['missing'].sum()):,} missing {kind} of {fmt_td(bar)} (not "
                     f"filled; largest {int(big['missing'])} after {_fmt_t(big['after'])})")
    if irregular:
        notes.append(f"{irregular:,} spacing(s) not a whole number of {fmt_td(bar)}")
    df.attrs["lines"] = lines_kept
    return df, bar, gaps


def _repair_ohlc(df: pd.DataFrame, prefix: str, notes: list[str], lines: np.ndarray, path: str) -> pd.DataFrame:
    c = prefix + "close"
    bad = ~(df[c] > 0)
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise DataError(f"data file {path!r}, line {lines[i]}: {c} = {df[c].iloc[i]:g} must be positive")
    if prefix + "high" not in df:
        return df
    o, h, lo = prefix + "open", prefix + "high", prefix + "low"
    nonpos = np.zeros(len(df), dtype=bool)
    for col in (o, h, lo):
        if col in df:
            m = ~(df[col] > 0)
            nonpos |= m.to_numpy()
            df.loc[m, col] = df.loc[m, c]
    cols = [x for x in (o, c) if x in df]
    hi_need = df[cols].max(axis=1)
    lo_need = df[cols].min(axis=1)
    widen = (df[h] < hi_need) | ((df[lo] > lo_need) if lo in df else False)
    widen = widen.to_numpy() & ~nonpos
    if nonpos.any():
        i = int(np.argmax(nonpos))
        notes.append(f"{int(nonpos.sum()):,} row(s) with a zero or negative {prefix or ''}open/high/low (first at "
                     f"line {lines[i]}): replaced by the close")
    if widen.any():
        i = int(np.argmax(widen))
        notes.append(f"{int(widen.sum()):,} row(s) whose {prefix or ''}high/low do not contain open and close "
                     f"(first at line {lines[i]}): widened to contain them")
    df[h] = np.maximum(df[h], hi_need)
    if lo in df:
        df[lo] = np.minimum(df[lo], lo_need)
    return df


# --------------------------------------------------------------------------- public


def load_prices(paths: str | Path | Iterable[str | Path], columns: Mapping | None = None, *,
                keep_last: bool = False, log: Callable[[str], None] | None = _stderr) -> PriceData:
    """Read one price CSV, or several spliced together (where bars overlap, the file given
    later wins; the agreement over the overlap is reported). ``columns``: an explicit
    mapping {role: column} with roles time, open, high, low, close, perp_open ...
    perp_close, and optionally label ("open" | "end" | "point"), utc_offset (hours) and
    unit ("s" | "ms" | "auto"). ``log`` receives the diagnostics (default: stderr)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [str(p) for p in paths]
    if not paths:
        raise DataError("no price file given")
    parts = []
    for p in paths:
        tb = _read_table(p, columns, "prices")
        if "close" not in tb.values:
            raise DataError(f"data file {p!r} ({tb.layout.name}): has no price column; it is a funding file "
                            "(use it with --funding)")
        df, bar, gaps = _clean(tb, (*PRICE_ROLES, *PERP_ROLES), keep_last, "bars")
        lines = df.attrs["lines"]
        df = _repair_ohlc(df, "", tb.notes, lines, p)
        if "perp_close" in df:
            df = _repair_ohlc(df, "perp_", tb.notes, lines, p)
        df.attrs = {}
        if log:
            cols = ", ".join(df.columns)
            log(f"prices: {p}: layout {tb.layout.name} ({tb.layout.description}); {len(df):,} bars of "
                f"{fmt_td(bar)}, {_fmt_t(df.index[0])} to {_fmt_t(df.index[-1])} (bar end); columns {cols}")
            for n in tb.notes:
                log(f"prices: {p}: {n}")
        parts.append(PriceData(df, bar, p, tb.layout.name, gaps, tb.notes))
    if len(parts) == 1:
        return parts[0]
    return _splice(parts, log)


def _splice(parts: list[PriceData], log) -> PriceData:
    bar = parts[0].bar
    for pd_ in parts[1:]:
        if pd_.bar != bar:
            raise DataError(f"price files {parts[0].source!r} and {pd_.source!r} have different bar lengths "
                            f"({fmt_td(bar)} and {fmt_td(pd_.bar)}); splice files of one bar length")
    cols = [c for c in parts[0].bars.columns if all(c in p.bars for p in parts)]
    dropped = sorted({c for p in parts for c in p.bars.columns} - set(cols))
    notes = []
    if dropped:
        notes.append(f"columns not in every file dropped: {', '.join(dropped)}")
    combined = parts[0].bars[cols]
    for p in parts[1:]:
        new = p.bars[cols]
        common = combined.index.intersection(new.index)
        if len(common):
            d = (new.loc[common, "close"] / combined.loc[common, "close"] - 1.0).abs()
            notes.append(f"{len(common):,} bars of {p.source!r} overlap the earlier file(s) "
                         f"({_fmt_t(common[0])} to {_fmt_t(common[-1])}; close differs by a median "
                         f"{100 * float(d.median()):.3g} %, max {100 * float(d.max()):.3g} %): the later file's bars kept")
        combined = pd.concat([combined[~combined.index.isin(new.index)], new]).sort_index()
    step_s = int(bar.total_seconds())
    combined.index = pd.DatetimeIndex(combined.index).as_unit("ns")
    diffs = np.diff(combined.index.asi8) // 10**9
    g = np.nonzero(diffs > step_s * 1.5)[0]
    gaps = pd.DataFrame({"after": combined.index[g], "before": combined.index[g + 1],
                         "missing": (diffs[g] / step_s - 1).round().astype(int)})
    notes.append(f"spliced: {len(combined):,} bars, {_fmt_t(combined.index[0])} to {_fmt_t(combined.index[-1])}, "
                 f"{len(gaps):,} gap(s) ({int(gaps['missing'].sum()) if len(gaps) else 0:,} missing bars, not filled)")
    if log:
        for n in notes:
            log(f"prices: {n}")
    return PriceData(combined, bar, " + ".join(p.source for p in parts), "+".join(p.layout for p in parts),
                     gaps, [n for p in parts for n in p.notes] + notes)


def load_funding(paths: str | Path | Iterable[str | Path], columns: Mapping | None = None, *,
                 log: Callable[[str], None] | None = _stderr) -> FundingData:
    """Read a funding CSV (rates per funding interval, fractions) and, when the file has
    them, its spot and perpetual prices (for the basis). Several files are spliced as in
    :func:`load_prices`. Rates quoted for another interval (BitMEX's early daily
    funding) are rescaled to 8 hours."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [str(p) for p in paths]
    if not paths:
        raise DataError("no funding file given")
    outs = []
    for p in paths:
        tb = _read_table(p, columns, "funding")
        if "funding" not in tb.values:
            raise DataError(f"data file {p!r} ({tb.layout.name}): has no funding-rate column; map it with "
                            "--funding-columns time=COLUMN,funding=COLUMN")
        if "funding_interval_s" in tb.values:
            iv = tb.values["funding_interval_s"]
            other = iv != 8 * 3600
            if other.any():
                tb.values["funding"] = np.where(other, tb.values["funding"] * (8 * 3600) / iv, tb.values["funding"])
                tb.notes.append(f"{int(other.sum()):,} rates quoted for another funding interval (e.g. "
                                f"{fmt_td(pd.Timedelta(seconds=float(iv[other][0])))}) rescaled to 8 h")
        roles = ("funding", "spot", "perp") if "spot" in tb.values and "perp" in tb.values else ("funding",)
        lay = tb.layout
        if lay.label == "end":  # funding settles at the row's time; OHLC rows are labelled by bar end already
            tb.layout = Layout(lay.name, lay.description, lay.required, lay.roles, "point", lay.utc_offset_h)
        df, spacing, gaps = _clean(tb, roles, True, "funding times")
        df.attrs = {}
        if log:
            extra = " with spot and perpetual prices (basis)" if "spot" in df else ""
            log(f"funding: {p}: layout {tb.layout.name} ({tb.layout.description}); {len(df):,} rates{extra} every "
                f"{fmt_td(spacing)}, {_fmt_t(df.index[0])} to {_fmt_t(df.index[-1])}; mean "
                f"{100 * df['funding'].mean():.4f} % per 8 h")
            for n in tb.notes:
                log(f"funding: {p}: {n}")
        outs.append((df, spacing, gaps, p, tb.layout.name, tb.notes))
    if len(outs) == 1:
        df, spacing, gaps, p, lay, notes = outs[0]
    else:
        cols = [c for c in outs[0][0].columns if all(c in o[0] for o in outs)]
        df = outs[0][0][cols]
        for o in outs[1:]:
            df = pd.concat([df[~df.index.isin(o[0].index)], o[0][cols]]).sort_index()
        df.index = pd.DatetimeIndex(df.index).as_unit("ns")
        spacing = pd.Timedelta(seconds=int(pd.Series(np.diff(df.index.asi8) // 10**9).mode().iloc[0]))
        st = int(spacing.total_seconds())
        diffs = np.diff(df.index.asi8) // 10**9
        g = np.nonzero(diffs > st * 1.5)[0]
        gaps = pd.DataFrame({"after": df.index[g], "before": df.index[g + 1],
                             "missing": (diffs[g] / st - 1).round().astype(int)})
        p = " + ".join(o[3] for o in outs)
        lay = "+".join(o[4] for o in outs)
        notes = [n for o in outs for n in o[5]]
    spot = df["spot"] if "spot" in df else None
    perp = df["perp"] if "perp" in df else None
    if spot is not None:
        bad = ~((spot > 0) & (perp > 0))
        if bad.any():
            raise DataError(f"data file {p!r}: non-positive spot or perpetual price at {_fmt_t(df.index[bad.to_numpy()][0])}")
    return FundingData(df["funding"].rename("funding"), spacing, p, lay, gaps, spot, perp, notes=notes)


def asof(series: pd.Series | pd.DataFrame, times: pd.DatetimeIndex):
    """Values of ``series`` at ``times``: the last observation at or before each time
    (NaN before the first). Never looks ahead."""
    times = pd.DatetimeIndex(times).as_unit("ns")
    idx = series.index.searchsorted(times, side="right") - 1
    ok = idx >= 0
    vals = series.to_numpy()[np.maximum(idx, 0)]
    if vals.ndim == 1:
        vals = np.where(ok, vals, np.nan)
    else:
        vals = np.where(ok[:, None], vals, np.nan)
    t_ns = pd.DatetimeIndex(series.index).as_unit("ns").asi8
    return vals, np.where(ok, t_ns[np.maximum(idx, 0)], np.iinfo(np.int64).min)


def describe_period(start: pd.Timestamp, end: pd.Timestamp) -> str:
    days = (end - start).total_seconds() / 86400
    return f"{_fmt_t(start)} to {_fmt_t(end)} ({days:,.1f} days)"


