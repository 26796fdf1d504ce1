"""Historical replay: the config's hedge account along the realised market path.

The account arithmetic is the simulation's own (``sim.engine.run_accounts``, the same
kernel code every simulated path goes through; the same as a ``[[stress]]`` replay);
only the market path comes from data (docs/data.md). On the grid t_i = start + i * bar (the price file's bar length):

* index S_i: the close of the bar ending at t_i (a missing bar carries the last close
  forward; the count is reported);
* mark M_i: the perpetual's close when the price file has perpetual prices; else
  S_i * (1 + b) with b the latest perp/spot basis of the funding file at or before t_i
  (its own 8-hourly closes, no look-ahead); else M_i = S_i (no basis data);
* the mark checked for liquidation at step i is the bar's **high** (the perpetual's
  high, or the index high times 1 + b): a short is liquidated if the mark reached its
  liquidation level at any time within the bar, not only at the close. Close-only data
  can only be checked at the closes (reported);
* funding paid at t_k = start + k * funding.interval: the rate the funding file settled
  at or before t_k (starts on the exchange's settlement grid, 00/08/16 UTC for 8-hourly
  funding, pay exactly the settled rates; others are reported). Without a funding file,
  the config's deterministic path (``initial`` decaying to ``mean``).

Hedge size and entry come from the config as of the window start (spot = S_0, entry =
M_0), as in a simulation started that day. Rolling replays repeat this every ``every``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import xarray as xr

from sim import engine, results
from sim.config import Config, ConfigError, format_duration, parse_duration
from sim.data.load import FundingData, PriceData, asof
from sim.data.times import fmt_td, fmt_time, to_utc
from sim.errors import DataError
from sim.market.params import MarketParams
from sim.results import meta
from sim.version import __version__

WINDOW_VARS = ["liquidated", "liquidation_time", "hedged_pnl", "unhedged_pnl", "funding", "funding_usd", "fees",
               "required_collateral", "min_margin_level", "max_drawdown", "hedged_value", "unhedged_value",
               "index_T", "mark_T"]


@dataclass
class MarketPath:
    """The realised paths of one window on its bar grid (funding on its funding grid)."""

    start: pd.Timestamp
    times: pd.DatetimeIndex
    index: np.ndarray
    mark: np.ndarray
    check: np.ndarray
    funding: np.ndarray
    funding_every: int
    filled: int = 0
    stale_funding: int = 0
    notes: list[str] = field(default_factory=list)


def mark_source(prices: PriceData, funding: FundingData | None) -> str:
    """Where the replay's mark comes from, in words (the ``mark`` attribute)."""
    if prices.has_perp:
        return "perpetual close (checked on the perpetual's bar high)"
    if funding is not None and funding.has_basis:
        return "index x (1 + basis of the funding file, as of each bar; checked on the index high x (1 + basis))"
    if prices.has_ohlc:
        return "index (no perpetual prices: basis 0; checked on the index bar high)"
    return "index (close-only data: liquidation checked at the closes only)"


def market_path(cfg: Config, prices: PriceData, funding: FundingData | None, start, horizon_s: float) -> MarketPath:
    """The realised index, mark, checked mark and funding paths of one window."""
    start = to_utc(start)
    bar = prices.bar
    bar_s = bar.total_seconds()
    steps_f = horizon_s / bar_s
    steps = int(round(steps_f))
    bars = prices.bars
    first, last = bars.index[0], bars.index[-1]
    check_horizon(prices, horizon_s)
    if steps < 1 or abs(steps_f - steps) > 1e-9:
        raise DataError(f"horizon {format_duration(horizon_s)} is not a whole number of the price bars "
                        f"({fmt_td(bar)})")
    if start < first or (last.value - start.value) / 1e9 < horizon_s:
        raise DataError(f"window {fmt_time(start)} + {format_duration(horizon_s)} is not inside the price data "
                        f"({fmt_time(first)} to {fmt_time(last)}, bar end times)")
    grid = pd.DatetimeIndex(start + pd.to_timedelta(np.arange(steps + 1) * bar_s, unit="s")).as_unit("ns")
    close, when = asof(bars["close"], grid)
    if start.value - when[0] > bar.value:
        raise DataError(f"no price within one bar before the window start {fmt_time(start)}")
    exact = when == grid.asi8
    filled = int(np.count_nonzero(~exact[1:]))
    if prices.has_ohlc:
        hi, _ = asof(bars["high"], grid)
        high = np.where(exact, hi, close)
    else:
        high = close.copy()
    p = MarketPath(start, grid, close, close.copy(), np.maximum(high, close), np.empty(0), 1, filled)
    if prices.has_perp:
        pc, _ = asof(bars["perp_close"], grid)
        ph, _ = asof(bars["perp_high"], grid)
        p.mark = pc
        p.check = np.maximum(np.where(exact, ph, pc), pc)
    elif funding is not None and funding.has_basis:
        b, bw = asof(funding.basis, grid)
        if np.isnan(b).any():
            p.notes.append(f"{int(np.isnan(b).sum())} bar(s) before the first basis observation: basis 0")
            b = np.nan_to_num(b)
        p.mark = close * (1.0 + b)
        p.check = np.maximum(high * (1.0 + b), p.mark)
    if filled:
        p.notes.append(f"{filled} missing bar(s) in the window: last close carried forward")
    # funding
    f_s = parse_duration(cfg.funding.interval)
    every = int(round(f_s / bar_s))
    if every < 1 or abs(f_s / bar_s - every) > 1e-9:
        raise DataError(f"funding.interval {cfg.funding.interval} is not a whole number of the price bars "
                        f"({fmt_td(bar)}); replay needs bars that divide the funding interval")
    p.funding_every = every
    n_f = steps // every
    tf = pd.DatetimeIndex(start + pd.to_timedelta(np.arange(n_f + 1) * f_s, unit="s")).as_unit("ns")
    if funding is not None:
        f_end = funding.rate.index[-1] + funding.spacing
        if tf[-1] > f_end:
            raise DataError(f"window {fmt_time(start)} to {fmt_time(grid[-1])} ends after the funding data "
                            f"({funding.source!r} ends {fmt_time(funding.rate.index[-1])})")
        rates, rw = asof(funding.rate, tf)
        if np.isnan(rates[1:]).any():
            raise DataError(f"funding {funding.source!r}: no rate at or before {fmt_time(tf[1:][np.isnan(rates[1:])][0])}")
        stale = (tf.asi8 - rw)[1:] > 1.5 * funding.spacing.value
        off = (tf.asi8 != rw)[1:] & ~stale
        p.stale_funding = int(stale.sum())
        if stale.any():
            p.notes.append(f"{int(stale.sum())} funding time(s) with no rate within {fmt_td(funding.spacing)}: "
                           "last rate carried forward")
        if off.any() and off.mean() > 0.5:
            p.notes.append(f"the window's funding times ({tf[1]:%H:%M} + k x {cfg.funding.interval}) are not the "
                           "file's settlement times: each pays the last rate settled before it")
        p.funding = np.nan_to_num(rates, nan=float(rates[1]) if n_f else 0.0)
    else:
        mp = MarketParams.from_config(cfg.replace({"simulation.dt": format_duration(bar_s),
                                                   "simulation.horizon": format_duration(steps * bar_s)}),
                                     with_sample=False)
        k = np.arange(n_f + 1)
        p.funding = mp.f_mean + (mp.f0 - mp.f_mean) * mp.f_a ** k
        p.notes.append("no funding file: the config's deterministic funding path (initial decaying to mean)")
    return p


def window_config(cfg: Config, path: MarketPath, bar_s: float, paths: int = 1) -> Config:
    """The config on the window's grid, started from its first index and basis."""
    b0 = float(path.mark[0] / path.index[0] - 1.0)
    over = {"simulation.dt": format_duration(bar_s),
            "simulation.horizon": format_duration((len(path.times) - 1) * bar_s),
            "market.spot": float(path.index[0]), "basis.initial": min(max(b0, -0.2), 0.2),
            "simulation.paths": paths, "simulation.save_paths": 0}
    try:
        return cfg.replace(over)
    except ConfigError as exc:
        raise DataError(f"replay window {fmt_time(path.start)}: {exc}") from None


def run_path(cfg: Config, path: MarketPath, bar_s: float) -> xr.Dataset:
    """The hedge account along one realised path -> a one-path result Dataset (the
    variables of docs/outputs.md), through the simulation's own account code
    (``engine.run_accounts``)."""
    return results.build_dataset(run_path_raw(cfg, path, bar_s))


def run_path_raw(cfg: Config, path: MarketPath, bar_s: float):
    """``run_path``'s per-path arrays (``RawRun``), before the Dataset is assembled (the
    backtest's base rates need only ``outputs.liquidated``)."""
    if cfg.sweep:
        raise DataError("replay and backtest run one hedge: remove the config's [sweep]")
    wcfg = window_config(cfg, path, bar_s)
    try:
        hedge = engine.resolve_hedge(wcfg)
    except ConfigError as exc:
        raise DataError(f"replay window {fmt_time(path.start)}: {exc}") from None
    return engine.run_accounts(wcfg, [hedge], [], path.index, path.mark, path.check, path.funding,
                               {"replay": f"historical window from {fmt_time(path.start)}"})


def replay_windows(cfg: Config, prices: PriceData, funding: FundingData | None, starts: list[pd.Timestamp],
                   horizon_s: float, *, skip_unavailable: bool = False,
                   progress: Callable[[int, int], None] | None = None,
                   log: Callable[[str], None] | None = None) -> xr.Dataset:
    """Replay every window; per-window outcomes over a ``start`` dimension."""
    check_horizon(prices, horizon_s)
    bar_s = prices.bar.total_seconds()
    rows, kept, skipped = [], [], []
    seen: dict[str, list] = {}
    for j, s in enumerate(starts):
        try:
            path = market_path(cfg, prices, funding, s, horizon_s)
        except DataError as exc:
            if not skip_unavailable:
                raise
            skipped.append((s, str(exc)))
            continue
        ds1 = run_path(cfg, path, bar_s)
        rows.append(window_row(ds1, path))
        kept.append(s)
        for n in path.notes:
            seen.setdefault(n, []).append(s)
        if progress:
            progress(j + 1, len(starts))
    if log:
        for n, where in seen.items():
            log(f"replay {fmt_time(where[0])}: {n}" if len(where) == 1 else
                f"replay: {len(where)} windows (first {fmt_time(where[0])}): {n}")
    if skipped and log:
        log(f"replay: {len(skipped)} window(s) skipped (not inside the data), e.g. {fmt_time(skipped[0][0])}: "
            f"{skipped[0][1]}")
    if not rows:
        raise DataError("no replay window lies inside the data")
    return assemble_windows(cfg, rows, kept, prices, funding, horizon_s)


def window_row(ds1: xr.Dataset, path: MarketPath) -> dict:
    """The outcome of one window (``run_path``'s Dataset): name -> (value, attrs)."""
    bar = path.times[1] - path.times[0]
    row = {}
    for v in WINDOW_VARS:
        x = ds1[v]
        if "time" in x.dims:
            x = x.isel(time=-1)
        row[v] = (x.isel(path=0).values.item(), x.attrs)
    lt = row["liquidation_time"][0]
    row["liquidation_date"] = (np.datetime64((path.start + round(lt * 86400 / bar.total_seconds()) * bar)
                                             .tz_localize(None), "ns")
                               if np.isfinite(lt) else np.datetime64("NaT", "ns"),
                               {"long_name": "time of liquidation (UTC; end of the bar whose high triggered it)"})
    row["index_start"] = (float(path.index[0]), {"units": "USD", "long_name": "index at the window start"})
    row["mark_start"] = (float(path.mark[0]), {"units": "USD", "long_name": "mark at the window start (entry)"})
    row["mark_high"] = (float(path.check[1:].max()), {"units": "USD",
                                                      "long_name": "highest mark checked in the window (bar highs)"})
    row["liquidation_price"] = (float(ds1["liquidation_price"].values), ds1["liquidation_price"].attrs)
    row["hedge_size"] = (float(ds1["hedge_size"].values), ds1["hedge_size"].attrs)
    row["initial_wealth"] = (float(ds1["initial_wealth"].values), ds1["initial_wealth"].attrs)
    row["bars_filled"] = (int(path.filled), {"units": "bars", "long_name": "missing bars carried forward"})
    return row


def assemble_windows(cfg: Config, rows: list[dict], starts: list[pd.Timestamp], prices: PriceData,
                     funding: FundingData | None, horizon_s: float) -> xr.Dataset:
    """The rows of ``window_row`` over a ``start`` dimension, with the run's attributes."""
    idx = pd.DatetimeIndex(starts).tz_convert(None)
    ds = xr.Dataset(coords={"start": ("start", idx.values, {"long_name": "window start (UTC)"})})
    for name in rows[0]:
        vals = np.array([r[name][0] for r in rows])
        attrs = dict(rows[0][name][1])
        ds[name] = ("start", vals, attrs)
    ds["liquidated"] = ds["liquidated"].astype(bool)
    ds["end"] = ("start", (idx + pd.Timedelta(seconds=horizon_s)).values, {"long_name": "window end (UTC)"})
    ds.attrs.update({
        "title": "hedgesim historical replay",
        "hedgesim_version": __version__,
        "config": cfg.to_json(),
        "config_user": json.dumps(meta.user_config(cfg), default=str),
        "config_source": cfg.source,
        "prices": prices.source,
        "funding": funding.source if funding is not None else "",
        "bar": fmt_td(prices.bar),
        "horizon": format_duration(horizon_s),
        "mark": mark_source(prices, funding),
        "contract": cfg.position.contract,
        "margin_unit": "BTC" if cfg.position.contract == "inverse" else "USD",
    })
    return meta.stamp(ds, "sim.data.replay.replay_windows(...)")  # format v1 attrs (sim.results.meta)


def check_horizon(prices: PriceData, horizon_s: float, what: str = "horizon") -> None:
    """DataError unless ``horizon_s`` is a whole number of price bars and no longer than the
    price data's span (a window longer than the data can never lie inside it)."""
    span = (prices.bars.index[-1] - prices.bars.index[0]).total_seconds()
    if not (0 < horizon_s <= span):
        raise DataError(f"{what} {format_duration(horizon_s) if horizon_s > 0 else horizon_s}: longer than the price "
                        f"data ({prices.source!r} spans {span / 86400:,.4g} days)")
    bars = horizon_s / prices.bar.total_seconds()
    if abs(bars - round(bars)) > 1e-9 * bars:
        raise DataError(f"{what} {format_duration(horizon_s)}: not a whole number of the price bars "
                        f"({fmt_td(prices.bar)})")


def check_step(prices: PriceData, step_s: float, what: str) -> None:
    """DataError if windows would start more often than once per price bar."""
    if step_s < prices.bar.total_seconds():
        raise DataError(f"{what} {format_duration(step_s)}: shorter than the price bars ({fmt_td(prices.bar)}); "
                        "windows can start at most once per bar")


def window_starts(start, end, every_s: float | None, within: PriceData | None = None) -> list[pd.Timestamp]:
    """``start`` alone, or every ``every_s`` from ``start`` to ``end`` (rolling windows).
    With ``within``, only the starts inside that price data's span (the others could not
    be replayed: no list of millions of windows for a start in 1700)."""
    start = to_utc(start)
    if every_s is None:
        return [start]
    end = to_utc(end)
    if end < start:
        raise DataError(f"--end {fmt_time(end)} is before --start {fmt_time(start)}")
    k0 = 0
    last_s = (end.value - start.value) / 1e9  # int nanoseconds: no Timedelta overflow over 585 years
    if within is not None:
        first, last = within.bars.index[0], within.bars.index[-1]
        k0 = max(0, int(math.ceil((first.value - start.value) / 1e9 / every_s - 1e-9)))
        last_s = min(last_s, (last.value - start.value) / 1e9)
    n = int(math.floor(last_s / every_s + 1e-9))
    if n < k0:
        raise DataError(f"no window start between {fmt_time(start)} and {fmt_time(end)} lies inside the price data")
    step_ns = int(round(every_s * 1e9))  # int nanoseconds: exact, and no Timedelta overflow
    return [pd.Timestamp(start.value + k * step_ns, tz="UTC") for k in range(k0, n + 1)]
