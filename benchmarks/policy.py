"""Cost of a margin policy: ``python -m benchmarks.policy``.

Times one run of configs/default.toml and the same run with configs/managed.toml's
policy (top-ups from a reserve over a 1 h transfer, withdrawals, re-hedging, exchange
default risk), and that policy with hourly rebalancing checks, on the same paths,
interleaved after a warm-up, and reports the ratios (goal: at most 1.3x). Writes benchmarks/results/policy.{json,md}.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import sim
from sim import engine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
POLICY = {"policy.top_up_reserve": 0.2, "policy.top_up_trigger": 6.0, "policy.top_up_to": 14.0,
          "policy.transfer_delay": "1h", "policy.withdraw_above": 40.0, "policy.withdraw_to": 20.0,
          "policy.rehedge": True, "policy.rehedge_delay": "2h", "exchange.default_rate": 0.03,
          "exchange.recovery_rate": 0.3}


REBALANCE = {**POLICY, "policy.rebalance_every": "1h", "policy.rebalance_band": 0.01}


def main(paths: int = 200_000, reps: int = 3) -> int:
    base = sim.load_config(ROOT / "configs" / "default.toml", overrides={"position.collateral": 0.1})
    runs = {"static": base, "policy": base.replace(POLICY), "rebalance": base.replace(REBALANCE)}
    for cfg in runs.values():
        engine.simulate(cfg, paths=2048)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(reps):
        for name, cfg in runs.items():
            t0 = time.perf_counter()
            engine.simulate(cfg, paths=paths, seed=1)
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(t) for name, t in times.items()}
    ms, mp, mr = med["static"], med["policy"], med["rebalance"]
    steps = base.steps
    res = {"paths": paths, "steps": steps, "static_s": ms, "policy_s": mp, "ratio": mp / ms,
           "rebalance_s": mr, "rebalance_ratio": mr / ms,
           "static_path_steps_per_s": paths * steps / ms, "policy_path_steps_per_s": paths * steps / mp}
    md = (f"**Policy cost** ({paths:,} paths x {steps} steps, configs/default.toml with 0.1 BTC collateral; "
          f"median of {reps}, interleaved)\n\n| run | wall (s) | path-steps/s | vs static |\n|---|---:|---:|---:|\n"
          f"| static hedge | {ms:.2f} | {paths * steps / ms / 1e6:.1f} M | 1.00x |\n"
          f"| top-ups (1 h transfer), withdrawals, re-hedging, default risk | {mp:.2f} | "
          f"{paths * steps / mp / 1e6:.1f} M | {mp / ms:.2f}x |\n"
          f"| the same + hourly rebalancing checks (1 % band) | {mr:.2f} | "
          f"{paths * steps / mr / 1e6:.1f} M | {mr / ms:.2f}x |\n")
    print(md)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "policy.json").write_text(json.dumps(res, indent=2))
    (RESULTS / "policy.md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:])))
