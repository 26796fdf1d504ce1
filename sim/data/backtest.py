"""Walk-forward backtest of the simulator's risk figures, out of sample.

At each window start s (every ``step`` from ``first`` to ``last``):

1. calibrate on the trailing window [s - calibration_window, s] only: the closes of
   bars that ended by s and the funding / basis observed by s (no look-ahead); the
   drift is set to 0 by default (a year of data cannot tell it from 0: its SE is about
   sigma / sqrt(1 yr) ~ 0.5 / yr), ``drift="fitted"`` uses the estimate;
2. for each price model (GBM, Merton): simulate the config's hedge over the next
   ``window`` from the state at s (index, basis, last settled funding rate), and record
   the predicted liquidation probability and VaR / ES of hedged and unhedged PnL;
3. replay the realised window through the same hedge account (``replay``).

Then: the Brier score of the liquidation forecasts and their calibration by buckets of
predicted probability; VaR exceptions (realised loss > predicted VaR) at 95 % and
99 %, with Kupiec's proportion-of-failures test (is the exception rate 1 - level?) and
Christoffersen's independence test (does an exception make the next one more likely?).
Windows that overlap share returns, so their outcomes are dependent and both tests
(which assume independent Bernoulli trials) would be over-confident: they use the
non-overlapping subset only (greedily, the first start and then every start at least
one window after the previous one kept). The Brier score is reported for all windows
and for the subset.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import pandas as pd
import xarray as xr
from scipy import special, stats

from sim import engine, results
from sim.config import Config, ConfigError, format_duration
from sim.data.calibrate import Calibration, calibrate
from sim.data.load import FundingData, PriceData
from sim.data.replay import (
    MarketPath, assemble_windows, check_horizon, check_step, market_path, run_path, window_row, window_starts,
)
from sim.data.times import FIRST_TIME, fmt_time
from sim.analysis.adaptive import simulate_adaptive
from sim.errors import DataError
from sim.results import meta
from sim.version import __version__

LEVELS = (0.95, 0.99)
BUCKETS = (0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0)
PORTFOLIOS = ("hedged", "unhedged")


# --------------------------------------------------------------------------- tests


def kupiec_pof(exceptions, level: float) -> tuple[float, float]:
    """Kupiec (1995) proportion-of-failures test that the exception probability is
    1 - level: LR = -2 [ln L(1 - level) - ln L(x/n)] ~ chi2(1). Returns (LR, p-value)."""
    e = np.asarray(exceptions, dtype=bool)
    n, x = e.size, int(e.sum())
    if n == 0:
        return math.nan, math.nan
    p = 1.0 - level
    ph = x / n
    ll0 = special.xlogy(n - x, 1 - p) + special.xlogy(x, p)
    ll1 = special.xlogy(n - x, 1 - ph) + special.xlogy(x, ph)
    lr = max(0.0, -2.0 * (ll0 - ll1))
    return float(lr), float(stats.chi2.sf(lr, 1))


def christoffersen_ind(exceptions) -> tuple[float, float]:
    """Christoffersen (1998) independence test: first-order Markov chain of exceptions
    vs independence, LR = -2 [ln L(pi) - ln L(pi01, pi11)] ~ chi2(1). (LR, p-value)."""
    e = np.asarray(exceptions, dtype=bool)
    if e.size < 2:
        return math.nan, math.nan
    a, b = e[:-1], e[1:]
    n00 = int(np.sum(~a & ~b))
    n01 = int(np.sum(~a & b))
    n10 = int(np.sum(a & ~b))
    n11 = int(np.sum(a & b))
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    ll0 = special.xlogy(n00 + n10, 1 - pi) + special.xlogy(n01 + n11, pi)
    ll1 = (special.xlogy(n00, 1 - pi01) + special.xlogy(n01, pi01) + special.xlogy(n10, 1 - pi11)
           + special.xlogy(n11, pi11))
    lr = max(0.0, -2.0 * (ll0 - ll1))
    return float(lr), float(stats.chi2.sf(lr, 1))


def brier_score(p, y) -> float:
    """Mean squared difference of forecast probabilities and 0/1 outcomes (NaN if none)."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    return float(np.mean((p - y) ** 2)) if p.size else math.nan


def non_overlapping(starts: pd.DatetimeIndex, window: pd.Timedelta) -> np.ndarray:
    """Greedy subset: the first start, then each start at least one window after the last kept."""
    keep = np.zeros(len(starts), dtype=bool)
    last = None
    for i, s in enumerate(starts):
        if last is None or s >= last + window:
            keep[i] = True
            last = s
    return keep


# --------------------------------------------------------------------------- walk forward


def _forecast(cfg: Config, cal: Calibration, model: str, path: MarketPath, window_s: float, paths: int, seed: int,
              drift: str, notes: list[str]) -> xr.Dataset | None:
    """The simulated outcome of the window from the state at its start, or None (noted)
    when the calibrated config is rejected."""
    vals = cal.config_values(model, drift)
    vals.pop("funding.interval", None)  # the config's payment interval stays (the replay pays on it too)
    vals["market.spot"] = float(path.index[0])
    vals["basis.initial"] = min(max(float(path.mark[0] / path.index[0] - 1.0), -0.2), 0.2)
    if cal.funding is not None:
        vals["funding.initial"] = float(path.funding[0])
    vals["simulation.horizon"] = format_duration(window_s)
    try:
        mcfg = cfg.replace(vals)
    except ConfigError as exc:
        notes.append(f"{fmt_time(path.start)} {model}: calibrated config rejected ({exc})")
        return None
    # as sim.run (sim.api, a layer above): the effective config, adaptive when it asks for a target SE
    mcfg = mcfg.effective(paths, seed)
    if mcfg.simulation.target_se is not None:
        raw = simulate_adaptive(mcfg, seed=seed)
    else:
        raw = engine.simulate(mcfg, paths=paths, seed=seed)
    return results.build_dataset(raw)


def backtest(cfg: Config, prices: PriceData, funding: FundingData | None, first, last, window_s: float,
             step_s: float, calibration_s: float, *, paths: int = 20_000, seed: int | None = None,
             models: tuple[str, ...] = ("gbm", "merton"), drift: str = "zero", min_coverage: float = 0.9,
             progress: Callable[[int, int], None] | None = None,
             log: Callable[[str], None] | None = None) -> xr.Dataset:
    """The walk-forward backtest of the module docstring: one row per usable window start
    (starts whose window or calibration sample the data do not cover are skipped, logged)."""
    if cfg.sweep:
        raise DataError("backtest runs one hedge: remove the config's [sweep]")
    if drift not in ("zero", "fitted"):
        raise DataError(f"drift {drift!r}: use zero or fitted")
    seed = cfg.simulation.seed if seed is None else int(seed)
    check_horizon(prices, window_s, "window")
    check_step(prices, step_s, "step")
    starts = window_starts(first, last, step_s, within=prices)
    bar = prices.bar
    bar_s = bar.total_seconds()
    need = calibration_s / bar_s
    t0 = time.perf_counter()
    warm: dict = {}
    kept, rows, pred, fitted, skipped, notes = [], [], [], [], [], []
    for j, s in enumerate(starts):
        try:
            path = market_path(cfg, prices, funding, s, window_s)
        except DataError as exc:
            skipped.append((s, f"replay window not in the data ({exc})"))
            if progress:
                progress(j + 1, len(starts))
            continue
        # s - calibration_s in exact int nanoseconds, from 1677-09-22 at the earliest (no Timedelta overflow)
        cal_start = pd.Timestamp(max(s.value - int(round(calibration_s * 1e9)), FIRST_TIME.value), tz="UTC")
        cal_bars = prices.between(cal_start, s)
        if len(cal_bars) < min_coverage * need:
            skipped.append((s, f"calibration window holds {len(cal_bars):,} of {int(need):,} bars"))
            if progress:
                progress(j + 1, len(starts))
            continue
        cal = calibrate(prices, funding, cal_start, s, models=models, se=False,
                        warm=warm, quick=True)
        warm = {"merton": cal.fits["merton"].theta if "merton" in cal.fits else None,
                "funding": cal.funding.theta if cal.funding is not None else None,
                "basis": cal.basis.theta if cal.basis is not None else None}
        fc = {}
        for m in models:
            ds = _forecast(cfg, cal, m, path, window_s, paths, seed, drift, notes)
            if ds is None:
                break
            fc[m] = ds
        if len(fc) < len(models):
            skipped.append((s, "a calibrated config was rejected"))
            continue
        rows.append(window_row(run_path(cfg, path, bar_s), path))
        pred.append({m: _predicted(ds) for m, ds in fc.items()})
        fitted.append(_fitted(cal, models))
        kept.append(s)
        if progress:
            progress(j + 1, len(starts))
    if not kept:
        reason = skipped[0][1] if skipped else "no start"
        raise DataError(f"backtest: no usable window start between {fmt_time(starts[0])} and {fmt_time(starts[-1])} "
                        f"(e.g. {reason})")
    if log:
        if skipped:
            log(f"backtest: {len(skipped)} start(s) skipped, e.g. {fmt_time(skipped[0][0])}: {skipped[0][1]}; last "
                f"skipped {fmt_time(skipped[-1][0])}: {skipped[-1][1]}")
        for n in notes:
            log(f"backtest: {n}")
    ds = _assemble(cfg, prices, funding, kept, rows, pred, fitted, models, window_s, step_s, calibration_s, paths,
                   seed, drift)
    ds.attrs["wall_time_s"] = time.perf_counter() - t0
    ds.attrs["skipped_starts"] = len(skipped)
    return meta.stamp(ds, "sim.data.backtest.backtest(...)")  # format v1 attrs (sim.results.meta)


def _predicted(ds: xr.Dataset) -> dict:
    out = {"p": float(ds["liquidation_probability"]), "p_se": float(ds["liquidation_probability_se"])}
    levels = ds["level"].values
    for pf in PORTFOLIOS:
        for lv in LEVELS:
            k = int(np.argmin(np.abs(levels - lv)))
            out[("value_at_risk", pf, lv)] = float(ds["value_at_risk"].sel(portfolio=pf).isel(level=k))
            out[("expected_shortfall", pf, lv)] = float(ds["expected_shortfall"].sel(portfolio=pf).isel(level=k))
    return out


def _fitted(cal, models) -> dict:
    out = {}
    for m in models:
        f = cal.fits[m].params
        out[("mu", m)] = f["mu"]
        out[("sigma", m)] = f["sigma"]
    if "merton" in models:
        for k in ("jump_intensity", "jump_mean", "jump_std"):
            out[(k, "merton")] = cal.fits["merton"].params[k]
    for name, fit in (("funding", cal.funding), ("basis", cal.basis)):
        for k in ("mean", "half_life_hours", "stationary_std", "corr_price"):
            out[(f"{name}_{k}", None)] = fit.params.get(k, math.nan) if fit is not None else math.nan
    return out


def _assemble(cfg, prices, funding, kept, rows, pred, fitted, models, window_s, step_s, calibration_s, paths,
              seed, drift) -> xr.Dataset:
    ds = assemble_windows(cfg, rows, kept, prices, funding, window_s)
    ds.attrs["title"] = "hedgesim walk-forward backtest"
    lv = np.array(LEVELS)
    ds = ds.assign_coords(model=("model", list(models)), portfolio=("portfolio", list(PORTFOLIOS)),
                          level=("level", lv, {"units": "1", "long_name": "confidence level of VaR / ES"}))
    p = np.array([[pr[m]["p"] for m in models] for pr in pred])
    ds["predicted_liquidation_probability"] = (("start", "model"), p, {
        "units": "1", "long_name": "simulated probability that the hedge is liquidated within the window"})
    ds["predicted_liquidation_probability_se"] = (("start", "model"), np.array(
        [[pr[m]["p_se"] for m in models] for pr in pred]), {"units": "1", "long_name": "its Monte Carlo SE"})
    for key, name, ln in (("value_at_risk", "predicted_var", "predicted value at risk of PnL over the window (positive = loss)"),
                          ("expected_shortfall", "predicted_es", "predicted expected shortfall of PnL over the window (positive = loss)")):
        arr = np.array([[[[pr[m][(key, pf, lvl)] for lvl in LEVELS] for pf in PORTFOLIOS] for m in models]
                        for pr in pred])
        ds[name] = (("start", "model", "portfolio", "level"), arr, {"units": "USD", "long_name": ln})
    loss = -np.stack([ds["hedged_pnl"].values, ds["unhedged_pnl"].values], axis=1)  # (start, portfolio)
    exc = loss[:, None, :, None] > ds["predicted_var"].values
    ds["var_exception"] = (("start", "model", "portfolio", "level"), exc, {
        "units": "1", "long_name": "realised loss exceeded the predicted VaR"})
    keep = non_overlapping(pd.DatetimeIndex(kept), pd.Timedelta(seconds=window_s))
    ds["non_overlapping"] = ("start", keep, {"units": "1", "long_name": "window in the non-overlapping subset "
                                             "used for the Kupiec and Christoffersen tests"})
    kp = np.full((len(models), 2, len(LEVELS)), np.nan)
    cp = np.full_like(kp, np.nan)
    cnt = np.zeros_like(kp)
    cnt_all = np.zeros_like(kp)
    for a in range(len(models)):
        for b in range(2):
            for c, level in enumerate(LEVELS):
                e = exc[keep, a, b, c]
                kp[a, b, c] = kupiec_pof(e, level)[1]
                cp[a, b, c] = christoffersen_ind(e)[1]
                cnt[a, b, c] = e.sum()
                cnt_all[a, b, c] = exc[:, a, b, c].sum()
    dims = ("model", "portfolio", "level")
    ds["kupiec_pvalue"] = (dims, kp, {"units": "1", "long_name": "Kupiec proportion-of-failures test p-value "
                                      "(non-overlapping windows)"})
    ds["christoffersen_pvalue"] = (dims, cp, {"units": "1", "long_name": "Christoffersen independence test "
                                              "p-value (non-overlapping windows)"})
    ds["exceptions"] = (dims, cnt, {"units": "windows", "long_name": "VaR exceptions in the non-overlapping windows"})
    ds["exceptions_all"] = (dims, cnt_all, {"units": "windows", "long_name": "VaR exceptions over all windows "
                                            "(overlapping; descriptive only)"})
    y = ds["liquidated"].values.astype(float)
    ds["brier_score"] = (("model",), np.array([brier_score(p[:, a], y) for a in range(len(models))]), {
        "units": "1", "long_name": "Brier score of the liquidation forecasts, all windows (0 = perfect)"})
    ds["brier_score_non_overlapping"] = (("model",), np.array(
        [brier_score(p[keep, a], y[keep]) for a in range(len(models))]), {
        "units": "1", "long_name": "Brier score over the non-overlapping windows"})
    edges = np.array(BUCKETS)
    labels = [f"[{edges[i]:g}, {edges[i + 1]:g}{']' if i == len(edges) - 2 else ')'}" for i in range(len(edges) - 1)]
    ds = ds.assign_coords(bucket=("bucket", labels, {"long_name": "range of predicted liquidation probability"}))
    bc = np.zeros((len(models), len(labels)))
    bp = np.full_like(bc, np.nan)
    br = np.full_like(bc, np.nan)
    for a in range(len(models)):
        idx = np.clip(np.searchsorted(edges, p[:, a], side="right") - 1, 0, len(labels) - 1)
        for k in range(len(labels)):
            m = idx == k
            bc[a, k] = m.sum()
            if m.any():
                bp[a, k] = p[m, a].mean()
                br[a, k] = y[m].mean()
    ds["bucket_windows"] = (("model", "bucket"), bc, {"units": "windows", "long_name": "windows in the bucket"})
    ds["bucket_predicted"] = (("model", "bucket"), bp, {"units": "1", "long_name": "mean predicted probability"})
    ds["bucket_realised"] = (("model", "bucket"), br, {"units": "1", "long_name": "realised liquidation frequency"})
    # parameters calibrated at each start (trailing window)
    for name, units in (("mu", "1/yr"), ("sigma", "1/sqrt(yr)")):
        ds[f"fitted_{name}"] = (("start", "model"), np.array([[f[(name, m)] for m in models] for f in fitted]),
                                {"units": units, "long_name": f"calibrated {name} (trailing window)"})
    extra = [("jump_intensity", "merton", "1/yr"), ("jump_mean", "merton", "log"), ("jump_std", "merton", "log")]
    extra += [(f"{x}_{k}", None, u) for x in ("funding", "basis") for k, u in (
        ("mean", "per interval" if x == "funding" else "fraction"), ("half_life_hours", "h"),
        ("stationary_std", "per interval" if x == "funding" else "fraction"), ("corr_price", "1"))]
    for name, m, units in extra:
        if (name, m) in fitted[0]:
            ds[f"fitted_{name}"] = ("start", np.array([f[(name, m)] for f in fitted]), {
                "units": units, "long_name": f"calibrated {name.replace('_', ' ')} (trailing window)"})
    ds.attrs.update({
        "hedgesim_version": __version__,
        "window": format_duration(window_s), "step": format_duration(step_s),
        "calibration_window": format_duration(calibration_s), "paths_per_forecast": int(paths), "seed": int(seed),
        "drift": drift, "models": ",".join(models), "levels": ",".join(f"{x:g}" for x in LEVELS),
        "non_overlapping_windows": int(keep.sum()),
        "note": "VaR/ES: positive numbers are losses of PnL over the window in USD; exceptions count windows whose "
                "realised loss exceeded the predicted VaR; the tests use the non-overlapping windows only",
    })
    return ds
