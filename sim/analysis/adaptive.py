"""Adaptive path counts and convergence diagnostics.

``simulation.target_se`` (or ``--target-se``): simulate batches of paths until the
standard error of the liquidation probability reaches the target (absolute, e.g. 0.0005,
or relative to the estimate, e.g. "5%"), or until ``simulation.max_paths`` is spent. The
batches are shards of one run of ``max_paths`` paths, so the result is bitwise the first
N paths of that run, whatever the batch size (docs/model.md, Reproducibility).

``--convergence``: the running estimate of the liquidation probability and of ES 99 % of
hedged PnL over the first n paths, n = 1,024, 2,048, 4,096, ... N, as variables over an
``n_paths`` dimension, to see whether more paths would change the answer.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from sim import engine
from sim.kernel import rng
from sim.results import stats
from sim.engine.simulate import RawRun


def _se_of(out, weighted: bool) -> tuple[float, float]:
    liq = out.liquidated[:, 0]
    if weighted:
        p, se, _, _ = stats.weighted_proportion(liq, np.exp(out.log_weight))
    else:
        p, se, _, _ = stats.proportion(liq)
    if p == 0 or p == 1:  # the binomial SE is 0 there: use the rule-of-three bound instead
        se = max(se, 3.0 / liq.size / stats.Z95)
    return p, se


def reached(target, p: float, se: float) -> bool:
    if isinstance(target, str):
        rel = float(target.strip()[:-1]) / 100.0
        return p > 0 and se / p <= rel
    return se <= float(target)


def simulate_adaptive(cfg, seed: int | None = None, *, batch_paths: int | None = None, progress=False,
                      threads: int | None = None, chunk_paths: int | None = None, history=None) -> RawRun:
    target = cfg.simulation.target_se
    budget = cfg.simulation.max_paths
    first = min(cfg.simulation.paths, budget)
    batch = batch_paths or max(rng.BLOCK, first)
    batch = -(-batch // rng.BLOCK) * rng.BLOCK
    weighted = cfg.simulation.importance != "off"
    parts = []
    done = 0
    raw = None
    reason = "path budget exhausted"
    while done < budget:
        # every batch a whole number of random blocks (the next one starts on a block), the last one to the budget
        count = min(batch if done else -(-max(first, rng.BLOCK) // rng.BLOCK) * rng.BLOCK, budget - done)
        raw = engine.simulate(cfg, paths=budget, seed=seed, first_path=done, count=count, threads=threads,
                              chunk_paths=chunk_paths, progress=progress, history=history)
        parts.append(raw)
        done += count
        out = _concat([p.outputs for p in parts])
        p, se = _se_of(out, weighted)
        if progress:
            import sys

            print(f"  {done:,} paths: liquidation probability {p:.6g} +- {se:.3g} (target {target})",
                  file=sys.stderr)
        if reached(target, p, se):
            reason = "target reached"
            break
    assert raw is not None
    out = _concat([p.outputs for p in parts])
    wall = sum(p.wall_time for p in parts)
    info = dict(raw.info)
    info.pop("shard", None)
    info["adaptive"] = {"target_se": target, "max_paths": budget, "stopped": reason, "paths": done}
    return RawRun(cfg=cfg, paths=done, seed=raw.seed, hedges=raw.hedges, sweep=raw.sweep,
                  report_steps=raw.report_steps, market=raw.market, outputs=out, save_every=raw.save_every,
                  wall_time=wall, threads=raw.threads, chunk_paths=raw.chunk_paths, info=info)


def _concat(outs):
    if len(outs) == 1:
        return outs[0]
    fields = {}
    for name in outs[0]._fields:
        if name == "saved":
            fields[name] = np.concatenate([o.saved for o in outs], axis=0)
        else:
            fields[name] = np.concatenate([getattr(o, name) for o in outs], axis=0)
    return type(outs[0])(**fields)


def convergence(ds: xr.Dataset) -> xr.Dataset:
    """Running liquidation probability (95 % interval) and ES 99 % of hedged PnL (SE) over
    the first n paths; first hedge variant and the horizon when there are sweeps/times."""
    liq = ds["liquidated"]
    h = ds["hedged_pnl"]
    extra = [d for d in liq.dims if d != "path"]
    if extra:
        liq = liq.isel({d: 0 for d in extra})
    extra_h = [d for d in h.dims if d != "path"]
    if extra_h:
        h = h.isel({d: (-1 if d == "time" else 0) for d in extra_h})
    n = ds.sizes["path"]
    ns = []
    k = rng.BLOCK
    while k < n:
        ns.append(k)
        k *= 2
    ns.append(n)
    w = ds["weight"].values if "weight" in ds else None
    lv, lse, llo, lhi, ev, ese = [], [], [], [], [], []
    x = liq.values
    y = h.values
    for m in ns:
        if w is None:
            p, se, lo, hi = stats.proportion(x[:m])
            _, _, e, es = stats.var_es(y[:m], np.array([0.99]))
            e, es = float(e[0]), float(es[0])
        else:
            p, se, lo, hi = stats.weighted_proportion(x[:m], w[:m])
            _, ee = stats.weighted_var_es(y[:m], w[:m], np.array([0.99]))
            e, es = float(ee[0]), math.nan
        lv.append(p), lse.append(se), llo.append(lo), lhi.append(hi), ev.append(e), ese.append(es)
    coords = {"n_paths": ("n_paths", np.asarray(ns), {"units": "paths", "long_name": "first n paths"})}
    conv = xr.Dataset({
        "running_liquidation_probability": ("n_paths", lv, {"units": "1"}),
        "running_liquidation_probability_se": ("n_paths", lse, {"units": "1"}),
        "running_liquidation_probability_low": ("n_paths", llo, {"units": "1"}),
        "running_liquidation_probability_high": ("n_paths", lhi, {"units": "1"}),
        "running_es99_hedged": ("n_paths", ev, {"units": "USD", "long_name": "ES 99 % of hedged PnL (loss)"}),
        "running_es99_hedged_se": ("n_paths", ese, {"units": "USD"}),
    }, coords=coords)
    return ds.merge(conv)
