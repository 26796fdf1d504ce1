"""The account pass of a sweep in SIMD lanes: the static hedge variants of a sweep advance
together along one market path, step by step (structure of arrays over variants), so
that the compiler vectorises across variants.

``account_path`` (``sim.kernel.account_pass``) runs one account along a whole path with
its state in registers and branches on the account's state; that is the fastest way to
run one account, but a 20-variant sweep then costs 20 sequential passes. Here, at each
step, one inner loop runs over the variants (the "lanes") with their state in rows of a
small buffer (a few KB, cache-resident, allocated once per block of paths by the driver)
and no branch on a lane's state: liquidation, the margin-level minimum and the frozen
funding are selects. What is uniform across lanes (funding times, report steps, the
saved equity path) stays a branch of the step loop.

The arithmetic is that of ``account_path``, operation for operation and in the same
order, so every variant's results are bitwise those of the per-variant pass (checked by
tests/kernel/test_lanes.py and the sweep tests); both are compiled with FMA contraction
(``fastmath={"contract"}``) and numpy's error model, as ``_simulate_block`` is.

Lanes take the plain static accounts with a flat maintenance rate (one tier); tiered
tables and managed accounts keep their own passes (``lane_plan``). Sweeps with fewer than
``MIN_LANES`` such variants keep the per-variant pass too (one account is fastest alone).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.instruments.perpetual import INVERSE, fee, position_value
from sim.kernel.account_pass import portfolio_value

STRIDE = 64  # lanes per call (a buffer row); a sweep with more lane variants makes several calls
MIN_LANES = 2  # fewer lane variants than this run the per-variant pass
# buffer rows of STRIDE lanes: per-lane constants, then two copies of the per-lane state. A step
# reads one copy and writes the other (ping-pong), so no select ever stores back the value it
# loaded from the same place: the compiler would turn that into a masked store, which costs ten
# times a plain one on x86. Rows at multiples of STRIDE: the compiler groups each copy's rows
# and the constants' rows, so the lanes loop vectorises behind two overlap checks per step.
INV_F = 0  # 1.0 inverse, 0.0 linear
ONE_M_INV_F = 1
SIZE = 2
STACK = 3
COLL = 4
CAP = 5
FEE_RATE = 6
MM_RATE = 7
MM_DED = 8
FEE_OPEN = 9
PV_ENTRY = 10
SGN = 11
N_CONST = 12
# state rows, relative to a copy
FUND_H = 0  # cumulative funding of the never-liquidated account
FUND_USD = 1
FUND_LIQ = 2  # funding received until the liquidation
REQ = 3
MIN_ML = 4
LIQ_STEP = 5  # step of the liquidation (0.0: open)
EQUITY = 6
PEAK = 7
MDD = 8
N_STATE = 9
STATE_A = N_CONST * STRIDE  # first copy of the state (read at odd steps)
STATE_B = (N_CONST + N_STATE) * STRIDE  # second copy (read at even steps)
BUFFER = (N_CONST + 2 * N_STATE) * STRIDE


@njit(cache=True)
def lane_plan(acc):
    """Variants that run in lanes (static, flat maintenance rate), in order, and a mask of
    them over all variants; no lanes when fewer than MIN_LANES qualify."""
    V = acc.kind.shape[0]
    member = np.zeros(V, dtype=np.bool_)
    n = 0
    for v in range(V):
        if not acc.managed[v] and acc.tier_end[v] - acc.tier_start[v] == 1:
            member[v] = True
            n += 1
    if n < MIN_LANES:
        member[:] = False
        return np.empty(0, dtype=np.int64), member
    lanes = np.empty(n, dtype=np.int64)
    n = 0
    for v in range(V):
        if member[v]:
            lanes[n] = v
            n += 1
    return lanes, member


@njit(cache=True, fastmath={"contract"}, error_model="numpy")
def account_lanes(buf, lanes, acc, mk, s_path, m_path, inv, c_path, f_path, li, out, save, save_every, eq_path):
    """Every variant of ``lanes`` along one market path, STRIDE lanes per pass; writes their
    per-path results as ``account_path`` does. ``save``: variant 0's equity path goes to
    ``eq_path`` (variant 0 must then be a lane)."""
    for first in range(0, lanes.shape[0], STRIDE):
        _lanes_pass(buf, lanes[first:first + STRIDE], acc, mk, s_path, m_path, inv, c_path, f_path, li, out,
                    save and lanes[first] == 0, save_every, eq_path)


@njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _lanes_pass(b, lanes, acc, mk, s_path, m_path, inv, c_path, f_path, li, out, save, save_every, eq_path):
    n = lanes.shape[0]
    n_pad = (n + 3) // 4 * 4  # whole AVX2 vectors; padding lanes repeat the first lane and are never written out
    steps = mk.steps
    entry = m_path[0]
    s0 = s_path[0]
    for l in range(n_pad):
        v = lanes[l if l < n else 0]
        kind = acc.kind[v]
        size = acc.size[v]
        stack = acc.stack[v]
        collateral = acc.collateral[v]
        fee_rate = acc.fee_rate[v]
        inverse = kind == INVERSE
        b[INV_F * STRIDE + l] = 1.0 if inverse else 0.0
        b[ONE_M_INV_F * STRIDE + l] = 1.0 - (1.0 if inverse else 0.0)
        b[SIZE * STRIDE + l] = size
        b[STACK * STRIDE + l] = stack
        b[COLL * STRIDE + l] = collateral
        b[CAP * STRIDE + l] = acc.funding_cap[v]
        b[FEE_RATE * STRIDE + l] = fee_rate
        b[MM_RATE * STRIDE + l] = acc.tier_rates[acc.tier_end[v] - 1]
        b[MM_DED * STRIDE + l] = acc.tier_deductions[acc.tier_end[v] - 1]
        fee_open = fee(kind, size, entry, fee_rate)
        b[FEE_OPEN * STRIDE + l] = fee_open
        b[PV_ENTRY * STRIDE + l] = position_value(kind, size, entry)
        b[SGN * STRIDE + l] = 1.0 if inverse else -1.0
        b[STATE_A + FUND_H * STRIDE + l] = 0.0
        b[STATE_A + FUND_USD * STRIDE + l] = 0.0
        b[STATE_A + FUND_LIQ * STRIDE + l] = 0.0
        b[STATE_A + REQ * STRIDE + l] = -np.inf
        b[STATE_A + MIN_ML * STRIDE + l] = np.inf
        b[STATE_A + LIQ_STEP * STRIDE + l] = 0.0
        equity = collateral - fee_open
        b[STATE_A + EQUITY * STRIDE + l] = equity
        b[STATE_A + PEAK * STRIDE + l] = portfolio_value(kind, stack, equity, s0)
        b[STATE_A + MDD * STRIDE + l] = 0.0
    if save:
        eq_path[0] = b[STATE_A + EQUITY * STRIDE]
    k = 0  # steps since the last funding time
    n_f = 0  # funding times so far
    r = 0  # next report time
    n_report = mk.report_steps.shape[0]
    inv_m = inv[0]
    inv_c = inv[1]
    for i in range(1, steps + 1):
        wr = STATE_B if i % 2 == 1 else STATE_A  # odd steps read copy A and write B, even steps the reverse
        s = s_path[i]
        m = m_path[i]
        c = c_path[i]
        im = inv_m[i]
        ic = inv_c[i]
        k += 1
        funding_time = k == mk.funding_every
        f = 0.0
        if funding_time:
            k = 0
            n_f += 1
            f = f_path[n_f]
        step = float(i)
        # two copies of the call, so that the state rows are at constant offsets in each
        if i % 2 == 1:
            _advance(b, STATE_A, STATE_B, n_pad, s, m, c, im, ic, funding_time, f, step)
        else:
            _advance(b, STATE_B, STATE_A, n_pad, s, m, c, im, ic, funding_time, f, step)
        if save and i % save_every == 0:
            eq_path[i // save_every] = b[wr + EQUITY * STRIDE]
        if r < n_report and i == mk.report_steps[r]:
            for l in range(n):
                inv_f = b[INV_F * STRIDE + l]
                usd_s = inv_f * s + b[ONE_M_INV_F * STRIDE + l]
                pv = b[SIZE * STRIDE + l] * (im if inv_f > 0.5 else m)
                equity = b[wr + EQUITY * STRIDE + l]
                # value if the position were closed now: an open one pays the taker fee
                closed = equity - (b[FEE_RATE * STRIDE + l] * pv if b[wr + LIQ_STEP * STRIDE + l] == 0.0 else 0.0)
                # as account_path's FMA contraction: its stack * s is shared with the step's value,
                # so the product contracted is closed * usd_s
                out.value_at[li, lanes[l], r] = closed * usd_s + b[STACK * STRIDE + l] * s
            r += 1
    fin = STATE_B if steps % 2 == 1 else STATE_A
    m_T = m_path[steps]
    for l in range(n):
        v = lanes[l]
        size = b[SIZE * STRIDE + l]
        liq = b[fin + LIQ_STEP * STRIDE + l] != 0.0
        fund_liq = b[fin + FUND_LIQ * STRIDE + l]
        close_fee = 0.0
        if not liq:
            fund_liq = b[fin + FUND_H * STRIDE + l]
            close_fee = fee(acc.kind[v], size, m_T, b[FEE_RATE * STRIDE + l])
        min_ml = b[fin + MIN_ML * STRIDE + l]
        req = b[fin + REQ * STRIDE + l]
        out.liquidated[li, v] = liq
        out.liquidation_time[li, v] = int(b[fin + LIQ_STEP * STRIDE + l]) * mk.dt_days if liq else np.nan
        out.funding[li, v] = fund_liq
        out.funding_usd[li, v] = b[fin + FUND_USD * STRIDE + l]
        out.fees[li, v] = b[FEE_OPEN * STRIDE + l] + close_fee
        out.min_margin_level[li, v] = min_ml if min_ml < np.inf else np.nan
        out.required_collateral[li, v] = req if size > 0.0 else np.nan
        out.max_drawdown[li, v] = b[fin + MDD * STRIDE + l]


@njit(cache=True, fastmath={"contract"}, error_model="numpy", inline="always")
def _advance(b, rd, wr, n_pad, s, m, c, im, ic, funding_time, f, step):
    """One step of every lane: ``account_path``'s arithmetic for the step, operation for
    operation, with selects for its branches; state read from copy ``rd`` and written to copy
    ``wr`` (constants at each call, so the compiler sees fixed row offsets)."""
    for l in range(n_pad):
        inv_f = b[INV_F * STRIDE + l]
        inverse = inv_f > 0.5
        size = b[SIZE * STRIDE + l]
        collateral = b[COLL * STRIDE + l]
        sgn = b[SGN * STRIDE + l]
        pv_entry = b[PV_ENTRY * STRIDE + l]
        fee_open = b[FEE_OPEN * STRIDE + l]
        cap = b[CAP * STRIDE + l]
        fund_h = b[rd + FUND_H * STRIDE + l]
        fund_usd = b[rd + FUND_USD * STRIDE + l]
        fund_liq = b[rd + FUND_LIQ * STRIDE + l]
        req = b[rd + REQ * STRIDE + l]
        min_ml = b[rd + MIN_ML * STRIDE + l]
        liq_step = b[rd + LIQ_STEP * STRIDE + l]
        peak = b[rd + PEAK * STRIDE + l]
        mdd = b[rd + MDD * STRIDE + l]
        usd_s = inv_f * s + b[ONE_M_INV_F * STRIDE + l]
        pv = size * (im if inverse else m)
        pv_c = size * (ic if inverse else c)
        mm = b[MM_RATE * STRIDE + l] * pv_c - b[MM_DED * STRIDE + l]
        pnl_c = sgn * (pv_c - pv_entry) + fund_h - fee_open
        b[wr + REQ * STRIDE + l] = max(req, mm - pnl_c)
        pay = pv * min(max(f, -cap), cap) if funding_time else 0.0
        fund_h = fund_h + pay
        b[wr + FUND_H * STRIDE + l] = fund_h
        is_open = liq_step == 0.0
        eq_c = collateral + pnl_c
        lower = is_open & (mm > 0.0) & (eq_c < min_ml * mm)
        b[wr + MIN_ML * STRIDE + l] = eq_c / mm if lower else min_ml
        hit = is_open & (size > 0.0) & (eq_c <= mm)
        stay = is_open & (not hit)
        b[wr + LIQ_STEP * STRIDE + l] = step if hit else liq_step
        b[wr + FUND_LIQ * STRIDE + l] = fund_h - pay if hit else fund_liq
        b[wr + FUND_USD * STRIDE + l] = fund_usd + pay * usd_s if stay else fund_usd
        equity = collateral + sgn * (pv - pv_entry) + fund_h - fee_open if stay else 0.0
        b[wr + EQUITY * STRIDE + l] = equity
        value = b[STACK * STRIDE + l] * s + equity * usd_s
        peak = max(peak, value)
        b[wr + PEAK * STRIDE + l] = peak
        b[wr + MDD * STRIDE + l] = max(mdd, peak - value)
