"""Price and funding CSVs -> UTC-indexed pandas structures (``PriceData``, ``FundingData``).

The layout of each file is detected from its header or mapped explicitly
(``sim.data.layouts``); the file is read, sorted, de-duplicated and shifted to bar-end
times (``sim.data.table``, where every rule is listed). What was detected is said on
stderr (``log``), together with everything that was changed. Several files are spliced
into one series (the file given later wins where they overlap). ``load_price_path``
reads the price path of a ``[[stress]]`` replay through the same reader.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from sim.config.schema import SCHEMA
from sim.data.layouts import PERP_ROLES, PRICE_ROLES, Layout
from sim.data.table import clean_table, find_gaps, read_table, repair_ohlc, require_positive
from sim.data.times import fmt_td, fmt_time, to_utc
from sim.errors import DataError


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def _path_list(paths: str | Path | Iterable[str | Path], what: str) -> list[str]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [str(p) for p in paths]
    if not paths:
        raise DataError(f"no {what} file given")
    return paths


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


def load_prices(paths: str | Path | Iterable[str | Path], columns: Mapping | None = None, *,
                keep_last: bool = False, log: Callable[[str], None] | None = _stderr) -> PriceData:
    """Read one price CSV, or several spliced together (where bars overlap, the file given
    later wins; the agreement over the overlap is reported). ``columns``: an explicit
    mapping {role: column} with roles time, open, high, low, close, perp_open ...
    perp_close, and optionally label ("open" | "end" | "point"), utc_offset (hours) and
    unit ("s" | "ms" | "auto"). ``log`` receives the diagnostics (default: stderr)."""
    paths = _path_list(paths, "price")
    parts = []
    for p in paths:
        tb = read_table(p, columns, "prices")
        if "close" not in tb.values:
            raise DataError(f"data file {p!r} ({tb.layout.name}): has no price column; it is a funding file "
                            "(use it with --funding)")
        df, bar, gaps = clean_table(tb, (*PRICE_ROLES, *PERP_ROLES), keep_last, "bars")
        lines = df.attrs["lines"]
        df = repair_ohlc(df, "", tb.notes, lines, p)
        if "perp_close" in df:
            df = repair_ohlc(df, "perp_", tb.notes, lines, p)
        df.attrs = {}
        if log:
            cols = ", ".join(df.columns)
            log(f"prices: {p}: layout {tb.layout.name} ({tb.layout.description}); {len(df):,} bars of "
                f"{fmt_td(bar)}, {fmt_time(df.index[0])} to {fmt_time(df.index[-1])} (bar end); columns {cols}")
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
                         f"({fmt_time(common[0])} to {fmt_time(common[-1])}; close differs by a median "
                         f"{100 * float(d.median()):.3g} %, max {100 * float(d.max()):.3g} %): the later file's bars kept")
        combined = pd.concat([combined[~combined.index.isin(new.index)], new]).sort_index()
    step_s = int(bar.total_seconds())
    combined.index = pd.DatetimeIndex(combined.index).as_unit("ns")
    gaps = find_gaps(combined.index, step_s)
    notes.append(f"spliced: {len(combined):,} bars, {fmt_time(combined.index[0])} to {fmt_time(combined.index[-1])}, "
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
    paths = _path_list(paths, "funding")
    outs = []
    for p in paths:
        tb = read_table(p, columns, "funding")
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
        check_funding_rates(p, tb.values["funding"], tb.lines)
        roles = ("funding", "spot", "perp") if "spot" in tb.values and "perp" in tb.values else ("funding",)
        lay = tb.layout
        if lay.label == "end":  # funding settles at the row's time; OHLC rows are labelled by bar end already
            tb.layout = Layout(lay.name, lay.description, lay.required, lay.roles, "point", lay.utc_offset_h)
        df, spacing, gaps = clean_table(tb, roles, True, "funding times")
        df.attrs = {}
        if log:
            extra = " with spot and perpetual prices (basis)" if "spot" in df else ""
            log(f"funding: {p}: layout {tb.layout.name} ({tb.layout.description}); {len(df):,} rates{extra} every "
                f"{fmt_td(spacing)}, {fmt_time(df.index[0])} to {fmt_time(df.index[-1])}; mean "
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
        gaps = find_gaps(df.index, int(spacing.total_seconds()))
        p = " + ".join(o[3] for o in outs)
        lay = "+".join(o[4] for o in outs)
        notes = [n for o in outs for n in o[5]]
    spot = df["spot"] if "spot" in df else None
    perp = df["perp"] if "perp" in df else None
    if spot is not None:
        bad = ~((spot > 0) & (perp > 0))
        if bad.any():
            raise DataError(f"data file {p!r}: non-positive spot or perpetual price at {fmt_time(df.index[bad.to_numpy()][0])}")
    return FundingData(df["funding"].rename("funding"), spacing, p, lay, gaps, spot, perp, notes=notes)


FUNDING_FIELD = SCHEMA["funding"]["initial"]  # the range of a funding rate a config accepts


def check_funding_rates(path: str, rates: np.ndarray, lines: np.ndarray) -> None:
    """DataError naming the first line whose rate is outside the config's funding range
    (``funding.initial``: |rate| <= 0.1 per interval): such a rate is a damaged file or a
    percentage, not a rate, and would overflow the fits."""
    lo, hi = FUNDING_FIELD.lo, FUNDING_FIELD.hi
    bad = ~((rates >= lo) & (rates <= hi))
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"data file {path!r}, line {lines[i]}: funding rate {rates[i]:g} is outside the allowed range "
                        f"{FUNDING_FIELD.range_text()} per interval (the config's funding range; rates are fractions, "
                        "0.0001 = 0.01 %)")


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


def load_price_path(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The price path of a ``[[stress]]`` replay (format: docs/stress.md): (times in Unix
    seconds, prices, funding rates per interval or None), sorted by time. Each row is an
    observation at its time: no bar-end shift, and rows with equal times are all kept
    (in file order)."""
    tb = read_table(str(path), None, "path")
    require_positive(tb.path, tb.values["close"], "price", tb.lines)
    order = np.argsort(tb.times.asi8, kind="stable")
    t = (tb.times.asi8[order] // 10**9).astype(np.float64)
    funding = tb.values.get("funding")
    if funding is not None:
        check_funding_rates(tb.path, funding, tb.lines)
    return t, tb.values["close"][order], (funding[order] if funding is not None else None)


