"""The RNG floor: the kernel's own random draws and nothing else.

Same generator as the config's ``simulation.rng``, same ``prange`` over blocks, same count
of variates per path as the full model draws for a config: one price normal, (with a
basis) one basis normal and (continuous monitoring) one exponential per step, one funding
normal per funding interval, and per jump one exponential waiting time plus one normal
size. Under philox the rows are filled exactly as the kernel fills them (the same
vectorised row fillers into a row per stream, one Philox block per jump); under sfc64 one
variate per call from the per-block generators. The ratio kernel / floor says how much
of the kernel's time is arithmetic rather than random number generation.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, prange

from sim.kernel import philox, rng
from sim.config import Config
from sim.market.params import MarketParams

rng_block = rng.BLOCK


@njit(cache=True, parallel=True)
def _draw(g_price, g_funding, g_basis, g_jumps, g_monitor, n_paths, steps, k_f, basis_on, funding_on, jumps_on,
          continuous, jump_rate_dt, sink):
    n_blocks = len(g_price)
    for bi in prange(n_blocks):
        b = np.int64(bi)
        gp = g_price[b]
        gf = g_funding[b]
        gb = g_basis[b]
        gj = g_jumps[b]
        gm = g_monitor[b]
        n_here = min(rng_block, n_paths - b * rng_block)
        acc = 0.0
        for _ in range(n_here):
            next_jump = gj.standard_exponential() / jump_rate_dt if jumps_on else np.inf
            for i in range(1, steps + 1):
                acc += gp.standard_normal()
                if basis_on:
                    acc += gb.standard_normal()
                if continuous:
                    acc += gm.standard_exponential()
                while next_jump <= i:
                    acc += gj.standard_normal()
                    next_jump += gj.standard_exponential() / jump_rate_dt
                if funding_on and i % k_f == 0:
                    acc += gf.standard_normal()
        sink[b] = acc



@njit(cache=True, parallel=True, error_model="numpy")
def _draw_philox(seed, n_paths, steps, k_f, basis_on, funding_on, jumps_on, continuous, jump_rate_dt, sink):
    n_blocks = (n_paths + rng_block - 1) // rng_block
    for bi in prange(n_blocks):
        b = np.int64(bi)
        row = np.empty((4, steps + 5))
        acc = 0.0
        for j in range(min(rng_block, n_paths - b * rng_block)):
            path = b * rng_block + j
            philox.normals_row(seed, rng.PRICE, path, 0, row[0], 1, steps)
            if basis_on:
                philox.normals_row(seed, rng.BASIS, path, 0, row[1], 1, steps)
            if funding_on:
                philox.normals_row(seed, rng.FUNDING, path, 0, row[2], 1, steps // k_f)
            if continuous:
                philox.exponentials_row(seed, rng.MONITOR, path, 0, row[3], 1, steps)
            if jumps_on:
                n = 0
                w = philox.block(seed, rng.JUMPS, path, 0, 0)
                t = philox.exponential(w[0]) / jump_rate_dt
                while t <= steps:
                    acc += philox.normal_pair(w[2], w[3])[0]
                    n += 1
                    w = philox.block(seed, rng.JUMPS, path, 0, n)
                    t += philox.exponential(w[0]) / jump_rate_dt
            acc += row[0, steps] + row[1, steps] + row[2, 1] + row[3, steps]
        sink[b] = acc


def rng_floor(cfg: Config, paths: int, seed: int) -> float:
    """Wall time (s) of the draws alone for ``paths`` paths of ``cfg``."""
    mp = MarketParams.from_config(cfg)
    nb = rng.n_blocks(paths)
    if cfg.simulation.rng == "philox":
        sink = np.zeros(nb)
        t0 = time.perf_counter()
        _draw_philox(np.uint64(seed), paths, mp.steps, mp.funding_every, mp.b_sd > 0, mp.f_sd > 0,
                     mp.jump_rate_dt > 0, cfg.simulation.monitoring == "continuous", max(mp.jump_rate_dt, 1e-300),
                     sink)
        return time.perf_counter() - t0
    t0 = time.perf_counter()
    gens = [rng.block_generators(seed, 0, nb, s) for s in rng.STREAMS]
    sink = np.zeros(nb)
    _draw(*gens, paths, mp.steps, mp.funding_every, mp.b_sd > 0, mp.f_sd > 0,
          mp.jump_rate_dt > 0, cfg.simulation.monitoring == "continuous", max(mp.jump_rate_dt, 1e-300), sink)
    return time.perf_counter() - t0


def variates_per_path(cfg: Config) -> float:
    """Expected number of random variates one path draws."""
    mp = MarketParams.from_config(cfg)
    per_step = 1 + (mp.b_sd > 0) + (cfg.simulation.monitoring == "continuous")
    n = per_step * mp.steps + (mp.f_sd > 0) * (mp.steps // mp.funding_every)
    n += (mp.jump_rate_dt > 0) * (1 + 2 * mp.jump_rate_dt * mp.steps)
    return float(n)
