"""Walk-forward backtest of the simulator's risk figures, out of sample.

At each window start s (every ``step`` from ``first`` to ``last``):

1. for each calibration choice (``sim.data.choices``: a look-back, optionally a stress
   weight, a volatility floor or a buffer), calibrate on its trailing window only: the
   closes of bars that ended by s and the funding / basis observed by s (no look-ahead);
   the drift is set to 0 by default (a year of data cannot tell it from 0: its SE is about
   sigma / sqrt(1 yr) ~ 0.5 / yr), ``drift="fitted"`` uses the estimate;
2. for each method, a forecast model (``sim.data.methods``) x a calibration choice:
   simulate the config's hedge over the next ``window`` from the state at s (index,
   basis, last settled funding rate), and record the predicted liquidation probability
   and VaR / ES of hedged and unhedged PnL;
3. replay the realised window through the same hedge account (``replay``); the windows
   that ended by s (on the same grid of starts, back into the look-back) give the base
   rate known at s.

Then (``sim.data.backtest_stats``): Brier and log scores of the liquidation forecasts,
their skill against always-0 and against the base rate, the difference of any two
methods with a circular block-bootstrap interval over starts, calibration buckets with
Wilson intervals; VaR exceptions (realised loss > predicted VaR) at 95 % and
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
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from sim import engine, results
from sim.config import Config, ConfigError, format_duration
from sim.data.calibrate import Calibration, calibrate
from sim.data.choices import CalibrationChoice, VolHistory, adjustment, parse_choice
from sim.data.load import FundingData, PriceData
from sim.data.methods import applies, check_models, fitted_models, history_slice, market_values
from sim.data.replay import (
    MarketPath, check_horizon, check_step, market_path, run_path, run_path_raw, window_row, window_starts,
)
from sim.data.backtest_stats import LEVELS, PORTFOLIOS, assemble
from sim.data.scoring import (  # noqa: F401  (the tests' names: re-exported)
    BLOCK, REPLICATES, SEED, brier_score, christoffersen_ind, kupiec_pof, non_overlapping,
)
from sim.data.times import FIRST_TIME, fmt_time
from sim.analysis.adaptive import simulate_adaptive
from sim.errors import DataError
from sim.results import meta
from sim.results import stats as rstats



# --------------------------------------------------------------------------- walk forward


def _forecast(cfg: Config, vals: dict, label: str, path: MarketPath, window_s: float, paths: int, seed: int,
              notes: list[str], history=None) -> dict | None:
    """The simulated outcome of the window from the state at its start (``predicted``),
    or None (noted) when the calibrated config is rejected."""
    vals = dict(vals)
    vals.pop("funding.interval", None)  # the config's payment interval stays (the replay pays on it too)
    vals["market.spot"] = float(path.index[0])
    vals["basis.initial"] = min(max(float(path.mark[0] / path.index[0] - 1.0), -0.2), 0.2)
    if "funding.initial" in vals:
        vals["funding.initial"] = float(path.funding[0])
    vals["simulation.horizon"] = format_duration(window_s)
    try:
        mcfg = cfg.replace(vals)
    except ConfigError as exc:
        notes.append(f"{fmt_time(path.start)} {label}: calibrated config rejected ({exc})")
        return None
    # as sim.run (sim.api, a layer above): the effective config, adaptive when it asks for a target SE
    mcfg = mcfg.effective(paths, seed)
    if mcfg.simulation.target_se is not None:
        raw = simulate_adaptive(mcfg, seed=seed, history=history)
    else:
        raw = engine.simulate(mcfg, paths=paths, seed=seed, history=history)
    return predicted(raw)


def _ns(t: pd.Timestamp) -> int:
    return int(t.value)


def _cal_start(s: pd.Timestamp, lookback_s: float, data_first: pd.Timestamp) -> pd.Timestamp:
    """s - lookback in exact int nanoseconds (all history: the data's first bar), never
    before 1677-09-22 (no Timedelta overflow)."""
    if math.isinf(lookback_s):
        return data_first
    return pd.Timestamp(max(s.value - int(round(lookback_s * 1e9)), FIRST_TIME.value), tz="UTC")


class _Outcomes:
    """Realised liquidation of the windows on the grid first + k step (replayed once each,
    NaN where the data cannot replay one): the start's own outcome and the base rates."""

    def __init__(self, cfg, prices, funding, first: pd.Timestamp, step_s: float, window_s: float):
        self.cfg, self.prices, self.funding = cfg, prices, funding
        self.first, self.step_ns, self.window_s = _ns(first), int(round(step_s * 1e9)), window_s
        self.cache: dict[int, float] = {}

    def time(self, k: int) -> pd.Timestamp:
        return pd.Timestamp(self.first + k * self.step_ns, tz="UTC")

    def put(self, k: int, liquidated: bool) -> None:
        self.cache[k] = float(liquidated)

    def get(self, k: int) -> float:
        if k not in self.cache:
            try:
                path = market_path(self.cfg, self.prices, self.funding, self.time(k), self.window_s)
                raw = run_path_raw(self.cfg, path, self.prices.bar.total_seconds())
                self.cache[k] = float(bool(raw.outputs.liquidated.ravel()[0]))
            except DataError:
                self.cache[k] = math.nan
        return self.cache[k]

    def fill(self, s: pd.Timestamp, lookback_s: float) -> None:
        """Replay the grid windows inside the look-back that ended by s (the base rate's)."""
        w_ns = int(round(self.window_s * 1e9))
        k_hi = (s.value - w_ns - self.first) // self.step_ns
        lo = _cal_start(s, lookback_s, self.prices.bars.index[0]).value
        k_lo = -((self.first - lo) // self.step_ns)  # ceil((lo - first) / step)
        for k in range(k_lo, k_hi + 1):
            self.get(k)

    def table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(window starts, window ends, outcomes) of every window replayed (datetime64 UTC)."""
        ks = np.array(sorted(self.cache), dtype=np.int64)
        t = (self.first + ks * self.step_ns).astype("datetime64[ns]")
        return t, t + np.timedelta64(int(round(self.window_s * 1e9)), "ns"), np.array([self.cache[k] for k in ks])


def _choices(choices, calibration_s) -> list[CalibrationChoice]:
    if choices is None:
        return [CalibrationChoice(float(calibration_s if calibration_s is not None else 365 * 86400.0))]
    out = [parse_choice(c) if isinstance(c, str) else c for c in choices]
    if not out:
        raise DataError("backtest: no calibration choice")
    return out


def backtest(cfg: Config, prices: PriceData, funding: FundingData | None, first, last, window_s: float,
             step_s: float, calibration_s: float | None = None, *, paths: int = 20_000, seed: int | None = None,
             models: Sequence[str] = ("gbm", "merton"), choices: Sequence[CalibrationChoice | str] | None = None,
             drift: str = "zero", min_coverage: float = 0.9, block: int = BLOCK, replicates: int = REPLICATES,
             bootstrap_seed: int = SEED, progress: Callable[[int, int], None] | None = None,
             log: Callable[[str], None] | None = None) -> xr.Dataset:
    """The walk-forward backtest of the module docstring: one row per usable window start
    (starts whose window or calibration sample the data do not cover are skipped, logged).
    ``choices`` (default: the one look-back ``calibration_s``) are the calibration choices
    compared; ``block``, ``replicates``, ``bootstrap_seed``: the block bootstrap of the
    Brier differences."""
    if cfg.sweep:
        raise DataError("backtest runs one hedge: remove the config's [sweep]")
    if drift not in ("zero", "fitted"):
        raise DataError(f"drift {drift!r}: use zero or fitted")
    models = check_models(models)
    choices = _choices(choices, calibration_s)
    seed = cfg.simulation.seed if seed is None else int(seed)
    check_horizon(prices, window_s, "window")
    check_step(prices, step_s, "step")
    starts = window_starts(first, last, step_s, within=prices)
    first_ts = pd.Timestamp(starts[0]) if starts else pd.Timestamp(first)
    bar_s = prices.bar.total_seconds()
    data_first = prices.bars.index[0]
    finite = [c.window_s for c in choices if math.isfinite(c.window_s)]
    need_all = max(finite) if finite else 365 * 86400.0  # bars "all" must hold at least
    hist = VolHistory(prices) if any(c.adjusted for c in choices) else None
    outcomes = _Outcomes(cfg, prices, funding, pd.Timestamp(first) if not starts else starts[0], step_s, window_s)
    fit_names = fitted_models(models) or ("gbm",)
    t0 = time.perf_counter()
    warm: dict[float, dict] = {}
    kept, rows, pred, fitted, skipped, notes = [], [], [], [], [], []
    for j, s in enumerate(starts):
        if progress and j:
            progress(j, len(starts))
        try:
            path = market_path(cfg, prices, funding, s, window_s)
        except DataError as exc:
            skipped.append((s, f"replay window not in the data ({exc})"))
            continue
        cals: dict[float, Calibration] = {}
        short = None
        for w in dict.fromkeys(c.window_s for c in choices):
            cs = _cal_start(s, w, data_first)
            n_bars = len(prices.between(cs, s))
            need = (need_all if math.isinf(w) else w) / bar_s
            if n_bars < min_coverage * need:
                short = f"calibration window {'all' if math.isinf(w) else format_duration(w)} holds {n_bars:,} " \
                        f"of {int(need):,} bars"
                break
            cal = calibrate(prices, funding, cs, s, models=fit_names, se=False, warm=warm.get(w), quick=True)
            warm[w] = {"merton": cal.fits["merton"].theta if "merton" in cal.fits else None,
                       "funding": cal.funding.theta if cal.funding is not None else None,
                       "basis": cal.basis.theta if cal.basis is not None else None}
            cals[w] = cal
        if short:
            skipped.append((s, short))
            continue
        fc: list[list[dict | None]] = []
        factors = []
        ok = True
        for c in choices:
            cal = cals[c.window_s]
            factors.append(adjustment(hist, c, cal.start, cal.end).factor if c.adjusted else 1.0)
        for m in models:
            row = []
            for c, k in zip(choices, factors):
                if not applies(m, c):
                    row.append(None)
                    continue
                cal = cals[c.window_s]
                vals = market_values(m, cal, k, drift)
                fc_mc = _forecast(cfg, vals, f"{m} {c.label}", path, window_s, paths, seed, notes,
                                  history_slice(m, prices, cal))
                if fc_mc is None:
                    ok = False
                    break
                row.append(fc_mc)
            if not ok:
                break
            fc.append(row)
        if not ok:
            skipped.append((s, "a calibrated config was rejected"))
            continue
        row1 = window_row(run_path(cfg, path, bar_s), path)
        k_s = int(round((s.value - outcomes.first) / outcomes.step_ns))
        outcomes.put(k_s, bool(row1["liquidated"][0]))
        rows.append(row1)
        pred.append(fc)
        fitted.append([_fitted(cals[c.window_s], fit_names, k) for c, k in zip(choices, factors)])
        for w in dict.fromkeys(c.window_s for c in choices):
            outcomes.fill(s, w)
        kept.append(s)
    if progress and starts:
        progress(len(starts), len(starts))
    if not kept:
        reason = skipped[0][1] if skipped else "no start"
        where = f"between {fmt_time(starts[0])} and {fmt_time(starts[-1])}" if starts else "in the data"
        raise DataError(f"backtest: no usable window start {where} (e.g. {reason})")
    if log:
        if skipped:
            log(f"backtest: {len(skipped)} start(s) skipped, e.g. {fmt_time(skipped[0][0])}: {skipped[0][1]}; last "
                f"skipped {fmt_time(skipped[-1][0])}: {skipped[-1][1]}")
        for n in notes:
            log(f"backtest: {n}")
    ds = assemble(cfg, prices, funding, kept, rows, pred, fitted, outcomes.table(), models, choices, window_s, step_s, paths,
                  seed, drift, block=block, replicates=replicates, bootstrap_seed=bootstrap_seed)
    ds.attrs["wall_time_s"] = time.perf_counter() - t0
    ds.attrs["skipped_starts"] = len(skipped)
    return meta.stamp(ds, "sim.data.backtest.backtest(...)")  # format v1 attrs (sim.results.meta)


def predicted(raw) -> dict:
    """The forecast's figures (liquidation probability, its SE, VaR / ES of hedged and
    unhedged PnL at LEVELS) from a run's per-path arrays, with the estimators of
    ``sim.results`` (``stats.proportion``, ``stats.var_es``) on the PnL that
    ``results.build_dataset`` defines; a weighted run, or one that reports several times,
    goes through ``build_dataset`` (whose xarray summary costs ~0.7 s a call)."""
    o = raw.outputs
    if len(raw.hedges) != 1 or len(raw.report_steps) != 1 or np.any(o.log_weight != 0.0):
        return _predicted(results.build_dataset(raw))
    h = raw.hedges[0]
    spot = raw.cfg.market.spot
    held = h.collateral + h.management.wallet + h.management.reserve
    inv = h.kind == 0
    w0 = (h.stack + held) * spot if inv else h.stack * spot + held
    unhedged = (h.stack + held if inv else h.stack) * o.index_at[:, -1] + (0.0 if inv else held) - w0
    pnl = {"hedged": o.value_at[:, 0, -1] - w0, "unhedged": unhedged}
    p, se, _, _ = rstats.proportion(o.liquidated[:, 0])
    out = {"p": p, "p_se": se}
    for pf in PORTFOLIOS:
        var, _, es, _ = rstats.var_es(pnl[pf], np.array(LEVELS))
        for k, lv in enumerate(LEVELS):
            out[("value_at_risk", pf, lv)] = float(var[k])
            out[("expected_shortfall", pf, lv)] = float(es[k])
    return out


def _predicted(ds: xr.Dataset) -> dict:
    out = {"p": float(ds["liquidation_probability"]), "p_se": float(ds["liquidation_probability_se"])}
    levels = ds["level"].values
    for pf in PORTFOLIOS:
        for lv in LEVELS:
            k = int(np.argmin(np.abs(levels - lv)))
            out[("value_at_risk", pf, lv)] = float(ds["value_at_risk"].sel(portfolio=pf).isel(level=k))
            out[("expected_shortfall", pf, lv)] = float(ds["expected_shortfall"].sel(portfolio=pf).isel(level=k))
    return out


def _fitted(cal: Calibration, models, factor: float) -> dict:
    out = {("volatility_factor", None): factor}
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
