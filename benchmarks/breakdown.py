"""Where a path-step's time goes: ``python -m benchmarks.breakdown [threads] [paths]``.

Timed on configs/default.toml (continuous monitoring, one static account), min of 5 after
a warm-up: the random numbers alone (``benchmarks.rng_floor``, the RNG floor of ``make
bench``), then one numba function over blocks of paths (as the driver) running the market
pass, plus the reciprocals 1/M and 1/checked M, plus the account pass; then
``engine.simulate`` on the same paths. Per path-step and thread, in ns. The four parts use
the kernel's own inlined functions with the generator fixed at compile time; the
difference to ``engine.simulate`` is the cost of the driver's generality (either
generator, managed variants, lanes, the default clock in one compiled function).
"""

from __future__ import annotations

import sys
import time

import numba
import numpy as np
from numba import njit, prange

import sim
from sim import engine
from sim.engine.hedge import account_args, resolve_hedge
from sim.engine.simulate import allocate_outputs, market_args
from sim.kernel.account_pass import account_path
from sim.kernel.market_pass import market_coefficients, market_path, reciprocals
from sim.kernel.rng import BLOCK
from sim.market.params import MarketParams
from sim.market.stress import baseline_arrays

from benchmarks.rng_floor import rng_floor

PARTS = ["Philox draws alone (RNG floor)", "+ market pass", "+ reciprocals", "+ account pass"]


@njit(parallel=True, fastmath={"contract"}, error_model="numpy")
def _run(mode, n_paths, seed, mk, acc, out, sink):
    nb = (n_paths + BLOCK - 1) // BLOCK
    for bi in prange(nb):
        steps = mk.steps
        s_path = np.empty(steps + 1)
        m_path = np.empty(steps + 1)
        c_path = np.empty(steps + 1)
        inv = np.empty((2, steps + 1))
        f_path = np.empty(steps // mk.funding_every + 1)
        shocks = np.empty((8, steps + 5))
        eq = np.empty(1)
        coef = market_coefficients(mk)
        acc_s = 0.0
        for j in range(BLOCK):
            gi = bi * BLOCK + j
            market_path(None, None, None, None, None, mk, coef, s_path, m_path, c_path, f_path, shocks, False, seed,
                        gi, True)
            if mode >= 2:
                reciprocals(m_path, c_path, inv)
            if mode == 3:
                account_path(0, acc, mk, s_path, m_path, c_path, inv, f_path, j, out, False, 1, eq)
            acc_s += c_path[steps]
        sink[bi] = acc_s


def main(threads: int = 2, paths: int = 102_400) -> int:
    cfg = sim.load_config("configs/default.toml")
    mp = MarketParams.from_config(cfg)
    mk = market_args(mp, baseline_arrays(mp), cfg.report_steps, continuous=True)
    acc = account_args([resolve_hedge(cfg)])
    out = allocate_outputs(BLOCK, 1, 0, 1, len(cfg.report_steps))  # rows j of every block (timing only)
    numba.set_num_threads(threads)
    sink = np.zeros(-(-paths // BLOCK))
    rng_floor(cfg, 2 * BLOCK, 0)
    for mode in range(1, 4):
        _run(mode, 2 * BLOCK, np.uint64(1), mk, acc, out, sink)
    engine.simulate(cfg, paths=2 * BLOCK, seed=0)
    times = {k: [] for k in PARTS + ["engine.simulate"]}
    for r in range(5):
        times[PARTS[0]].append(rng_floor(cfg, paths, r + 1))
        for mode in range(1, 4):
            t0 = time.perf_counter()
            _run(mode, paths, np.uint64(r + 1), mk, acc, out, sink)
            times[PARTS[mode]].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        engine.simulate(cfg, paths=paths, seed=r + 1)
        times["engine.simulate"].append(time.perf_counter() - t0)
    print(f"configs/default.toml, continuous monitoring, {paths:,} paths x {cfg.steps} steps, {threads} threads, "
          "min of 5\n\n| part | wall (s) | ns per path-step per thread |\n|---|---:|---:|")
    for name, ts in times.items():
        t = min(ts)
        print(f"| {name} | {t:.3f} | {t / (paths * cfg.steps) * 1e9 * threads:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:])))
