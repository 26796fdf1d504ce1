"""Accuracy tables (README "How accurate are the numbers"): ``python -m benchmarks.accuracy``.

1. Liquidation between steps: GBM, sigma 0.8, 30 days, liquidation price 10 % above
   spot; discrete vs continuous (Brownian-bridge) monitoring at dt = 1d, 4h, 1h, 15min,
   next to the closed-form continuous value.
2. Rare events: importance sampling vs the closed form at 1e-3, 1e-5, 1e-7 with 100,000
   paths, next to plain Monte Carlo on the same paths.
3. Kou jumps: simulated liquidation probability vs the Kou-Wang formula.
Writes benchmarks/results/accuracy.{json,md}.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from scipy.optimize import brentq

import sim
from sim.market import gbm
from sim.market import kou

RESULTS = Path(__file__).resolve().parent / "results"
QUIET = {"funding.initial": 0.0, "funding.mean": 0.0, "funding.stationary_std": 0.0,
         "basis.stationary_std": 0.0, "exchange.taker_fee": 0.0, "funding.interval": "1d"}
SPOT, MMR, SIGMA, T = 60_000.0, 0.005, 0.8, 30 / 365


def cfg_for(barrier, **over):
    o = dict(QUIET)
    o.update({"market.sigma": SIGMA, "position.collateral": 1.0 - SPOT * (1 - MMR) / barrier})
    o.update(over)
    return sim.load_config(None, overrides=o)


def monitoring_table(paths: int) -> list[dict]:
    barrier = 1.1 * SPOT
    exact = gbm.gbm_hit_probability(SPOT, barrier, 0.0, SIGMA, T)
    rows = []
    for dt in ["1d", "4h", "1h", "15min"]:
        row = {"dt": dt, "closed_form": exact}
        for mon in ("discrete", "continuous"):
            ds = sim.run(cfg_for(barrier, **{"simulation.dt": dt, "simulation.monitoring": mon}), paths=paths, seed=1)
            row[mon] = float(ds["liquidation_probability"])
            row[mon + "_se"] = float(ds["liquidation_probability_se"])
        row["bgk_discrete"] = gbm.gbm_hit_probability(
            SPOT, gbm.bgk_shifted_barrier(barrier, SPOT, SIGMA, sim.load_config(
                None, {"simulation.dt": dt, "funding.interval": "1d"}).dt_years), 0.0, SIGMA, T)
        rows.append(row)
        print(f"  monitoring dt={dt} done", file=sys.stderr)
    return rows


def rare_table(paths: int) -> list[dict]:
    rows = []
    for target in (1e-3, 1e-5, 1e-7):
        barrier = brentq(lambda b: gbm.gbm_hit_probability(SPOT, b, 0.0, SIGMA, T) - target, SPOT * 1.001,
                         SPOT * 100)
        t0 = time.perf_counter()
        ds = sim.run(cfg_for(barrier, **{"simulation.importance": "auto"}), paths=paths, seed=1)
        wall = time.perf_counter() - t0
        plain = sim.run(cfg_for(barrier), paths=paths, seed=1)
        est = float(ds["liquidation_probability"])
        rows.append({"target": target, "barrier": barrier, "is_estimate": est,
                     "is_se": float(ds["liquidation_probability_se"]), "rel_error": est / target - 1,
                     "ess": float(ds["effective_sample_size"]), "plain_events": int(plain["liquidated"].sum()),
                     "plain_estimate": float(plain["liquidation_probability"]), "wall_s": wall})
        print(f"  importance sampling p={target:g} done", file=sys.stderr)
    return rows


def kou_table(paths: int) -> list[dict]:
    rows = []
    for lam, p, up, down, rel in [(30.0, 0.5, 0.04, 0.04, 1.15), (12.0, 0.3, 0.05, 0.08, 1.25)]:
        barrier = rel * SPOT
        cfg = cfg_for(barrier, **{"market.model": "kou", "market.sigma": 0.5, "market.jump_intensity": lam,
                                  "market.jump_up_prob": p, "market.jump_up_mean": up, "market.jump_down_mean": down})
        ds = sim.run(cfg, paths=paths, seed=1)
        exact = kou.kou_hit_probability(SPOT, barrier, 0.0, 0.5, T, lam, p, up, down)
        rows.append({"jump_intensity": lam, "p_up": p, "up_mean": up, "down_mean": down, "barrier": barrier,
                     "simulated": float(ds["liquidation_probability"]),
                     "se": float(ds["liquidation_probability_se"]), "kou_wang": exact})
    return rows


def to_markdown(res: dict) -> str:
    lines = [f"**Liquidation between steps** (GBM, sigma 0.8, 30 days, liquidation price 10 % above spot, "
             f"{res['paths_monitoring']:,} paths each)", "",
             "| dt | discrete | continuous (bridge) | closed form (continuous) | BGK-shifted closed form (discrete) |",
             "|---|---:|---:|---:|---:|"]
    for r in res["monitoring"]:
        lines.append(f"| {r['dt']} | {r['discrete']:.4f} +- {r['discrete_se']:.4f} | {r['continuous']:.4f} +- "
                     f"{r['continuous_se']:.4f} | {r['closed_form']:.4f} | {r['bgk_discrete']:.4f} |")
    lines += ["", f"**Rare events** (importance sampling, auto tilt, {res['paths_rare']:,} paths, hourly steps, "
              "continuous monitoring)", "",
              "| closed form | IS estimate +- SE | relative error | ESS | plain MC events on the same paths | IS wall (s) |",
              "|---:|---:|---:|---:|---:|---:|"]
    for r in res["rare"]:
        lines.append(f"| {r['target']:.0e} | {r['is_estimate']:.4g} +- {r['is_se']:.2g} | {100 * r['rel_error']:+.2f} % | "
                     f"{r['ess']:.1f} | {r['plain_events']} | {r['wall_s']:.1f} |")
    lines += ["", f"**Kou jumps** (sigma 0.5, 30 days, hourly, {res['paths_kou']:,} paths)", "",
              "| intensity /yr | p up | up mean | down mean | barrier / spot | simulated +- SE | Kou-Wang |",
              "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["kou"]:
        lines.append(f"| {r['jump_intensity']:g} | {r['p_up']:g} | {r['up_mean']:g} | {r['down_mean']:g} | "
                     f"{r['barrier'] / SPOT:.2f} | {r['simulated']:.4f} +- {r['se']:.4f} | {r['kou_wang']:.4f} |")
    return "\n".join(lines)


def main() -> int:
    res = {"paths_monitoring": 100_000, "paths_rare": 100_000, "paths_kou": 100_000}
    res["monitoring"] = monitoring_table(res["paths_monitoring"])
    res["rare"] = rare_table(res["paths_rare"])
    res["kou"] = kou_table(res["paths_kou"])
    md = to_markdown(res)
    print(md)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "accuracy.json").write_text(json.dumps(res, indent=2))
    (RESULTS / "accuracy.md").write_text(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
