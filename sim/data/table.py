"""One market-data CSV -> a table of UTC times and numbers per role, then cleaned.

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

What was changed is collected in the table's ``notes``; the loaders (``sim.data.load``)
say it on their log.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from sim.data.layouts import Layout, detect_layout, norm_header, path_layout
from sim.data.times import FIRST_TIME, LAST_TIME, MAX_SECONDS, MIN_SECONDS, TIME_RANGE, fmt_td, fmt_time, to_utc
from sim.errors import DataError


@dataclass
class Table:
    """One CSV as read: per row its time and a number per role of the layout."""

    path: str
    layout: Layout
    times: pd.DatetimeIndex  # UTC, as labelled in the file (before the bar-end shift), file order
    lines: np.ndarray  # file line of each row (header = 1)
    ms_rows: np.ndarray  # bool: raw time was in milliseconds
    values: dict[str, np.ndarray]  # role -> float values, file order
    notes: list[str]


def read_csv(path: str) -> pd.DataFrame:
    """Every cell as text (header = the column names); unreadable files raise DataError."""
    p = Path(path)
    try:
        exists, is_dir = p.exists(), p.is_dir()
    except OSError as exc:  # e.g. a name too long
        raise DataError(f"data file {path!r}: cannot be read ({exc.strerror or exc})") from None
    if not exists:
        raise DataError(f"data file {path!r}: not found")
    if is_dir:
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


def parse_times(path: str, raw: pd.Series, col: str, lines: np.ndarray, unit: str | None,
                 notes: list[str]) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """UTC times of a time column (whole seconds), and which rows were in milliseconds."""
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
        out = ~((secs >= MIN_SECONDS) & (secs <= MAX_SECONDS))  # also inf
        if out.any():
            i = int(np.argmax(out))
            raise DataError(f"data file {path!r}, line {lines[i]}: the time {text.iloc[i]!r} in column {col!r} "
                            f"(Unix {'milliseconds' if ms[i] else 'seconds'}) is outside the supported time range "
                            f"({TIME_RANGE})")
        if ms.any() and not ms.all():
            order = np.argsort(secs, kind="stable")
            ms_sorted = ms[order]
            first_ms = order[np.argmax(ms_sorted)]
            notes.append(f"timestamp unit changes from seconds to milliseconds at "
                         f"{fmt_time(pd.Timestamp(secs[first_ms], unit='s'))} (line {lines[first_ms]}; "
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
    if t is None:  # find the first row that does not parse, or is out of range
        for i, s in enumerate(text):
            where = f"data file {path!r}, line {lines[i]}: the time {s!r} in column {col!r}"
            try:
                ts = pd.Timestamp(s)
            except (ValueError, TypeError, OverflowError):
                raise DataError(f"data file {path!r}, line {lines[i]}: cannot read the time {s!r} in column "
                                f"{col!r} (ISO-8601, YYYY-MM-DD HH:MM:SS or Unix seconds/milliseconds)") from None
            if ts is not pd.NaT:
                to_utc(ts, where)
        raise DataError(f"data file {path!r}: cannot read the times in column {col!r}")
    t = pd.DatetimeIndex(t)
    if t.isna().any():
        i = int(np.argmax(np.asarray(t.isna())))
        raise DataError(f"data file {path!r}, line {lines[i]}: cannot read the time {text.iloc[i]!r} in column {col!r}")
    out = np.asarray((t < FIRST_TIME) | (t > LAST_TIME))
    if out.any():
        i = int(np.argmax(out))
        raise DataError(f"data file {path!r}, line {lines[i]}: the time {text.iloc[i]!r} in column {col!r} is outside "
                        f"the supported time range ({TIME_RANGE})")
    return t.as_unit("ns").round("s"), np.zeros(len(t), dtype=bool)


def read_numbers(path: str, raw: pd.Series, col: str, role: str, lines: np.ndarray) -> np.ndarray:
    """A column of finite numbers; DataError naming the first empty or unreadable cell."""
    text = raw.str.strip()
    x = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(x) | ~np.isfinite(x)
    if bad.any():
        i = int(np.argmax(bad))
        what = "is empty" if text.iloc[i] == "" else f"{text.iloc[i]!r} is not a number"
        raise DataError(f"data file {path!r}, line {lines[i]}: {role} ({col}) {what}")
    return x


def read_table(path: str, mapping: Mapping | None, want: str) -> Table:
    """Times and numbers of every role of the file's layout, in file order (blank rows
    dropped). ``want``: "prices" or "funding" (the layout is detected, or ``mapping``),
    or "path" (a ``[[stress]]`` replay file: :func:`sim.data.layouts.path_layout`)."""
    path = str(path)
    df = read_csv(path)
    header = list(df.columns)
    lines = np.arange(len(df)) + 2
    blank = (df.apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy() if len(df) else np.zeros(0, bool)
    if blank.any():
        df = df[~blank]
        lines = lines[~blank]
    if len(df) < 2:
        raise DataError(f"data file {path!r}: needs a header and at least two data rows (has {len(df)})")
    lay = path_layout(path, header) if want == "path" else detect_layout(path, header, mapping, want)
    norm_to_col = {}
    for h in header:
        norm_to_col.setdefault(norm_header(h), h)
    notes: list[str] = []
    unit = mapping.get("unit") if mapping else None
    if unit not in (None, "s", "ms", "auto"):
        raise DataError(f"column mapping: unit={unit!r}; use s, ms or auto")
    tcol = norm_to_col[lay.roles["time"]]
    times, ms = parse_times(path, df[tcol], tcol, lines, None if unit == "auto" else unit, notes)
    if lay.utc_offset_h:
        shifted = times.asi8.astype(np.float64) - lay.utc_offset_h * 3.6e12
        out = ~((shifted >= FIRST_TIME.value) & (shifted <= LAST_TIME.value))
        if out.any():
            i = int(np.argmax(out))
            raise DataError(f"data file {path!r}, line {lines[i]}: the time in column {tcol!r} shifted by "
                            f"UTC{lay.utc_offset_h:+g} h is outside the supported time range ({TIME_RANGE})")
        times = times - pd.Timedelta(hours=lay.utc_offset_h)
        notes.append(f"times in column {tcol!r} are local time UTC{lay.utc_offset_h:+g} h: converted to UTC")
    values = {}
    for role, ncol in lay.roles.items():
        if role in ("time", "funding_interval"):
            continue
        col = norm_to_col[ncol]
        values[role] = read_numbers(path, df[col], col, role, lines)
    if "funding_interval" in lay.roles:
        col = norm_to_col[lay.roles["funding_interval"]]
        iv = pd.to_datetime(df[col].str.strip(), utc=True, errors="coerce") - pd.Timestamp("2000-01-01", tz="UTC")
        if iv.isna().any():
            i = int(np.argmax(iv.isna().to_numpy()))
            raise DataError(f"data file {path!r}, line {lines[i]}: funding interval {df[col].iloc[i]!r} not readable")
        values["funding_interval_s"] = iv.dt.total_seconds().to_numpy()
    return Table(path, lay, times, lines, ms, values, notes)


def clean_table(tb: Table, roles: Iterable[str], keep_last: bool, kind: str) -> tuple[pd.DataFrame, pd.Timedelta, pd.DataFrame]:
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
            notes.append(f"{n_extra:,} duplicated rows with identical values dropped (first at {fmt_time(first)}, "
                         f"lines {', '.join(map(str, first_lines[:3]))})")
        else:
            how = "the row written in milliseconds" if sub["_ms"].any() and not sub["_ms"].all() else \
                "the first row in the file"
            notes.append(f"{n_extra:,} duplicated times with differing values (first at {fmt_time(first)}, lines "
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
            notes.append(f"last bar (open {fmt_time(t[-1])}, line {int(df['_line'].iloc[-1])}) dropped: a bar "
                         "labelled by its open time may have been saved before it closed")
            df = df.iloc[:-1]
            t = t[:-1]
        if int(t.asi8[-1]) + bar.value > LAST_TIME.value:
            raise DataError(f"data file {path!r}: the bar ending {fmt_td(bar)} after the last time is outside the "
                            f"supported time range ({TIME_RANGE})")
        t = t + bar
    df.index = pd.DatetimeIndex(t, name="time").as_unit("ns")
    lines_kept = df["_line"].to_numpy()
    df = df[cols]
    diffs = np.diff(df.index.asi8) // 10**9
    gaps = find_gaps(df.index, step_s)
    irregular = int(np.count_nonzero((diffs % step_s) != 0))
    if len(gaps):
        big = gaps.iloc[int(np.argmax(gaps["missing"].to_numpy()))]
        notes.append(f"{len(gaps):,} gap(s), {int(gaps['missing'].sum()):,} missing {kind} of {fmt_td(bar)} (not "
                     f"filled; largest {int(big['missing'])} after {fmt_time(big['after'])})")
    if irregular:
        notes.append(f"{irregular:,} spacing(s) not a whole number of {fmt_td(bar)}")
    df.attrs["lines"] = lines_kept
    return df, bar, gaps


def find_gaps(index: pd.DatetimeIndex, step_s: int) -> pd.DataFrame:
    """One row per gap of more than 1.5 steps: ``after`` (last time before it), ``before``
    (next time), ``missing`` (number of steps missing)."""
    diffs = np.diff(index.asi8) // 10**9
    g = np.nonzero(diffs > step_s * 1.5)[0]
    return pd.DataFrame({"after": index[g], "before": index[g + 1],
                         "missing": (diffs[g] / step_s - 1).round().astype(int)})


def require_positive(path: str, values: np.ndarray, name: str, lines: np.ndarray) -> None:
    """DataError naming the first line whose value is not positive."""
    bad = ~(values > 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"data file {path!r}, line {lines[i]}: {name} = {values[i]:g} must be positive")


def repair_ohlc(df: pd.DataFrame, prefix: str, notes: list[str], lines: np.ndarray, path: str) -> pd.DataFrame:
    """Non-positive open/high/low -> the close; high/low widened to contain open and close."""
    c = prefix + "close"
    require_positive(path, df[c].to_numpy(), c, lines)
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
