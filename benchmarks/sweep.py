"""Cost of hedge variants on common random numbers: ``python -m benchmarks.sweep``.

Times one run of configs/default.toml and the same run with a 20-variant sweep
(collateral x hedge ratio, 5 x 4), interleaved, and reports the ratio. Writes
benchmarks/results/sweep.{json,md}.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import sim
from sim import engine

RESULTS = Path(__file__).resolve().parent / "results"


def main(paths: int = 100_000, reps: int = 3) -> int:
    base = sim.load_config("configs/default.toml")
    swept = base.with_sweep({"position.collateral": [0.15, 0.2, 0.25, 0.35, 0.5],
                             "position.hedge_ratio": [0.5, 0.75, 1.0, 1.25]})
    engine.simulate(base, paths=2048)
    engine.simulate(swept, paths=2048)
    t1, t20 = [], []
    for _ in range(reps):
        for cfg, acc in ((base, t1), (swept, t20)):
            t0 = time.perf_counter()
            engine.simulate(cfg, paths=paths, seed=1)
            acc.append(time.perf_counter() - t0)
    m1, m20 = statistics.median(t1), statistics.median(t20)
    res = {"paths": paths, "steps": base.steps, "one_variant_s": m1, "twenty_variants_s": m20, "ratio": m20 / m1,
           "separate_runs_estimate_s": 20 * m1}
    md = (f"**Sweep cost** ({paths:,} paths x {base.steps} steps, configs/default.toml, median of {reps})\n\n"
          "| run | wall (s) | vs one variant |\n|---|---:|---:|\n"
          f"| 1 variant | {m1:.2f} | 1.00x |\n| 20 variants, one pass (common random numbers) | {m20:.2f} | "
          f"{m20 / m1:.2f}x |\n| 20 separate runs (estimate) | {20 * m1:.2f} | 20.00x |\n")
    print(md)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sweep.json").write_text(json.dumps(res, indent=2))
    (RESULTS / "sweep.md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:])))
