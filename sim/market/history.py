"""The sample of the bootstrap model: recorded bars -> centred log returns and high
excursions (``History``), and the model's kernel parameters from them.

A history comes from ``market.history`` (any price file the loaders read, sliced to
``market.history_start`` .. ``history_end`` by bar end time, inclusive), or in memory: a
DataFrame of bars indexed by their end times with a ``close`` and, when known, a ``high``
column (``PriceData.bars`` or a slice of it), or a ``PriceData``. Only consecutive bars
give a return: a return across a gap in the data is left out (counted in ``dropped``).

Per bar k (close C_k, high H_k, previous close C_{k-1}): return r_k = log(C_k / C_{k-1}),
high excursion h_k = log(H_k / C_{k-1}) taken as at least max(0, r_k) (the step's high is
never below its two closes), stored as its excess over that, e_k = h_k - max(0, r_k) >= 0.
Without a high column e_k = 0: a step's high is its higher close.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from sim.config import Config, ConfigError, format_duration, parse_duration
from sim.config.checks import MAX_LOG_RANGE
from sim.data.load import PriceData, load_prices
from sim.data.times import describe_period, fmt_td, to_utc
from sim.errors import DataError
from sim.market import bootstrap


@dataclass(frozen=True)
class History:
    """A bootstrap sample: one entry per return of consecutive bars."""

    returns: np.ndarray  # log returns close to close, the sample mean removed
    excess: np.ndarray  # high excursion above the higher close, log, >= 0
    mean: float  # the sample's mean log return per bar (removed from ``returns``)
    bar_seconds: float
    first: pd.Timestamp  # end of the first bar used (its close is the first reference)
    last: pd.Timestamp  # end of the last bar used
    source: str
    has_high: bool
    dropped: int  # returns across gaps, left out

    @property
    def bars(self) -> int:
        return int(self.returns.shape[0])

    def describe(self) -> str:
        """``data/x.csv.gz: 2021-01-01 00:00 UTC to 2021-07-01 00:00 UTC (181.0 days), 4,343 bars of 1 h``."""
        gaps = f", {self.dropped:,} returns across gaps left out" if self.dropped else ""
        high = "" if self.has_high else ", closes only (no highs)"
        return (f"{self.source}: {describe_period(self.first, self.last)}, {self.bars:,} bars of "
                f"{fmt_td(pd.Timedelta(seconds=self.bar_seconds))}{high}{gaps}")


def most_common_spacing(index: pd.DatetimeIndex) -> float:
    """The bar length in seconds: the most common spacing of the bar end times."""
    d = np.diff(index.as_unit("ns").asi8) / 1e9
    if d.size == 0:
        return math.nan
    values, counts = np.unique(d, return_counts=True)
    return float(values[np.argmax(counts)])


def history_from_bars(bars: pd.DataFrame, source: str = "<memory>", bar_seconds: float | None = None) -> History:
    """A ``History`` from bars indexed by their end times (UTC), with ``close`` and
    optionally ``high``; ``bar_seconds`` defaults to the most common spacing."""
    if not isinstance(bars, pd.DataFrame) or "close" not in bars:
        raise ConfigError(f"bootstrap history {source}: expected bars with a close column, indexed by bar end time")
    bars = bars.sort_index()
    index = pd.DatetimeIndex(bars.index).as_unit("ns")
    close = bars["close"].to_numpy(dtype=np.float64)
    if close.size < 2:
        raise ConfigError(f"bootstrap history {source}: {close.size} bar(s); at least two closes are needed")
    if not np.all(np.isfinite(close) & (close > 0)):
        raise ConfigError(f"bootstrap history {source}: closes must be positive numbers")
    bar = most_common_spacing(index) if bar_seconds is None else float(bar_seconds)
    spacing = np.diff(index.asi8) / 1e9
    ok = np.abs(spacing - bar) < 1e-6
    r = np.diff(np.log(close))
    has_high = "high" in bars and bool(np.isfinite(bars["high"].to_numpy(dtype=np.float64)).any())
    if has_high:
        high = bars["high"].to_numpy(dtype=np.float64)[1:]
        h = np.log(high / close[:-1])
        h = np.where(np.isfinite(h), h, 0.0)  # a missing high: the higher close
        excess = np.maximum(h - np.maximum(r, 0.0), 0.0)
    else:
        excess = np.zeros_like(r)
    r, excess = r[ok], excess[ok]
    if r.size == 0:
        raise ConfigError(f"bootstrap history {source}: no two consecutive bars")
    mean = float(np.mean(r))
    return History(returns=np.ascontiguousarray(r - mean), excess=np.ascontiguousarray(excess), mean=mean,
                   bar_seconds=bar, first=index[0], last=index[-1], source=source, has_high=has_high,
                   dropped=int((~ok).sum()))


@lru_cache(maxsize=4)
def _read_bars(path: str, mtime_ns: int, size: int) -> tuple[pd.DataFrame, float]:
    """The file's bars (close, high) and bar length; cached by path, time and size, so a
    backtest that slices one file many times reads it once."""
    data = load_prices(path, log=None)
    cols = [c for c in ("close", "high") if c in data.bars]
    return data.bars[cols], data.bar.total_seconds()


def read_history_file(path: str, shown: str) -> tuple[pd.DataFrame, float]:
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        raise ConfigError(f"market.history = {shown!r}: file not found ({p})") from None
    try:
        return _read_bars(str(p), st.st_mtime_ns, st.st_size)
    except DataError as exc:
        raise ConfigError(f"market.history = {shown!r}: cannot be read as a price file ({exc})") from None


def slice_bars(cfg: Config, bars: pd.DataFrame) -> pd.DataFrame:
    """Bars whose end time is within [market.history_start, market.history_end]."""
    m = cfg.market
    try:
        if m.history_start:
            bars = bars[bars.index >= to_utc(m.history_start, "market.history_start")]
        if m.history_end:
            bars = bars[bars.index <= to_utc(m.history_end, "market.history_end")]
    except DataError as exc:
        raise ConfigError(str(exc)) from None
    return bars


def resolve_history(cfg: Config, history=None) -> History:
    """The bootstrap sample of ``cfg``: ``history`` when given (a ``History``, a DataFrame
    of bars or a ``PriceData``; DataFrames and PriceData are sliced to the config's
    history_start/history_end too), else ``market.history`` read from its file."""
    if isinstance(history, History):
        return history
    if history is None:
        if not cfg.market.history:
            raise ConfigError('market.history: needed by market.model = "bootstrap" (the price file whose bars '
                              "are resampled)")
        user = str(cfg.user_values().get("market", {}).get("history", cfg.market.history))
        bars, bar = read_history_file(cfg.market.history, user)
        source = os.path.normpath(cfg.market.history)
    elif isinstance(history, PriceData):
        bars, bar, source = history.bars, history.bar.total_seconds(), history.source
    elif isinstance(history, pd.DataFrame):
        bars, bar, source = history, None, "<memory>"
    else:
        raise TypeError(f"history: expected a History, a DataFrame of bars or a PriceData, got {type(history).__name__}")
    bars = slice_bars(cfg, bars)
    if len(bars) < 2:
        span = f" between {cfg.market.history_start or 'start'} and {cfg.market.history_end or 'end'}"
        raise ConfigError(f"market.history = {source!r}: {len(bars)} bar(s){span}; the bootstrap needs at least "
                          "a horizon's worth of bars")
    return history_from_bars(bars, source, bar)


def bootstrap_fields(cfg: Config, hist: History) -> dict:
    """The bootstrap's ``MarketParams`` fields from its sample, after the checks that need
    the sample: its bar equals the step, it holds at least a horizon and a block of
    returns, and its price range is representable."""
    m = cfg.market
    dt = cfg.dt_seconds
    if abs(hist.bar_seconds - dt) > 1e-6:
        raise ConfigError(f"simulation.dt = {cfg.simulation.dt!r}: the bootstrap steps one recorded bar at a time, "
                          f"and the bars of market.history ({hist.source}) are "
                          f"{format_duration(hist.bar_seconds)}; allowed: simulation.dt = "
                          f"{format_duration(hist.bar_seconds)!r}")
    block = int(round(parse_duration(m.block) / dt))
    need = max(cfg.steps, block)
    if hist.bars < need:
        what = "the horizon" if cfg.steps >= block else "one block (market.block)"
        raise ConfigError(f"market.history = {hist.source!r}: {hist.bars:,} returns of consecutive bars, fewer than "
                          f"{what} ({need:,} steps); give a longer history (or a shorter simulation.horizon / "
                          "market.block)")
    mu_dt = m.mu * cfg.dt_years
    drift = bootstrap.martingale_drift(hist.returns, mu_dt) if m.demean else hist.mean
    mean, var = bootstrap.sample_log_moments(hist.returns, drift, cfg.steps)
    if abs(mean) + 8.0 * math.sqrt(var) > MAX_LOG_RANGE:
        raise ConfigError(f"market.history: over simulation.horizon = {cfg.simulation.horizon!r} the log index would "
                          f"move by {mean:+.3g} +- {math.sqrt(var):.3g}, beyond the representable range")
    return dict(
        log_drift_dt=drift,
        vol_sqrt_dt=float(np.sqrt(np.mean(hist.returns ** 2))),
        hist_ret=hist.returns, hist_exc=hist.excess,
        block_bars=float(block), block_fixed=m.bootstrap == "fixed",
        hist_corr=bootstrap.block_corrections(hist.returns, cfg.steps) if m.demean else np.zeros(cfg.steps + 1),
    )
