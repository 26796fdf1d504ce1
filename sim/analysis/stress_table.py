"""``hedgesim stress``: every ``[[stress]]`` scenario against the baseline, one row each
(docs/stress.md; printed by ``sim.report.text.format_stress``).

Stochastic scenarios run with the baseline's seed, so each path sees the same random
numbers with and without the stress (common random numbers): the differences to the
baseline carry paired standard errors. ``replay`` scenarios are deterministic: one
historical or hand-made path through the same hedge account.
"""

from __future__ import annotations

import json
import math

import numpy as np
import xarray as xr

from sim import engine
from sim import results
from sim.results import meta, stats
from sim.results.kinds import at_horizon


def _base_config(cfg):
    """The config without its [[stress]] scenarios (and any [sweep]): the baseline. The
    scenarios must go, not only the sweep: a replay re-validates the config with the
    file's span as the horizon, and another scenario's times may lie beyond it."""
    return cfg.without("stress", "sweep")


def run_stress(cfg, **run_kw) -> xr.Dataset:
    """The baseline and every scenario of ``cfg.stress``, one row each (dim ``scenario``)."""
    base_cfg = _base_config(cfg)
    rows = []
    base_raw = engine.simulate(base_cfg, **run_kw)
    base = results.build_dataset(base_raw)
    rows.append(_row("baseline", "", base, base))
    for st in cfg.stress:
        if st["type"] == "replay":
            raw = engine.replay(base_cfg, st["file"])
        else:
            raw = engine.simulate(base_cfg, stress=st, **run_kw)
        ds = results.build_dataset(raw)
        rows.append(_row(st["name"], st["type"], ds, base))
    names = [r.pop("scenario") for r in rows]
    types = [r.pop("type") for r in rows]
    out = xr.Dataset(coords={"scenario": ("scenario", np.array(names, dtype=object))})
    out = out.assign_coords(type=("scenario", np.array(types, dtype=object)))
    units = {"liquidation_probability": "1", "liquidation_probability_low": "1", "liquidation_probability_high": "1",
             "liquidation_probability_vs_baseline": "1", "liquidation_probability_vs_baseline_se": "1",
             "liquidation_time_median": "days", "es99_hedged": "USD", "es99_hedged_vs_baseline": "USD",
             "es99_hedged_vs_baseline_se": "USD", "es99_unhedged": "USD", "median_hedged_pnl": "USD",
             "median_unhedged_pnl": "USD", "paths": "paths"}
    for key in units:
        out[key] = ("scenario", np.array([r[key] for r in rows], dtype=float), {"units": units[key]})
    out.attrs.update({k: base.attrs[k] for k in ("config", "config_source", "seed", "paths", "model", "dt",
                                                  "horizon", "hedgesim_version", "rng", "rng_block_paths")})
    out.attrs["stress"] = str(cfg.stress)
    out.attrs["config_user"] = json.dumps(meta.user_config(cfg), default=str)  # the stress scenarios included
    meta.stamp(out, "sim.analysis.stress_table.run_stress(...)")  # format v1 attrs (sim.results.meta)
    return out


def _row(name: str, kind: str, ds: xr.Dataset, base: xr.Dataset) -> dict:
    h = at_horizon(ds["hedged_pnl"]).values
    u = at_horizon(ds["unhedged_pnl"]).values
    liq = ds["liquidated"].values
    n = h.size
    p, se, lo, hi = stats.proportion(liq)
    _, es_h = stats.es_influence(h, 0.99)
    _, es_u = stats.es_influence(u, 0.99)
    t = ds["liquidation_time"].values
    row = {"scenario": name, "type": kind, "paths": n, "liquidation_probability": p,
           "liquidation_probability_low": lo, "liquidation_probability_high": hi,
           "liquidation_time_median": float(np.nanmedian(t)) if liq.any() else math.nan,
           "es99_hedged": es_h, "es99_unhedged": es_u,
           "median_hedged_pnl": float(np.median(h)), "median_unhedged_pnl": float(np.median(u)),
           "liquidation_probability_vs_baseline": math.nan, "liquidation_probability_vs_baseline_se": math.nan,
           "es99_hedged_vs_baseline": math.nan, "es99_hedged_vs_baseline_se": math.nan}
    bh = at_horizon(base["hedged_pnl"]).values
    if n == bh.size and n > 1:  # same paths: paired differences
        d = liq.astype(float) - base["liquidated"].values.astype(float)
        row["liquidation_probability_vs_baseline"] = float(d.mean())
        row["liquidation_probability_vs_baseline_se"] = float(d.std(ddof=1) / math.sqrt(n))
        fa, ea = stats.es_influence(h, 0.99)
        fb, eb = stats.es_influence(bh, 0.99)
        row["es99_hedged_vs_baseline"] = ea - eb
        row["es99_hedged_vs_baseline_se"] = float((fa - fb).std(ddof=1) / math.sqrt(n))
    return row
