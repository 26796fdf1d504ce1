"""The fused numba pass: market (index, funding, basis) and hedge accounts, one path at a time.

``simulate_chunk`` takes plain arrays, scalars and per-block random generators, and
writes per-path results into preallocated outputs. Nothing of size paths x steps is ever
stored ("save statistics, not states"): each path keeps its state in local variables,
advances step by step, and leaves only its summary statistics behind.

Order of events at monitoring time t_i = i dt (i = 1..steps), SPEC §3-§4:
 1. the index moves (diffusion + Poisson number of jumps in (t_{i-1}, t_i]), the basis
    takes its exact OU step, the mark is M = S (1 + b); at a funding time the funding
    rate takes its exact OU step over the whole interval (it is only used there);
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

from sim.instruments.perpetual import INVERSE, fee, maintenance_margin, position_value
from sim.market.ou import ou_step
from sim.kernel.rng import BLOCK

SMALL = 0.015625  # |x| below which exp(x) is the degree-6 polynomial (_exp_poly)


class MarketArgs(NamedTuple):
    spot: float
    log_drift: np.ndarray  # (steps + 1,) deterministic log increment of step i (drift; index shocks)
    vol: np.ndarray  # (steps + 1,) sigma sqrt(dt) of step i (times any volatility multiplier)
    jump_rate_dt: float
    model: int  # 0 gbm, 1 merton, 2 kou
    jump_mean: float  # merton
    jump_std: float
    jump_up_prob: float  # kou
    jump_up_mean: float
    jump_down_mean: float
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
    basis_add: np.ndarray  # (steps + 1,) shock added to the basis after step i's OU step
    f_pin: np.ndarray  # (n_funding + 1,) funding pinned at funding time k (NaN: model rate)
    report_steps: np.ndarray  # (R,) int64 steps at which values are reported; the last is `steps`
    continuous: bool  # liquidation checked on the Brownian-bridge maximum of the mark in each step
    antithetic: bool  # path 2k+1 of a block replays path 2k's normal shocks negated
    is_theta: float  # importance sampling: shift of each price shock (in shock std units); 0 = off
    is_log_h: float  # ... applied while the running max log mark is below this level
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

    index_at: np.ndarray  # (n, R) float64, index at the report steps (last: T)
    mark_T: np.ndarray  # (n,) float64
    liquidated: np.ndarray  # (n, V) bool
    liquidation_time: np.ndarray  # (n, V) float32, days, NaN if never
    value_at: np.ndarray  # (n, V, R) USD, stack + hedge account closed at the report steps
    log_weight: np.ndarray  # (n,) log likelihood ratio of the path (0 without importance sampling)
    funding: np.ndarray  # (n, V) margin currency, + received
    funding_usd: np.ndarray  # (n, V) USD valued at the index when received
    fees: np.ndarray  # (n, V) margin currency
    min_margin_level: np.ndarray  # (n, V) min equity / maintenance over checks while open (incl. the liquidating one)
    required_collateral: np.ndarray  # (n, V) margin currency
    max_drawdown: np.ndarray  # (n, V) USD, hedged portfolio
    saved: np.ndarray  # (K, n_save, 4): index, mark, funding rate, equity of variant 0


@njit(cache=True, parallel=True)
def simulate_chunk(first_path, total_paths, g_price, g_funding, g_basis, g_jumps, g_monitor,
                   mk, acc, save_every, save_first, out):
    """Simulate the blocks of one chunk. ``first_path`` is a multiple of BLOCK; generator
    lists hold one generator per block of the chunk, in block order."""
    n_blocks = len(g_price)
    for bi in prange(n_blocks):
        b = np.int64(bi)
        start = b * BLOCK
        n_here = min(BLOCK, total_paths - first_path - start)
        _simulate_block(first_path + start, start, n_here, g_price[b], g_funding[b], g_basis[b],
                        g_jumps[b], g_monitor[b], mk, acc, save_every, save_first, out)


# fused multiply-add contraction (more accurate, +8 % measured): results stay bitwise the
# same across threads, chunks, shards and machines with the same CPU features (x86 since
# 2013 has FMA; a cluster mixing CPUs with and without it would differ in the last bits)
@njit(cache=True, fastmath={"contract"})
def _simulate_block(global_first, local_first, n_paths, gp, gf, gb, gj, gm, mk, acc, save_every, save_first,
                    out):
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
    shocks = np.empty((8, steps + 1))
    eq_path = np.empty(steps // save_every + 1)
    coef = _market_coefficients(mk)
    n_saved_paths = out.saved.shape[0]
    V = acc.kind.shape[0]
    for j in range(n_paths):
        gi = global_first + j
        li = local_first + j
        mirror = mk.antithetic and (j % 2 == 1)  # blocks start at even paths: pairs never straddle
        out.log_weight[li] = _market_path(gp, gf, gb, gj, gm, mk, coef, s_path, m_path, c_path, f_path,
                                          shocks, mirror)
        for r in range(mk.report_steps.shape[0]):
            out.index_at[li, r] = s_path[mk.report_steps[r]]
        out.mark_T[li] = m_path[steps]
        si = gi - save_first  # row in out.saved (paths save_first, save_first + 1, ...)
        save = 0 <= si < n_saved_paths
        _reciprocals(m_path, c_path, inv)
        for v in range(V):
            _account_path(v, acc, mk, s_path, m_path, c_path, inv, f_path, li, out, save and v == 0, save_every,
                          eq_path)
        if save:
            for k in range(steps // save_every + 1):
                i = k * save_every
                out.saved[si, k, 0] = s_path[i]
                out.saved[si, k, 1] = m_path[i]
                out.saved[si, k, 2] = f_path[i // mk.funding_every]
                out.saved[si, k, 3] = eq_path[k]


@njit(cache=True)
def _market_coefficients(mk):
    """Loadings of the correlated shocks (see the comment in ``_market_path``)."""
    c10 = mk.chol[1, 0]
    c11 = mk.chol[1, 1]
    r_b = math.sqrt(mk.chol[2, 1] ** 2 + mk.chol[2, 2] ** 2)
    c2u = mk.chol[2, 1] / r_b if r_b > 0.0 else 0.0  # loading of e2 on u
    w_sq = 0.0
    for w in mk.f_w:
        w_sq += w * w
    f_u = c11 * c2u  # loading of the funding innovation on sum_j w_j u_j
    f_rest_sd = math.sqrt(max(0.0, mk.f_sd * mk.f_sd - (c10 * c10 + f_u * f_u) * w_sq))
    return c10, mk.chol[2, 0], r_b, f_u, f_rest_sd


@njit(cache=True, inline="always")
def _market_path(gp, gf, gb, gj, gm, mk, coef, s_path, m_path, c_path, f_path, shocks, mirror):
    """Index S, mark M = S (1 + b) and checked mark at every step; funding f at every
    funding time (f_path[k] = rate at t_k, before clamping). Returns the path's log
    likelihood ratio (importance sampling; 0 otherwise).

    The basis draws one normal u per step for its part orthogonal to the price,
    c21 e2 + c22 e3 = r u. The funding innovation over an interval needs sum_j w_j e2_j;
    given the u_j it is (c21 / r) sum_j w_j u_j plus an independent rest, which joins the
    one fresh normal funding draws per interval. Two normals per step, exact for any
    correlation matrix.

    Continuous monitoring: given the step's end points, the maximum of the log mark within
    the step is that of a Brownian bridge with the step's variance, sampled exactly by
    inversion, m = (x0 + x1 + sqrt((x1 - x0)^2 + 2 v E)) / 2 with E ~ Exp(1), i.e. the higher
    end point plus (sqrt(d^2 + 2 v E) - |d|) / 2; jumps at the end of the step. The account
    checks liquidation on this maximum (the worst mark for a short), so a crossing between
    two steps is not missed.

    Layout for speed: every variate of the path is drawn first, each stream in its own
    loop (the same sequence per stream as drawing step by step); the index's diffusion
    moves and their exp are computed for all steps in a branch-free loop that vectorises
    (``_diffusion_growth``); the sequential loop then carries S *= growth (x exp(jump)),
    the basis and funding recursions and the jumps; the bridge maxima come last in another
    vectorised loop (``_bridge_maxima``). Importance sampling stops the tilt at the first
    step whose checked mark reaches the liquidation price (a stopping time, so the likelihood
    ratio stays exact).
    """
    c10, c20, r_b, f_u, f_rest_sd = coef
    steps = mk.steps
    k_f = mk.funding_every
    jumps_on = mk.jump_rate_dt > 0.0
    funding_on = mk.f_sd > 0.0
    basis_on = mk.b_sd > 0.0
    sign = -1.0 if mirror else 1.0
    theta = mk.is_theta
    log_w = 0.0
    tilting = theta != 0.0
    s = mk.spot
    bs = mk.b0
    f = mk.f0
    s_path[0] = mk.spot
    m_path[0] = mk.spot * (1.0 + bs)
    c_path[0] = m_path[0]
    f_path[0] = f
    b_prev = bs
    is_h = math.exp(mk.is_log_h) if tilting else np.inf
    acc1 = 0.0  # weighted price shocks of the current funding interval
    acc2 = 0.0  # weighted basis-only shocks u of the current funding interval
    k = 0  # step within the funding interval
    n_f = 0
    # the path's variates first, each stream in its own tight loop (same order per stream
    # as drawing them step by step; the arithmetic loop below then makes no RNG calls
    # except for jumps); an antithetic odd path reuses its partner's normals, negated
    z_row = shocks[0]
    u_row = shocks[1]
    f_row = shocks[2]
    e_row = shocks[3]
    d_row = shocks[4]
    hi_row = shocks[5]
    x_row = shocks[6]
    g_row = shocks[7]
    if not mirror:
        for i in range(1, steps + 1):
            z_row[i] = gp.standard_normal()
        if basis_on:
            for i in range(1, steps + 1):
                u_row[i] = gb.standard_normal()
        else:
            u_row[:] = 0.0
        if funding_on:
            for n in range(1, steps // k_f + 1):
                f_row[n] = gf.standard_normal()
    if mk.continuous:
        for i in range(1, steps + 1):
            e_row[i] = gm.standard_exponential()
    # the index's diffusion moves and their exp, for every step at once (SIMD); under
    # importance sampling with the tilt on (the loop below redoes the steps after it stops)
    _diffusion_growth(mk, sign, z_row, x_row, g_row)
    next_jump = gj.standard_exponential() / mk.jump_rate_dt if jumps_on else np.inf
    for i in range(1, steps + 1):
        z = sign * z_row[i]
        u = sign * u_row[i]
        e1 = z
        if tilting:  # importance sampling: shift the price shock, carry the likelihood ratio
            e1 = z + theta
            log_w += -theta * z - 0.5 * theta * theta
        if tilting or theta == 0.0:
            dlog = x_row[i]
            growth = g_row[i]
        else:  # the tilt has stopped: the model's own move
            dlog = mk.log_drift[i] + mk.vol[i] * e1
            growth = _exp_small(dlog)
        jump = 0.0
        while next_jump <= i:  # exact Poisson count of jumps in (i-1, i]
            if mk.model == 2:  # kou: asymmetric double exponential
                if gj.random() < mk.jump_up_prob:
                    jump += mk.jump_up_mean * gj.standard_exponential()
                else:
                    jump -= mk.jump_down_mean * gj.standard_exponential()
            else:
                jump += mk.jump_mean + mk.jump_std * gj.standard_normal()
            next_jump += gj.standard_exponential() / mk.jump_rate_dt
        s *= growth if jump == 0.0 else growth * math.exp(jump)
        bs = ou_step(bs, mk.b_mean, mk.b_a, mk.b_sd, c20 * e1 + r_b * u) + mk.basis_add[i]
        s_path[i] = s
        m = s * (1.0 + bs)
        m_path[i] = m
        if mk.continuous:  # the bridge maximum is drawn after the loop (``_bridge_maxima``)
            d_row[i] = dlog + (bs - b_prev)
            b_prev = bs
            m_pre = m if jump == 0.0 else m * math.exp(-jump)  # jumps at the end of the step
            hi_row[i] = max(m_path[i - 1], m_pre)
        else:
            c_path[i] = m
        if tilting:  # past the threshold (the step's checked mark): back to the model's own measure
            top = m
            if mk.continuous:  # this step's bridge maximum, as _bridge_maxima will compute it
                top = _bridge_top(mk, c20, i, m, hi_row[i], d_row[i], e_row[i])
            if top >= is_h:
                tilting = False
        if funding_on:
            acc1 += mk.f_w[k] * e1
            acc2 += mk.f_w[k] * u
        k += 1
        if k == k_f:
            k = 0
            n_f += 1
            zf = 0.0
            if funding_on:
                r = sign * f_row[n_f]
                zf = c10 * acc1 + f_u * acc2 + f_rest_sd * r
                acc1 = 0.0
                acc2 = 0.0
            f = mk.f_mean + (f - mk.f_mean) * mk.f_a + zf
            if not math.isnan(mk.f_pin[n_f]):  # stress: funding pinned (the state too)
                f = mk.f_pin[n_f]
            f_path[n_f] = f
    if mk.continuous:
        _bridge_maxima(mk, c20, m_path, c_path, d_row, hi_row, e_row)
    return log_w


@njit(cache=True, inline="always")
def _diffusion_growth(mk, sign, z_row, x_row, g_row):
    """x = log drift + vol (z + theta) and exp(x) for every step: a branch-free loop with
    the degree-6 polynomial (|x| < 1/64 on hourly steps), then libm's exp for the rare
    larger moves."""
    steps = z_row.shape[0] - 1
    theta = mk.is_theta
    drift = mk.log_drift
    vol = mk.vol
    n_big = 0
    for i in range(1, steps + 1):
        x = drift[i] + vol[i] * (sign * z_row[i] + theta)
        x_row[i] = x
        g_row[i] = _exp_poly(x)
        n_big += abs(x) >= SMALL
    if n_big > 0:
        for i in range(1, steps + 1):
            if abs(x_row[i]) >= SMALL:
                g_row[i] = math.exp(x_row[i])


@njit(cache=True, inline="always")
def _bridge_excess(mk, c20, i, d, e):
    """g = (sqrt(d^2 + 2 v E) - |d|) / 2: how far the bridge maximum of the log mark over
    step i lies above the higher end point, for the step's move d, its variance v (index
    diffusion plus basis noise) and the exponential draw E."""
    vol = mk.vol[i]
    var = vol * vol + mk.b_sd * mk.b_sd + 2.0 * c20 * mk.b_sd * vol
    return 0.5 * (math.sqrt(d * d + 2.0 * var * e) - abs(d))


@njit(cache=True, inline="always")
def _bridge_top(mk, c20, i, m, hi, d, e):
    """The checked mark of step i (see _bridge_maxima), computed on its own: importance
    sampling stops its tilt on it inside the path loop."""
    return max(hi * _exp_small(_bridge_excess(mk, c20, i, d, e)), m)


@njit(cache=True, inline="always")
def _bridge_maxima(mk, c20, m_path, c_path, d_row, hi_row, e_row):
    """Checked mark of every step: the maximum of the Brownian bridge of the log mark over
    the step (jump excluded), the higher end point ``hi_row`` times exp(g) with
    g = (sqrt(d^2 + 2 v E) - |d|) / 2, d the step's move of the log mark. Taking the higher
    end point in prices keeps the maximum >= both end points exactly; d uses
    log(1 + b) ~ b for the basis part (off by about b * db, e.g. 1e-6 for a 0.1 % move,
    which changes g by at most half that). A branch-free loop (SIMD): exp(g) by the
    polynomial, then the rare steps with g >= 1/64 again with libm's exp."""
    steps = m_path.shape[0] - 1
    n_big = 0
    for i in range(1, steps + 1):
        g = _bridge_excess(mk, c20, i, d_row[i], e_row[i])
        c_path[i] = max(hi_row[i] * _exp_poly(g), m_path[i])
        n_big += g >= SMALL
    if n_big > 0:
        for i in range(1, steps + 1):
            g = _bridge_excess(mk, c20, i, d_row[i], e_row[i])
            if g >= SMALL:
                c_path[i] = max(hi_row[i] * math.exp(g), m_path[i])


@njit(cache=True, inline="always")
def _exp_poly(h):
    """exp(h) for |h| < SMALL = 1/64: the degree-6 Taylor polynomial in Estrin form
    (truncation under 1e-16 relative, i.e. libm's exp within rounding). Branch-free, so
    loops over steps that use it vectorise."""
    h2 = h * h
    return (1.0 + h) + h2 * (0.5 + h * (1.0 / 6.0)) + (h2 * h2) * (
        (1.0 / 24.0 + h * (1.0 / 120.0)) + h2 * (1.0 / 720.0))


@njit(cache=True, inline="always")
def _exp_small(h):
    """exp(h): the polynomial for |h| < 1/64, libm beyond."""
    if -SMALL < h < SMALL:
        return _exp_poly(h)
    return math.exp(h)


@njit(cache=True, inline="always")
def _reciprocals(m_path, c_path, inv):
    """1/M and 1/checked M for every step, once per path (a vectorised loop), so the
    inverse accounts of a sweep multiply instead of dividing."""
    inv_m = inv[0]
    inv_c = inv[1]
    for i in range(m_path.shape[0]):
        inv_m[i] = 1.0 / m_path[i]
        inv_c[i] = 1.0 / c_path[i]


@njit(cache=True, inline="always")
def _account_path(v, acc, mk, s_path, m_path, c_path, inv, f_path, li, out, save, save_every, eq_path):
    """One hedge account along one market path; writes its per-path results."""
    steps = mk.steps
    k_f = mk.funding_every
    kind = acc.kind[v]
    size = acc.size[v]
    stack = acc.stack[v]
    collateral = acc.collateral[v]
    cap = acc.funding_cap[v]
    t0 = acc.tier_start[v]
    t1 = acc.tier_end[v]
    inverse = kind == INVERSE
    # branch-free in the contract type: position value size * px (px = 1/M or M), uPnL
    # sgn * (value - entry value), USD value of margin-currency amounts x usd_s (S or 1)
    px = inv[0] if inverse else m_path
    px_c = inv[1] if inverse else c_path
    sgn = 1.0 if inverse else -1.0
    inv_f = 1.0 if inverse else 0.0
    entry = m_path[0]
    fee_rate = acc.fee_rate[v]
    fee_open = fee(kind, size, entry, fee_rate)
    pv_entry = position_value(kind, size, entry)
    flat = t1 - t0 == 1  # one maintenance tier: rate * value - deduction, no search
    mm_rate = acc.tier_rates[t1 - 1]
    mm_ded = acc.tier_deductions[t1 - 1]
    fund_h = 0.0  # cumulative funding of the never-liquidated account (for R)
    fund_usd = 0.0
    fund_liq = 0.0  # funding actually received (frozen at liquidation)
    req = -np.inf
    min_ml = np.inf
    liq = False
    liq_t = np.nan
    equity = collateral - fee_open
    peak = _portfolio_value(kind, stack, equity, s_path[0])
    mdd = 0.0
    if save:
        eq_path[0] = equity
    k = 0
    n_f = 0
    r = 0  # next report time
    n_report = mk.report_steps.shape[0]
    for i in range(1, steps + 1):
        s = s_path[i]
        usd_s = inv_f * s + (1.0 - inv_f)  # S for BTC amounts (inverse), 1 for USD (linear)
        pv = size * px[i]  # position value, margin currency
        # the check uses the worst mark of the step (its end, or the bridge maximum)
        pv_c = size * px_c[i]
        if flat:
            mm = mm_rate * pv_c - mm_ded
        else:
            mm = maintenance_margin(pv_c, acc.tier_limits, acc.tier_rates, acc.tier_deductions, t0, t1)
        # uPnL + funding - open fee: short inverse Q/M - Q/E, short linear qE - qM
        pnl_c = sgn * (pv_c - pv_entry) + fund_h - fee_open
        req = max(req, mm - pnl_c)
        pay = 0.0
        k += 1
        funding_time = k == k_f
        if funding_time:
            k = 0
            n_f += 1
            pay = pv * min(max(f_path[n_f], -cap), cap)
            fund_h += pay
        if not liq:
            eq_c = collateral + pnl_c
            if mm > 0.0 and eq_c < min_ml * mm:
                min_ml = eq_c / mm
            if size > 0.0 and eq_c <= mm:
                liq = True
                liq_t = i * mk.dt_days
                fund_liq = fund_h - pay
                equity = 0.0
            else:
                # equity at the step's end mark, after the funding paid at it
                equity = collateral + sgn * (pv - pv_entry) + fund_h - fee_open
                fund_usd += pay * usd_s
        value = stack * s + equity * usd_s
        peak = max(peak, value)
        mdd = max(mdd, peak - value)
        if save and i % save_every == 0:
            eq_path[i // save_every] = equity
        if r < n_report and i == mk.report_steps[r]:
            # value if the position were closed now: an open one pays the taker fee
            closed = equity - (fee_rate * pv if not liq else 0.0)
            out.value_at[li, v, r] = stack * s + closed * usd_s
            r += 1
    close_fee = 0.0
    if not liq:
        fund_liq = fund_h
        close_fee = fee(kind, size, m_path[steps], fee_rate)
    out.liquidated[li, v] = liq
    out.liquidation_time[li, v] = liq_t
    out.funding[li, v] = fund_liq
    out.funding_usd[li, v] = fund_usd
    out.fees[li, v] = fee_open + close_fee
    out.min_margin_level[li, v] = min_ml if min_ml < np.inf else np.nan
    out.required_collateral[li, v] = req if size > 0.0 else np.nan
    out.max_drawdown[li, v] = mdd


@njit(cache=True)
def replay_accounts(s_path, m_path, c_path, f_path, mk, acc, out):
    """Run every hedge account along one given market path (historical or stress replay)
    with exactly the arithmetic of the simulation; ``out`` holds one path. ``c_path`` is
    the mark checked for liquidation at each step (e.g. the bar's high for a short; pass
    ``m_path`` to check the close)."""
    eq_path = np.empty(1)
    out.log_weight[0] = 0.0
    inv = np.empty((2, m_path.shape[0]))
    _reciprocals(m_path, c_path, inv)
    for v in range(acc.kind.shape[0]):
        _account_path(v, acc, mk, s_path, m_path, c_path, inv, f_path, 0, out, False, 1, eq_path)
    for r in range(mk.report_steps.shape[0]):
        out.index_at[0, r] = s_path[mk.report_steps[r]]
    out.mark_T[0] = m_path[mk.steps]


@njit(cache=True, inline="always")
def _portfolio_value(kind, stack, equity, index):
    """USD value of stack + hedge account: (N + equity) S (inverse) or N S + equity (linear)."""
    if kind == INVERSE:
        return (stack + equity) * index
    return stack * index + equity
