"""The fused numba pass: market (index, funding, basis) and hedge accounts, one path at a time.

``simulate_chunk`` takes plain arrays, scalars and per-block random generators, and
writes per-path results into preallocated outputs. Nothing of size paths x steps is ever
stored ("save statistics, not states"): each path keeps its state in local variables,
advances step by step, and leaves only its summary statistics behind.

Order of events at monitoring time t_i = i dt (i = 1..steps), SPEC §3-§4:
 1. the index moves (diffusion + Poisson number of jumps in (t_{i-1}, t_i]), funding and
    basis take their exact OU step, the mark is M = S (1 + b);
 2. each open account is checked on the mark: liquidated if equity <= maintenance margin;
 3. if t_i is a funding time, each account still open receives (Q/M) f (inverse, BTC) or
    q M f (linear, USD), with f clamped to the cap;
 4. at t_steps = T an account still open is closed at the mark, paying the taker fee.

``required_collateral`` (SPEC §5) is max_i [mm_i - (uPnL_i + funding_i - open fee)] over
all monitoring times of the *never liquidated* account; it does not depend on the
collateral, so a path is liquidated iff collateral <= required_collateral.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from .account import INVERSE, fee, maintenance_margin, position_value
from .models import ou_step
from .rng import BLOCK


class MarketArgs(NamedTuple):
    spot: float
    log_drift_dt: float
    vol_sqrt_dt: float
    jump_rate_dt: float
    jump_mean: float
    jump_std: float
    f0: float
    f_mean: float
    f_a: float  # funding OU decay over one funding interval
    f_w: np.ndarray  # (funding_every,) weights of the step shocks in the interval's innovation
    f_sd: float  # std of the funding innovation over one interval
    b0: float
    b_mean: float
    b_a: float
    b_sd: float
    chol: np.ndarray  # (3, 3)
    steps: int
    funding_every: int  # steps per funding interval
    dt_days: float


class AccountArgs(NamedTuple):
    """One row per hedge variant (V rows)."""

    kind: np.ndarray  # int64: 0 inverse, 1 linear
    stack: np.ndarray  # BTC held
    collateral: np.ndarray  # margin currency
    size: np.ndarray  # Q USD (inverse) or q BTC (linear)
    fee_rate: np.ndarray
    funding_cap: np.ndarray  # applied rate = clamp(f, -cap, cap)
    tier_start: np.ndarray  # int64: rows of the tier table of this variant
    tier_end: np.ndarray
    tier_limits: np.ndarray  # concatenated tier tables
    tier_rates: np.ndarray
    tier_deductions: np.ndarray


class PathOutputs(NamedTuple):
    """Per-path results for one chunk of paths; variant axis last."""

    index_T: np.ndarray  # (n,) float64
    mark_T: np.ndarray  # (n,) float64
    liquidated: np.ndarray  # (n, V) bool
    liquidation_time: np.ndarray  # (n, V) float32, days, NaN if never
    hedged_value: np.ndarray  # (n, V) float64, USD at T
    funding: np.ndarray  # (n, V) margin currency, + received
    funding_usd: np.ndarray  # (n, V) USD valued at the index when received
    fees: np.ndarray  # (n, V) margin currency
    min_margin_level: np.ndarray  # (n, V) min equity / maintenance over checks while open (incl. the liquidating one)
    required_collateral: np.ndarray  # (n, V) margin currency
    max_drawdown: np.ndarray  # (n, V) USD, hedged portfolio
    saved: np.ndarray  # (K, n_save, 4): index, mark, funding rate, equity of variant 0


@njit(cache=True, parallel=True)
def simulate_chunk(first_path, total_paths, g_price, g_funding, g_basis, g_jumps,
                   mk, acc, save_every, out):
    """Simulate the blocks of one chunk. ``first_path`` is a multiple of BLOCK; generator
    lists hold one generator per block of the chunk, in block order."""
    n_blocks = len(g_price)
    for bi in prange(n_blocks):
        b = np.int64(bi)
        start = b * BLOCK
        n_here = min(BLOCK, total_paths - first_path - start)
        _simulate_block(first_path + start, start, n_here, g_price[b], g_funding[b], g_basis[b],
                        g_jumps[b], mk, acc, save_every, out)


@njit(cache=True)
def _simulate_block(global_first, local_first, n_paths, gp, gf, gb, gj, mk, acc, save_every, out):
    V = acc.kind.shape[0]
    steps = mk.steps
    k_f = mk.funding_every
    jumps_on = mk.jump_rate_dt > 0.0
    funding_on = mk.f_sd > 0.0
    basis_on = mk.b_sd > 0.0
    c10 = mk.chol[1, 0]
    c11 = mk.chol[1, 1]
    c20 = mk.chol[2, 0]
    # The basis draws one normal u per step for its part orthogonal to the price,
    # c21 e2 + c22 e3 = r u. The funding innovation needs sum_j w_j e2_j; given the u_j it
    # is (c21 / r) sum_j w_j u_j plus an independent rest, which joins the one fresh
    # normal funding draws per interval. Two normals per step, exact for any matrix.
    r_b = math.sqrt(mk.chol[2, 1] ** 2 + mk.chol[2, 2] ** 2)
    c2u = mk.chol[2, 1] / r_b if r_b > 0.0 else 0.0  # loading of e2 on u
    w_sq = 0.0
    for w in mk.f_w:
        w_sq += w * w
    f_u = c11 * c2u  # loading of the funding innovation on sum_j w_j u_j
    f_rest_sd = math.sqrt(max(0.0, mk.f_sd * mk.f_sd - (c10 * c10 + f_u * f_u) * w_sq))
    n_saved_paths = out.saved.shape[0]

    fund_h = np.empty(V)  # cumulative funding of the never-liquidated account
    fund_usd = np.empty(V)
    fund_liq = np.empty(V)  # funding actually received (frozen at liquidation)
    fee_open = np.empty(V)
    q_over_e = np.empty(V)  # Q/E (inverse) or q E (linear): position value at entry
    req = np.empty(V)
    min_ml = np.empty(V)
    peak = np.empty(V)
    mdd = np.empty(V)
    equity = np.empty(V)
    liq = np.empty(V, dtype=np.bool_)
    liq_t = np.empty(V)

    log_s0 = math.log(mk.spot)
    entry = mk.spot * (1.0 + mk.b0)
    for v in range(V):
        fee_open[v] = fee(acc.kind[v], acc.size[v], entry, acc.fee_rate[v])
        q_over_e[v] = position_value(acc.kind[v], acc.size[v], entry)

    for j in range(n_paths):
        gi = global_first + j
        li = local_first + j
        log_s = log_s0
        s = mk.spot
        f = mk.f0
        bs = mk.b0
        mark = entry
        acc1 = 0.0  # weighted price shocks of the current funding interval
        acc2 = 0.0  # weighted basis-only shocks u of the current funding interval
        k = 0  # step within the funding interval
        next_jump = gj.standard_exponential() / mk.jump_rate_dt if jumps_on else np.inf
        save = gi < n_saved_paths
        for v in range(V):
            fund_h[v] = 0.0
            fund_usd[v] = 0.0
            fund_liq[v] = 0.0
            req[v] = -np.inf
            min_ml[v] = np.inf
            liq[v] = False
            liq_t[v] = np.nan
            equity[v] = acc.collateral[v] - fee_open[v]
            peak[v] = _portfolio_value(acc.kind[v], acc.stack[v], equity[v], s)
            mdd[v] = 0.0
        if save:
            _save_point(out.saved, gi, 0, s, mark, f, equity[0])

        for i in range(1, steps + 1):
            # -- market: index, basis every step; funding at the end of its interval
            e1 = gp.standard_normal()
            dlog = mk.log_drift_dt + mk.vol_sqrt_dt * e1
            while next_jump <= i:  # exact Poisson count of jumps in (i-1, i]
                dlog += mk.jump_mean + mk.jump_std * gj.standard_normal()
                next_jump += gj.standard_exponential() / mk.jump_rate_dt
            log_s += dlog
            s = math.exp(log_s)
            u = gb.standard_normal() if basis_on else 0.0
            bs = ou_step(bs, mk.b_mean, mk.b_a, mk.b_sd, c20 * e1 + r_b * u)
            mark = s * (1.0 + bs)
            funding_time = False
            if funding_on:
                acc1 += mk.f_w[k] * e1
                acc2 += mk.f_w[k] * u
            k += 1
            if k == k_f:
                funding_time = True
                k = 0
                if funding_on:
                    z = c10 * acc1 + f_u * acc2 + f_rest_sd * gf.standard_normal()
                    f = mk.f_mean + (f - mk.f_mean) * mk.f_a + z
                    acc1 = 0.0
                    acc2 = 0.0
                else:
                    f = mk.f_mean + (f - mk.f_mean) * mk.f_a

            # -- hedge accounts on this mark
            inv_mark = 1.0 / mark
            for v in range(V):
                kind = acc.kind[v]
                size = acc.size[v]
                pv = size * inv_mark if kind == INVERSE else size * mark  # position value
                mm = maintenance_margin(pv, acc.tier_limits, acc.tier_rates, acc.tier_deductions,
                                        acc.tier_start[v], acc.tier_end[v])
                # uPnL + funding - open fee: short inverse Q/M - Q/E, short linear qE - qM
                pnl = (pv - q_over_e[v] if kind == INVERSE else q_over_e[v] - pv) + fund_h[v] - fee_open[v]
                if mm - pnl > req[v]:
                    req[v] = mm - pnl
                pay = 0.0
                if funding_time:
                    pay = pv * min(max(f, -acc.funding_cap[v]), acc.funding_cap[v])
                    fund_h[v] += pay
                if not liq[v]:
                    eq = acc.collateral[v] + pnl
                    if mm > 0.0 and eq < min_ml[v] * mm:
                        min_ml[v] = eq / mm
                    if size > 0.0 and eq <= mm:
                        liq[v] = True
                        liq_t[v] = i * mk.dt_days
                        fund_liq[v] = fund_h[v] - pay
                        equity[v] = 0.0
                    else:
                        equity[v] = eq + pay
                        if funding_time:
                            fund_usd[v] += pay * s if kind == INVERSE else pay
                value = _portfolio_value(kind, acc.stack[v], equity[v], s)
                if value > peak[v]:
                    peak[v] = value
                elif peak[v] - value > mdd[v]:
                    mdd[v] = peak[v] - value
            if save and i % save_every == 0:
                _save_point(out.saved, gi, i // save_every, s, mark, f, equity[0])

        out.index_T[li] = s
        out.mark_T[li] = mark
        for v in range(V):
            close_fee = 0.0
            if not liq[v]:
                fund_liq[v] = fund_h[v]
                close_fee = fee(acc.kind[v], acc.size[v], mark, acc.fee_rate[v])
            eq_T = equity[v] - close_fee if not liq[v] else 0.0
            out.liquidated[li, v] = liq[v]
            out.liquidation_time[li, v] = liq_t[v]
            out.hedged_value[li, v] = _portfolio_value(acc.kind[v], acc.stack[v], eq_T, s)
            out.funding[li, v] = fund_liq[v]
            out.funding_usd[li, v] = fund_usd[v]
            out.fees[li, v] = fee_open[v] + close_fee
            out.min_margin_level[li, v] = min_ml[v] if min_ml[v] < np.inf else np.nan
            out.required_collateral[li, v] = req[v] if acc.size[v] > 0.0 else np.nan
            out.max_drawdown[li, v] = mdd[v]


@njit(cache=True, inline="always")
def _portfolio_value(kind, stack, equity, index):
    """USD value of stack + hedge account: (N + equity) S (inverse) or N S + equity (linear)."""
    if kind == INVERSE:
        return (stack + equity) * index
    return stack * index + equity


@njit(cache=True, inline="always")
def _save_point(saved, path, k, s, mark, f, equity):
    saved[path, k, 0] = s
    saved[path, k, 1] = mark
    saved[path, k, 2] = f
    saved[path, k, 3] = equity
