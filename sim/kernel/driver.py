"""The chunk driver: blocks of paths in parallel (``simulate_chunk``), and one given path
through the account pass (``replay_accounts``).

``simulate_chunk`` takes plain arrays, scalars and per-block random generators, and
writes per-path results into preallocated outputs. Nothing of size paths x steps is ever
stored ("save statistics, not states"): each path runs the market pass into small
scratch rows, then every hedge account runs along them and leaves only its summary
statistics behind. All accounts see the same market path (common random numbers).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from sim.kernel.account_lanes import BUFFER, account_lanes, lane_plan
from sim.kernel.account_pass import account_path
from sim.kernel.managed_pass import managed_account_path
from sim.kernel.market_pass import market_coefficients, market_path, reciprocals
from sim.kernel import philox as px
from sim.kernel.rng import BLOCK, DEFAULT


@njit(cache=True, parallel=True)
def simulate_chunk(first_path, total_paths, seed, philox, g_price, g_funding, g_basis, g_jumps, g_monitor,
                   g_default, mk, acc, save_every, save_first, out):
    """Simulate the blocks of one chunk. ``first_path`` is a multiple of BLOCK. With
    ``philox`` (``simulation.rng = "philox"``) every path draws from the counter-based
    streams of ``seed`` at its global index and the generator lists are placeholders;
    otherwise they hold one sfc64 generator per block of the chunk, in block order."""
    n_blocks = len(g_price)
    for bi in prange(n_blocks):
        b = np.int64(bi)
        start = b * BLOCK
        n_here = min(BLOCK, total_paths - first_path - start)
        _simulate_block(first_path + start, start, n_here, seed, philox, g_price[b], g_funding[b], g_basis[b],
                        g_jumps[b], g_monitor[b], g_default[b], mk, acc, save_every, save_first, out)


# fused multiply-add contraction (more accurate, +8 % measured): results stay bitwise the
# same across threads, chunks, shards and machines with the same CPU features (x86 since
# 2013 has FMA; a cluster mixing CPUs with and without it would differ in the last bits);
# numpy's error model (a division by zero gives inf, no exception): the branch-free random
# number transforms vectorise only without Python's zero-division check
@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def _simulate_block(global_first, local_first, n_paths, seed, philox, gp, gf, gb, gj, gm, gd, mk, acc, save_every,
                    save_first, out):
    """Per path: one market pass writes the index, mark and funding path into small scratch
    buffers (a few KB, cache-resident); then each hedge account runs along them with its
    state in local variables. All accounts see the same market path (common random numbers)."""
    steps = mk.steps
    n_funding = steps // mk.funding_every
    s_path = np.empty(steps + 1)
    m_path = np.empty(steps + 1)
    c_path = np.empty(steps + 1)  # mark checked for liquidation: bridge maximum within the step
    inv = np.empty((2, steps + 1))  # 1 / mark and 1 / checked mark, shared by all accounts
    f_path = np.empty(n_funding + 1)
    # per-step rows of one path (see _market_path): price, basis and funding normals (kept
    # for the antithetic partner), bridge exponentials, bridge moves and higher end points,
    # diffusion moves and their exp
    shocks = np.empty((8, steps + 5))  # 4 spare slots: counter-based rows are filled four at a time
    eq_path = np.empty(steps // save_every + 1)
    coef = market_coefficients(mk)
    lanes, in_lanes = lane_plan(acc)  # static flat-rate variants of a sweep: advanced together (SIMD)
    lane_buf = np.empty(BUFFER)
    n_saved_paths = out.saved.shape[0]
    V = acc.kind.shape[0]
    for j in range(n_paths):
        gi = global_first + j
        li = local_first + j
        mirror = mk.antithetic and (j % 2 == 1)  # blocks start at even paths: pairs never straddle
        out.log_weight[li] = market_path(gp, gf, gb, gj, gm, mk, coef, s_path, m_path, c_path, f_path,
                                          shocks, mirror, seed, gi, philox)
        for r in range(mk.report_steps.shape[0]):
            out.index_at[li, r] = s_path[mk.report_steps[r]]
        out.mark_T[li] = m_path[steps]
        si = gi - save_first  # row in out.saved (paths save_first, save_first + 1, ...)
        save = 0 <= si < n_saved_paths
        reciprocals(m_path, c_path, inv)
        default_e = np.inf  # the exchange's default clock
        if acc.default_on:
            default_e = px.exponential(px.block(seed, DEFAULT, gi, 0, 0)[0]) if philox else gd.standard_exponential()
        for v in range(V):
            if acc.managed[v]:
                managed_account_path(v, acc, mk, s_path, m_path, c_path, inv, f_path, default_e, li, out,
                                     save and v == 0, save_every, eq_path)
            elif not in_lanes[v]:
                account_path(v, acc, mk, s_path, m_path, c_path, inv, f_path, li, out, save and v == 0,
                             save_every, eq_path)
        if lanes.shape[0] > 0:
            account_lanes(lane_buf, lanes, acc, mk, s_path, m_path, inv, c_path, f_path, li, out, save, save_every,
                          eq_path)
        if save:
            for k in range(steps // save_every + 1):
                i = k * save_every
                out.saved[si, k, 0] = s_path[i]
                out.saved[si, k, 1] = m_path[i]
                out.saved[si, k, 2] = f_path[i // mk.funding_every]
                out.saved[si, k, 3] = eq_path[k]


@njit(cache=True)
def replay_accounts(s_path, m_path, c_path, f_path, mk, acc, out):
    """Run every hedge account along one given market path (historical or stress replay)
    with exactly the arithmetic of the simulation; ``out`` holds one path. ``c_path`` is
    the mark checked for liquidation at each step (e.g. the bar's high for a short; pass
    ``m_path`` to check the close)."""
    eq_path = np.empty(1)
    out.log_weight[0] = 0.0
    inv = np.empty((2, m_path.shape[0]))
    reciprocals(m_path, c_path, inv)
    for v in range(acc.kind.shape[0]):
        if acc.managed[v]:  # no default clock on a given path
            managed_account_path(v, acc, mk, s_path, m_path, c_path, inv, f_path, np.inf, 0, out, False, 1, eq_path)
        else:
            account_path(v, acc, mk, s_path, m_path, c_path, inv, f_path, 0, out, False, 1, eq_path)
    for r in range(mk.report_steps.shape[0]):
        out.index_at[0, r] = s_path[mk.report_steps[r]]
    out.mark_T[0] = m_path[mk.steps]
