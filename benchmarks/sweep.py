"""Cost of hedge variants on common random numbers: ``python -m benchmarks.sweep [paths] [reps]``.

One run of configs/default.toml against the same run with a 20-variant sweep (collateral x
hedge ratio, 5 x 4), both through ``sim.run`` (kernel and summary: what the user waits
for), interleaved after a warm-up, median of ``reps``. Reports for each the kernel alone
(the chunk loop, ``wall_time_s``), the summary (``build_dataset``: the per-path Dataset and
its statistics) and the total, their sweep / one-run ratios and path-steps/s; and the
vectorisation of the sweep's account pass (``sim.kernel.account_lanes``): packed AVX
instructions in its compiled code. Writes benchmarks/results/sweep.{json,md}.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numba

import sim

RESULTS = Path(__file__).resolve().parent / "results"
COLLATERAL = [0.15, 0.2, 0.25, 0.35, 0.5]
HEDGE_RATIO = [0.5, 0.75, 1.0, 1.25]


def lanes_asm() -> dict:
    """Packed vs scalar double-precision instructions in the compiled lanes pass (the inner
    loop over variants is the only loop there with floating-point work at every step)."""
    import numpy as np
    from numba import njit

    from sim.engine.hedge import account_args, resolve_hedge
    from sim.engine.simulate import allocate_outputs, market_args, variants
    from sim.kernel import account_lanes as al
    from sim.market.params import MarketParams
    from sim.market.stress import baseline_arrays

    # a fresh compilation (the cached one keeps no assembly) with the kernel's flags, on the
    # argument types of a sweep of configs/default.toml
    cfg = sim.load_config("configs/default.toml", overrides={"simulation.horizon": "1d"}).with_sweep(
        {"position.hedge_ratio": HEDGE_RATIO})
    _, vcfgs = variants(cfg)
    acc = account_args([resolve_hedge(vc) for vc in vcfgs])
    mp = MarketParams.from_config(cfg)
    mk = market_args(mp, baseline_arrays(mp), cfg.report_steps, continuous=True)
    n = cfg.steps + 1
    lanes, _ = al.lane_plan(acc)
    fresh = njit(cache=False, fastmath={"contract"}, error_model="numpy")(al.account_lanes.py_func)
    path = np.full(n, mp.spot)
    fresh(np.empty(al.BUFFER), lanes, acc, mk, path, path, 1.0 / np.vstack([path, path]), path,
          np.zeros(cfg.steps // cfg.funding_every + 1), 0, allocate_outputs(1, len(vcfgs), 0, n, 1), False, 1,
          np.empty(n))
    asm = fresh.inspect_asm(fresh.signatures[0])
    ops = re.findall(r"^\s+(v\w+)\s+([^\n]*)$", asm, flags=re.M)
    packed = [op for op, args in ops if op.endswith("pd") and ("ymm" in args or "zmm" in args)]
    xmm_packed = [op for op, args in ops if op.endswith("pd") and "xmm" in args and "ymm" not in args]
    scalar = [op for op, _ in ops if op.endswith("sd")]
    count = lambda xs, pat: sum(1 for x in xs if re.match(pat, x))  # noqa: E731
    return {
        "widest_register": "zmm" if "zmm" in asm else "ymm" if "ymm" in asm else "xmm",
        "packed_ymm_zmm_double_ops": len(packed), "packed_xmm_double_ops": len(xmm_packed),
        "scalar_double_ops": len(scalar),
        "packed_fma": count(packed, r"vfn?m(add|sub)"), "packed_blend": count(packed, r"vblendv"),
        "packed_max_min": count(packed, r"vm(ax|in)pd"), "packed_div": count(packed, r"vdivpd"),
        "packed_compare": count(packed, r"vcmp"),
    }


def _timed(cfg, paths):
    t0 = time.perf_counter()
    ds = sim.run(cfg, paths=paths, seed=1)
    total = time.perf_counter() - t0
    kernel = float(ds.attrs["wall_time_s"])
    return kernel, total - kernel, total


def main(paths: int = 200_000, reps: int = 3) -> int:
    base = sim.load_config("configs/default.toml")
    swept = base.with_sweep({"position.collateral": COLLATERAL, "position.hedge_ratio": HEDGE_RATIO})
    for cfg in (base, swept):  # compile / load the cache, warm the allocator
        sim.run(cfg, paths=4096, seed=1)
    runs = {"one": [], "sweep": []}
    for _ in range(reps):
        for name, cfg in (("one", base), ("sweep", swept)):
            runs[name].append(_timed(cfg, paths))
    med = {name: [statistics.median(r[k] for r in rs) for k in range(3)] for name, rs in runs.items()}
    steps = base.steps
    ratio = [med["sweep"][k] / med["one"][k] for k in range(3)]
    res = {
        "paths": paths, "steps": steps, "variants": len(COLLATERAL) * len(HEDGE_RATIO), "reps": reps,
        "threads": numba.get_num_threads(), "cpus": os.cpu_count(),
        "one_run_s": dict(zip(("kernel", "summary", "total"), med["one"])),
        "sweep_s": dict(zip(("kernel", "summary", "total"), med["sweep"])),
        "ratio": dict(zip(("kernel", "summary", "total"), ratio)),
        "path_steps_per_s": {name: {"kernel": paths * steps / med[name][0], "total": paths * steps / med[name][2]}
                             for name in med},
        "all_runs_s": runs,
        "lanes_asm": lanes_asm(),
    }
    ps = res["path_steps_per_s"]
    md = (f"**Sweep cost** ({paths:,} paths x {steps} steps, configs/default.toml, 20 variants = collateral "
          f"{len(COLLATERAL)} x hedge ratio {len(HEDGE_RATIO)}; sim.run, {numba.get_num_threads()} threads, "
          f"median of {reps} interleaved)\n\n"
          "| run | kernel (s) | summary (s) | total (s) | path-steps/s, kernel | path-steps/s, total |\n"
          "|---|---:|---:|---:|---:|---:|\n"
          f"| one run | {med['one'][0]:.2f} | {med['one'][1]:.2f} | {med['one'][2]:.2f} | "
          f"{ps['one']['kernel'] / 1e6:.1f} M | {ps['one']['total'] / 1e6:.1f} M |\n"
          f"| 20-variant sweep | {med['sweep'][0]:.2f} | {med['sweep'][1]:.2f} | {med['sweep'][2]:.2f} | "
          f"{ps['sweep']['kernel'] / 1e6:.1f} M | {ps['sweep']['total'] / 1e6:.1f} M |\n"
          f"| sweep / one run | **{ratio[0]:.2f}x** | {ratio[1]:.2f}x | **{ratio[2]:.2f}x** | | |\n\n"
          f"20 separate runs would take about {20 * med['one'][2]:.1f} s (20.00x).\n")
    asm = res["lanes_asm"]
    if asm and "error" not in asm:
        md += (f"\nVectorisation of the lanes pass (`sim.kernel.account_lanes`, compiled code): widest register "
               f"{asm['widest_register']}; {asm['packed_ymm_zmm_double_ops']} packed double instructions on "
               f"ymm/zmm ({asm['packed_fma']} FMA, {asm['packed_blend']} blends, {asm['packed_max_min']} max/min, "
               f"{asm['packed_compare']} compares, {asm['packed_div']} divisions), "
               f"{asm['scalar_double_ops']} scalar.\n")
    print(md)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sweep.json").write_text(json.dumps(res, indent=2))
    (RESULTS / "sweep.md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:])))
