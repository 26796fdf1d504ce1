"""The market pass: one path of index, mark, checked mark and funding per call.

Order of events in step i (from t_{i-1} to t_i = i dt):
 1. the model's step moves: the index's diffusion move (a normal per step), Poisson jumps
    in (t_{i-1}, t_i] (``jump_size``); the basis takes its exact OU step and the mark is
    M = S (1 + b); at a funding time the funding rate takes its exact OU step over the
    whole interval (it is only used there);
 2. with continuous monitoring, the mark checked for liquidation is the maximum of the
    Brownian bridge of the log mark within the step (``bridge_maxima``), or for the
    bootstrap the bar's recorded high (``sim.market.bootstrap.checked_marks``).

Where a price model produces its step's moves: ``market_path`` draws every variate of the
path first (one loop per stream), turns the price normals into log moves and growth
factors (``diffusion_growth``) and adds jumps in the sequential loop. A model that
resamples recorded bars instead of drawing normals replaces those rows (z_row, x_row,
g_row) and the checked mark of each step; the account pass never sees the difference.
The bootstrap does so (``sim.market.bootstrap.fill_path``): z_row holds the bar's
standardised return (the price part of the correlated funding and basis shocks), e_row
the exp of its high excursion; it draws no price normals and no bridge exponentials.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.kernel import philox as px
from sim.kernel.rng import BASIS, FUNDING, JUMPS, MONITOR, PRICE
from sim.market import bootstrap, kou, merton
from sim.market.ou import ou_step

SMALL = 0.015625  # |x| below which exp(x) is the degree-6 polynomial (exp_poly)


@njit(cache=True, inline="always")
def jump_size(gen, mk):
    """One log jump of the configured model (the registry's ``CODE``): the one kernel line
    per jump model. Models without jumps never get here (their jump rate is zero)."""
    if mk.model == kou.CODE:
        return kou.draw_jump(gen, mk)
    return merton.draw_jump(gen, mk)


@njit(cache=True, inline="always")
def jump_of(w, mk):
    """One log jump from the words of its Philox block (``w[0]`` is the waiting time):
    u from w[1], a normal from w[2] and w[3], an exponential from w[2] (a model uses
    either the normal or the exponential, so sharing w[2] keeps its variates independent)."""
    z = px.normal_pair(w[2], w[3])[0]
    if mk.model == kou.CODE:
        return kou.jump_of(px.uniform(w[1]), z, px.exponential(w[2]), mk)
    return merton.jump_of(px.uniform(w[1]), z, px.exponential(w[2]), mk)


@njit(cache=True)
def market_coefficients(mk):
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
def market_path(gp, gf, gb, gj, gm, mk, coef, s_path, m_path, c_path, f_path, shocks, mirror, seed, path, philox):
    """Index S, mark M = S (1 + b) and checked mark at every step; funding f at every
    funding time (f_path[k] = rate at t_k, before clamping). Returns the path's log
    likelihood ratio (importance sampling; 0 otherwise).

    Random numbers: with ``philox`` the path's rows come from the counter-based streams
    of (``seed``, stream) at global path index ``path`` (``sim.kernel.philox``, every row a
    vectorised loop; the jumps take one Philox block per jump); otherwise from the sfc64
    generators ``gp``..``gm`` of the path's block, drawn path after path. ``shocks`` rows
    have 4 spare slots at the end (rows are filled four variates at a time).

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
    z_row = shocks[0, :steps + 1]
    u_row = shocks[1, :steps + 1]
    f_row = shocks[2, :steps + 1]
    e_row = shocks[3, :steps + 1]
    d_row = shocks[4, :steps + 1]
    hi_row = shocks[5, :steps + 1]
    x_row = shocks[6, :steps + 1]
    g_row = shocks[7, :steps + 1]
    boot = mk.model == bootstrap.CODE
    if boot:  # recorded bars from the PRICE stream: standardised returns, moves, exp, high factors
        if philox:  # a uniform (bar) and an exponential (block length) per step, in rows the loop overwrites
            px.uniforms_row(seed, PRICE, path, 0, shocks[4], 1, steps)
            px.exponentials_row(seed, PRICE, path, 1, shocks[5], 1, steps)
            bootstrap.fill_path_from(d_row, hi_row, mk, z_row, x_row, g_row, e_row)
        else:
            bootstrap.fill_path(gp, mk, z_row, x_row, g_row, e_row)
    if not mirror:
        if not boot:
            if philox:
                px.normals_row(seed, PRICE, path, 0, shocks[0], 1, steps)
            else:
                for i in range(1, steps + 1):
                    z_row[i] = gp.standard_normal()
        if basis_on:
            if philox:
                px.normals_row(seed, BASIS, path, 0, shocks[1], 1, steps)
            else:
                for i in range(1, steps + 1):
                    u_row[i] = gb.standard_normal()
        else:
            u_row[:] = 0.0
        if funding_on:
            if philox:
                px.normals_row(seed, FUNDING, path, 0, shocks[2], 1, steps // k_f)
            else:
                for n in range(1, steps // k_f + 1):
                    f_row[n] = gf.standard_normal()
    if mk.continuous and not boot:
        if philox:
            px.exponentials_row(seed, MONITOR, path, 0, shocks[3], 1, steps)
        else:
            for i in range(1, steps + 1):
                e_row[i] = gm.standard_exponential()
    # the index's diffusion moves and their exp, for every step at once (SIMD); under
    # importance sampling with the tilt on (the loop below redoes the steps after it stops)
    if not boot:
        diffusion_growth(mk, sign, z_row, x_row, g_row)
    n_jump = 0  # philox: jump n_jump takes block n_jump of the JUMPS stream (w[0]: its waiting time)
    w = px.block(seed, JUMPS, path, 0, 0)  # (unused under sfc64)
    if not jumps_on:
        next_jump = np.inf
    elif philox:
        next_jump = px.exponential(w[0]) / mk.jump_rate_dt
    else:
        next_jump = gj.standard_exponential() / mk.jump_rate_dt
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
            growth = exp_small(dlog)
        jump = 0.0
        while next_jump <= i:  # exact Poisson count of jumps in (i-1, i]
            if philox:
                jump += jump_of(w, mk)
                n_jump += 1
                w = px.block(seed, JUMPS, path, 0, n_jump)
                next_jump += px.exponential(w[0]) / mk.jump_rate_dt
            else:
                jump += jump_size(gj, mk)
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
                top = bridge_top(mk, c20, i, m, hi_row[i], d_row[i], e_row[i])
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
        if boot:  # the recorded highs instead of the bridge maxima
            bootstrap.checked_marks(s_path, m_path, c_path, e_row)
        else:
            bridge_maxima(mk, c20, m_path, c_path, d_row, hi_row, e_row)
    return log_w


@njit(cache=True, inline="always")
def diffusion_growth(mk, sign, z_row, x_row, g_row):
    """x = log drift + vol (z + theta) and exp(x) for every step: a branch-free loop with
    the degree-6 polynomial (|x| < 1/64 on hourly steps), then libm's exp for the rare
    larger moves."""
    steps = mk.steps
    theta = mk.is_theta
    drift = mk.log_drift
    vol = mk.vol
    n_big = 0
    for i in range(1, steps + 1):
        x = drift[i] + vol[i] * (sign * z_row[i] + theta)
        x_row[i] = x
        g_row[i] = exp_poly(x)
        n_big += abs(x) >= SMALL
    if n_big > 0:
        for i in range(1, steps + 1):
            if abs(x_row[i]) >= SMALL:
                g_row[i] = math.exp(x_row[i])


@njit(cache=True, inline="always")
def bridge_excess(mk, c20, i, d, e):
    """g = (sqrt(d^2 + 2 v E) - |d|) / 2: how far the bridge maximum of the log mark over
    step i lies above the higher end point, for the step's move d, its variance v (index
    diffusion plus basis noise) and the exponential draw E."""
    vol = mk.vol[i]
    var = vol * vol + mk.b_sd * mk.b_sd + 2.0 * c20 * mk.b_sd * vol
    return 0.5 * (math.sqrt(d * d + 2.0 * var * e) - abs(d))


@njit(cache=True, inline="always")
def bridge_top(mk, c20, i, m, hi, d, e):
    """The checked mark of step i (see _bridge_maxima), computed on its own: importance
    sampling stops its tilt on it inside the path loop."""
    return max(hi * exp_small(bridge_excess(mk, c20, i, d, e)), m)


@njit(cache=True, inline="always")
def bridge_maxima(mk, c20, m_path, c_path, d_row, hi_row, e_row):
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
        g = bridge_excess(mk, c20, i, d_row[i], e_row[i])
        c_path[i] = max(hi_row[i] * exp_poly(g), m_path[i])
        n_big += g >= SMALL
    if n_big > 0:
        for i in range(1, steps + 1):
            g = bridge_excess(mk, c20, i, d_row[i], e_row[i])
            if g >= SMALL:
                c_path[i] = max(hi_row[i] * math.exp(g), m_path[i])


@njit(cache=True, inline="always")
def exp_poly(h):
    """exp(h) for |h| < SMALL = 1/64: the degree-6 Taylor polynomial in Estrin form
    (truncation under 1e-16 relative, i.e. libm's exp within rounding). Branch-free, so
    loops over steps that use it vectorise."""
    h2 = h * h
    return (1.0 + h) + h2 * (0.5 + h * (1.0 / 6.0)) + (h2 * h2) * (
        (1.0 / 24.0 + h * (1.0 / 120.0)) + h2 * (1.0 / 720.0))


@njit(cache=True, inline="always")
def exp_small(h):
    """exp(h): the polynomial for |h| < 1/64, libm beyond."""
    if -SMALL < h < SMALL:
        return exp_poly(h)
    return math.exp(h)


@njit(cache=True, inline="always")
def reciprocals(m_path, c_path, inv):
    """1/M and 1/checked M for every step, once per path (a vectorised loop), so the
    inverse accounts of a sweep multiply instead of dividing."""
    inv_m = inv[0]
    inv_c = inv[1]
    for i in range(m_path.shape[0]):
        inv_m[i] = 1.0 / m_path[i]
        inv_c[i] = 1.0 / c_path[i]
