"""The account pass: one hedge account along one market path, all in local variables.

At each monitoring time t_i (docs/model.md, "The hedge account"):
 1. the account is checked on the step's checked mark (its end, or the bridge maximum):
    liquidated if equity <= maintenance margin;
 2. if t_i is a funding time, an account still open receives (Q/M) f (inverse, BTC) or
    q M f (linear, USD), with f clamped to the cap;
 3. at t_steps = T an account still open is closed at the mark, paying the taker fee.

``required_collateral`` is max_i [mm_i - (uPnL_i + funding_i - open fee)] over all
monitoring times of the *never liquidated* account; it does not depend on the
collateral, so a path is liquidated iff collateral <= required_collateral.

Margin policies (``sim.policies``) act here: at each check, before the liquidation test,
a policy may move collateral in or out of the account; today no policy is applied.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.instruments.perpetual import INVERSE, fee, maintenance_margin, position_value


@njit(cache=True, inline="always")
def account_path(v, acc, mk, s_path, m_path, c_path, inv, f_path, li, out, save, save_every, eq_path):
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
    peak = portfolio_value(kind, stack, equity, s_path[0])
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


@njit(cache=True, inline="always")
def portfolio_value(kind, stack, equity, index):
    """USD value of stack + hedge account: (N + equity) S (inverse) or N S + equity (linear)."""
    if kind == INVERSE:
        return (stack + equity) * index
    return stack * index + equity
