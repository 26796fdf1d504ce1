"""How much on the exchange, how much in reserve: ``hedgesim margin CONFIG --target P --policy``.

The collateral identity of ``sim.analysis.margin`` does not hold once a policy moves
margin (a top-up changes the collateral along the path), so the frontier is evaluated
directly, every plan on the same simulated paths (common random numbers):

1. the static minimum collateral C* for the target, from the identity (no policy);
2. a grid of on-exchange collateral C (fractions of C*) x reserve R (fractions of C*)
   x top-up trigger (30, 50 and 70 % of the way from the liquidation level 1 to the plan's
   initial margin level C / maintenance margin, so that a thin account is topped up early
   enough; ``top_up_to`` = 2 x trigger),
   with the config's transfer delay, withdrawals, re-hedging, margin mode and default risk;
3. for each C, the smallest reserve (and its trigger) whose probability of losing the
   hedge at least once is at most P — the frontier;
4. among the plans that meet the target, the one with the smallest expected total loss
   (equity forfeited at liquidations plus what an exchange default takes, in USD): with
   default risk on, keeping less on the exchange is worth something, so the optimum can
   lie inside the grid.

Each collateral level is one run of every (reserve, trigger) variant, so memory stays at
one level's per-path arrays; only summary statistics are kept (docs/policies.md).
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import xarray as xr

from sim import engine
from sim.analysis.margin import min_collateral
from sim.errors import ConfigError
from sim.instruments.perpetual import margin_excess
from sim.kernel.args import POLICY_OUTPUTS
from sim.results import meta, stats

COLLATERAL_FRACTIONS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
RESERVE_FRACTIONS = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0)
TRIGGER_FRACTIONS = (0.3, 0.5, 0.7)  # of the way from level 1 to the initial margin level
PLAN_VARS = {  # name: (units, meaning); "{m}" is the margin currency
    "liquidation_probability": ("1", "probability of losing the hedge at least once within the horizon"),
    "liquidation_probability_se": ("1", "its standard error"),
    "expected_total_loss": ("USD", "expected equity forfeited at liquidations plus exchange-default loss"),
    "expected_total_loss_se": ("USD", "its standard error"),
    "liquidation_loss_usd_mean": ("USD", "expected equity forfeited at liquidations"),
    "exchange_loss_usd_mean": ("USD", "expected loss in an exchange default"),
    "mean_on_exchange_mean": ("{m}", "expected time-average amount on the exchange"),
    "reserve_used_mean": ("{m}", "expected amount taken from the reserve"),
    "reserve_exhausted_probability": ("1", "probability that the reserve runs out"),
    "top_ups_mean": ("1", "expected number of transfers into the account"),
}
POLICY_RESET = {"policy.top_up_reserve": 0.0, "policy.top_up_trigger": None, "policy.top_up_to": None,
                "policy.withdraw_above": None, "policy.withdraw_to": None, "policy.rehedge": False}


def _collateral_key(cfg) -> str:
    return "position.collateral_usd" if cfg.position.collateral_usd is not None else "position.collateral"


def run_frontier(cfg, target: float, *, progress=False, threads=None, chunk_paths=None) -> xr.Dataset:
    if not (0.0 < target < 0.5):
        raise ConfigError(f"--target {target:g}: out of range; allowed (0, 0.5) with --policy")
    if cfg.sweep:
        raise ConfigError("hedgesim margin --policy sweeps the collateral, reserve and trigger itself: remove the "
                          "config's [sweep]")
    if cfg.position.hedge_collateral:
        raise ConfigError("hedgesim margin --policy: position.hedge_collateral = true is not supported (the hedge "
                          "size would change with the collateral)")
    t0 = time.perf_counter()
    run_kw = {"threads": threads, "chunk_paths": chunk_paths}
    ckey = _collateral_key(cfg)
    # 1. the static minimum collateral: no policy, isolated margin, no wallet
    static_cfg = cfg.replace({**POLICY_RESET, "exchange.margin_mode": "isolated", "exchange.wallet": 0.0,
                              "exchange.default_rate": 0.0})
    static = engine.simulate(static_cfg, progress=progress, **run_kw)
    hedge = static.hedges[0]
    c_star, lo, hi = min_collateral(static.outputs.required_collateral[:, 0], target)
    if not math.isfinite(c_star) or c_star <= 0.0:
        raise ConfigError(f"--target {target:g}: {static.paths:,} paths cannot resolve it (or no collateral is "
                          "needed); use more --paths")
    unit_scale = cfg.market.spot if ckey.endswith("_usd") and hedge.kind == 0 else 1.0  # BTC -> USD amounts
    c_levels = [round(f * c_star * unit_scale, 12) for f in COLLATERAL_FRACTIONS]
    r_levels = [round(f * c_star, 12) for f in RESERVE_FRACTIONS]
    # 2. one run per collateral level, every (reserve, trigger) on the same paths
    shape = (len(r_levels), len(TRIGGER_FRACTIONS))
    stats_by_level, trig = [], []
    for c in c_levels:
        ccfg = cfg.replace({ckey: c, "policy.top_up_to": None})
        h = engine.resolve_hedge(ccfg)
        level0 = (h.collateral - h.open_fee) / -margin_excess(h.kind, h.size, h.entry, 0.0, h.entry, h.tiers, 0.0)
        triggers = [round(1.0 + f * (level0 - 1.0), 9) for f in TRIGGER_FRACTIONS]  # distinct: level0 > 1
        trig.append(triggers)
        sweep = {"policy.top_up_reserve": r_levels, "policy.top_up_trigger": triggers}
        raw = engine.simulate(ccfg.with_sweep(sweep), progress=progress, **run_kw)
        stats_by_level.append(_plan_statistics(raw, shape))
    dims = ("collateral", "reserve", "trigger_fraction")
    coords = {"collateral": np.asarray(c_levels) / unit_scale, "reserve": r_levels,
              "trigger_fraction": list(TRIGGER_FRACTIONS)}
    out = xr.Dataset({name: (dims, np.stack([s[name] for s in stats_by_level]),
                             {"units": units.format(m=hedge.margin_unit), "long_name": ln})
                      for name, (units, ln) in PLAN_VARS.items()}, coords=coords)
    out["trigger"] = (("collateral", "trigger_fraction"), np.asarray(trig),
                      {"units": "1", "long_name": "top-up trigger: margin level (equity / maintenance margin)"})
    m_unit = hedge.margin_unit
    out["collateral"].attrs = {"units": m_unit, "long_name": "collateral posted on the exchange"}
    out["reserve"].attrs = {"units": m_unit, "long_name": "top-up reserve"}
    out["trigger_fraction"].attrs = {"units": "1", "long_name": "top-up trigger: fraction of the way from level 1 to the initial margin level"}
    # 3. the frontier: per collateral, the smallest reserve meeting the target
    p = out["liquidation_probability"].values  # (C, R, T)
    loss = out["expected_total_loss"].values
    ok = p <= target
    min_reserve = np.full(len(c_levels), np.nan)
    best_trig = np.full(len(c_levels), np.nan)
    for j in range(len(c_levels)):
        for k in range(len(r_levels)):
            if ok[j, k].any():
                t = int(np.argmin(np.where(ok[j, k], loss[j, k], np.inf)))
                min_reserve[j], best_trig[j] = r_levels[k], trig[j][t]
                break
    out["min_reserve"] = ("collateral", min_reserve, {
        "units": m_unit, "long_name": f"smallest reserve with P(losing the hedge) <= {target:g} (NaN: none on the grid)"})
    out["min_reserve_trigger"] = ("collateral", best_trig, {"units": "1", "long_name": "its top-up trigger"})
    # 4. the plan with the smallest expected total loss among those meeting the target
    masked = np.where(ok, loss, np.inf)
    if np.isfinite(masked).any():
        j, k, t = np.unravel_index(int(np.argmin(masked)), masked.shape)
        best = {"best_collateral": float(out["collateral"][j]), "best_reserve": r_levels[k],
                "best_trigger": float(trig[j][t]), "best_expected_total_loss": float(loss[j, k, t]),
                "best_expected_total_loss_se": float(out["expected_total_loss_se"].values[j, k, t]),
                "best_liquidation_probability": float(p[j, k, t]),
                "best_exchange_loss_usd": float(out["exchange_loss_usd_mean"].values[j, k, t])}
    else:
        best = {}
    static_j = len(c_levels) - 1  # C = C*, no reserve: the static plan
    out.attrs.update({
        "title": "hedgesim margin frontier", "target": float(target), "margin_unit": m_unit,
        "static_min_collateral": c_star, "static_min_collateral_low": lo, "static_min_collateral_high": hi,
        "static_expected_total_loss": float(loss[static_j, 0, 0]),
        "static_liquidation_probability": float(p[static_j, 0, 0]),
        "static_exchange_loss_usd": float(out["exchange_loss_usd_mean"].values[static_j, 0, 0]),
        "transfer_delay": str(cfg.policy.transfer_delay), "default_rate": float(cfg.exchange.default_rate),
        "recovery_rate": float(cfg.exchange.recovery_rate), "margin_mode": str(cfg.exchange.margin_mode),
        "paths": int(static.paths), "seed": int(static.seed), "steps": int(cfg.steps),
        "horizon": str(cfg.simulation.horizon), "config": cfg.to_json(), "config_source": cfg.source,
        "config_user": json.dumps(meta.user_config(cfg.effective(static.paths, static.seed))),
        "method": "direct evaluation of every plan on the same paths (the collateral identity does not hold under "
                  "a policy)", "wall_time_s": round(time.perf_counter() - t0, 2), **best})
    return meta.stamp(out, "sim.analysis.frontier.run_frontier(...)")  # format v1 attrs


def _plan_statistics(raw, shape) -> dict[str, np.ndarray]:
    """PLAN_VARS of every variant of one run, straight from the per-path arrays (importance
    weights used when the run has them), shaped (reserve, trigger)."""
    o = raw.outputs
    w = np.exp(o.log_weight) if np.any(o.log_weight != 0.0) else None
    col = {name: j for j, (name, _, _) in enumerate(POLICY_OUTPUTS)}
    out = {name: np.empty(o.liquidated.shape[1]) for name in PLAN_VARS}
    for v in range(o.liquidated.shape[1]):
        liq = o.liquidated[:, v]
        pol = o.policy[:, v, :]
        p = stats.proportion(liq) if w is None else stats.weighted_proportion(liq, w)
        out["liquidation_probability"][v], out["liquidation_probability_se"][v] = p[0], p[1]
        total = pol[:, col["liquidation_loss_usd"]] + pol[:, col["exchange_loss_usd"]]
        for name, x in (("expected_total_loss", total), ("liquidation_loss_usd_mean", pol[:, col["liquidation_loss_usd"]]),
                        ("exchange_loss_usd_mean", pol[:, col["exchange_loss_usd"]]),
                        ("mean_on_exchange_mean", pol[:, col["mean_on_exchange"]]),
                        ("reserve_used_mean", pol[:, col["reserve_used"]]),
                        ("reserve_exhausted_probability", pol[:, col["reserve_exhausted"]]),
                        ("top_ups_mean", pol[:, col["top_ups"]])):
            m, se, _ = stats.mean_se(x if w is None else x * w)
            out[name][v] = m
            if name == "expected_total_loss":
                out["expected_total_loss_se"][v] = se
    return {name: x.reshape(shape) for name, x in out.items()}
