"""The managed account pass: one hedge account along one market path when the hedger (or
the exchange) moves margin, re-opens the hedge, or the exchange can fail.

Used for a variant only when one of these is on (``acc.managed[v]``); every other variant
runs the plain ``account_pass`` (so static runs are bitwise what they always were).

At each monitoring time t_i, in this order (docs/policies.md):
 0. exchange default: if the exchange fails in (t_{i-1}, t_i], everything on it (account
    equity at the mark, the exchange wallet, a reserve kept on the exchange) is lost but
    the recovered fraction; the hedge is gone and the stack unhedged from then on;
 1. a transfer arriving now is applied (top-up into the account, withdrawal into the
    reserve); a re-hedge due now re-opens the hedge at the mark with the original
    collateral from the reserve (fees paid again);
 2. top-up trigger on the checked mark: margin level = equity / maintenance margin at or
    below ``top_up_trigger`` sends enough of the reserve to bring it back to ``top_up_to``
    (all that is left if less); it arrives ``delay`` steps later (0: now, before the check);
 3. exchange auto-add (isolated_auto_add): while the account would be liquidated and the
    wallet holds the position's initial margin, the exchange moves it in;
 4. liquidation check on the checked mark (cross margin: the wallet backs the position,
    folded into its collateral at the start); with partial liquidation (a preset's
    behaviour for tiered positions) a position in ``partial_from_tier`` or above is first
    cut to the top of the next lower tier at the checked mark, tier by tier, and closed
    only when it still fails below that tier;
 5. funding, for an account still open;
 6. rebalancing on the step's end mark (every ``rebalance_every_steps`` steps): the hedge
    is resized to its target, ``hedge_ratio`` x the BTC it covers (the stack, plus the
    account's equity with ``hedge_collateral``) at the mark, when it has drifted from it by
    more than ``rebalance_band``; an increase only as far as the exchange's initial margin
    (2 x maintenance) allows;
 7. withdrawal trigger on the step's end mark: a margin level above ``withdraw_above``
    takes the account down to ``withdraw_to``; the amount leaves now and reaches the
    reserve ``delay`` steps later.
One transfer is in flight at a time. Amounts are in the margin currency (BTC inverse,
USD linear); USD figures are valued at the index when they happen.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.instruments.perpetual import INVERSE, fee, maintenance_margin, position_value
from sim.kernel.account_pass import portfolio_value

ISOLATED = 0
ISOLATED_AUTO_ADD = 1
CROSS = 2


@njit(cache=True, inline="always")
def _mm(pv, flat, rate, ded, limits, rates, deds, t0, t1):
    """Maintenance margin of position value ``pv``: the flat rate without a tier search.
    (Arrays, not the whole AccountArgs tuple: passing that per step costs ~15x the pass.)"""
    if flat:
        return rate * pv - ded
    return maintenance_margin(pv, limits, rates, deds, t0, t1)


@njit(cache=True, inline="always")
def _resize(size, pv_entry, new_size, px, sgn):
    """Change a position from ``size`` to ``new_size`` at price ``px`` (1/M or M); returns
    (realised PnL into the collateral, new position value at entry). A reduction realises
    its share of the unrealised PnL and keeps the entry; an increase averages the entry
    (harmonically for an inverse contract). Equity is unchanged either way (fees apart)."""
    if new_size < size:
        f = (size - new_size) / size
        return f * sgn * (size * px - pv_entry), pv_entry * (1.0 - f)
    return 0.0, pv_entry + (new_size - size) * px


@njit(cache=True, inline="always")
def managed_account_path(v, acc, mk, s_path, m_path, c_path, inv, f_path, default_e, li, out, save, save_every,
                         eq_path):
    """One managed hedge account along one market path; writes the plain per-path results
    and the policy outputs. ``default_e`` is the path's Exp(1) draw of the exchange's
    default clock (the same for every variant: common random numbers)."""
    steps = mk.steps
    k_f = mk.funding_every
    kind = acc.kind[v]
    size0 = acc.size[v]
    size = size0
    stack = acc.stack[v]
    c0 = acc.collateral[v]
    cap = acc.funding_cap[v]
    t0 = acc.tier_start[v]
    t1 = acc.tier_end[v]
    fee_rate = acc.fee_rate[v]
    flat = t1 - t0 == 1
    mm_rate = acc.tier_rates[t1 - 1]
    mm_ded = acc.tier_deductions[t1 - 1]
    limits, rates, deds = acc.tier_limits, acc.tier_rates, acc.tier_deductions
    inverse = kind == INVERSE
    # the plain pass's arithmetic: position value size * px (px = 1/M or M), uPnL
    # sgn * (value - entry value), so a managed account that never acts matches it bitwise
    px = inv[0] if inverse else m_path
    px_c = inv[1] if inverse else c_path
    sgn = 1.0 if inverse else -1.0
    mode = acc.margin_mode[v]
    wallet = acc.wallet[v]
    coll = c0
    if mode == CROSS:  # the whole exchange balance backs the position
        coll = c0 + wallet
        wallet = 0.0
    reserve = acc.reserve[v]
    reserve_on_exchange = acc.delay_steps[v] == 0  # an instant transfer: the reserve sits on the exchange
    trigger = acc.top_up_trigger[v]
    top_to = acc.top_up_to[v]
    w_above = acc.withdraw_above[v]
    w_to = acc.withdraw_to[v]
    delay = acc.delay_steps[v]
    rehedge = acc.rehedge[v]
    rh_delay = acc.rehedge_delay_steps[v]
    recovery = acc.recovery_rate[v]
    reb_every = acc.rebalance_every_steps[v]
    reb_band = acc.rebalance_band[v]
    ratio = acc.hedge_ratio[v]
    cover_equity = acc.hedge_collateral[v] and inverse
    lot = acc.lot[v]
    inv_lot = 1.0 / lot
    k_reb = 0
    partial = acc.partial_liquidation[v] and not flat
    partial_from = t0 + acc.partial_from_tier[v]
    # exchange default: first check at or after tau = E / h (h per step)
    h = acc.default_rate_step[v]
    default_step = steps + 1
    if h > 0.0 and default_e < np.inf:
        kd = math.ceil(default_e / h)
        if kd <= steps:
            default_step = max(1, int(kd))
    entry = m_path[0]
    pv_entry = position_value(kind, size, entry)

    fee_open = fee(kind, size, entry, fee_rate)
    fees = fee_open
    fund_total = 0.0  # funding received by every life of the hedge
    fund_usd = 0.0
    fund_life = 0.0  # funding of the current life (part of its equity)
    open_ = size > 0.0
    liq = False
    liq_t = np.nan
    min_ml = np.inf
    n_top = 0
    n_rehedge = 0
    n_rebalance = 0
    n_partial = 0
    reserve_used = 0.0
    withdrawn = 0.0
    exhausted = False
    pending = 0.0  # > 0 top-up in flight to the account, < 0 withdrawal in flight to the reserve
    arrive = -1
    rehedge_at = -1
    defaulted = False
    ex_loss = 0.0
    recovered = 0.0
    liq_loss_usd = 0.0
    equity = coll - fee_open
    on_ex0 = equity + wallet + (reserve if reserve_on_exchange else 0.0)
    max_on_ex = on_ex0
    sum_on_ex = 0.0
    if save:
        eq_path[0] = equity
    peak = portfolio_value(kind, stack, equity + wallet + reserve, s_path[0])
    mdd = 0.0
    k = 0
    n_f = 0
    r = 0
    n_report = mk.report_steps.shape[0]
    for i in range(1, steps + 1):
        s = s_path[i]
        usd_s = s if inverse else 1.0
        m = m_path[i]
        pv = size * px[i]
        k += 1
        funding_time = k == k_f
        if funding_time:
            k = 0
            n_f += 1
        # 0. exchange default
        if not defaulted and i == default_step:
            defaulted = True
            eq_now = (coll + sgn * (size * px[i] - pv_entry) + fund_life - fee_open) if open_ else 0.0
            on_ex = max(eq_now, 0.0) + wallet + (reserve if reserve_on_exchange else 0.0)
            ex_loss = (1.0 - recovery) * on_ex
            recovered = recovery * on_ex
            if reserve_on_exchange:
                reserve = 0.0
            if pending != 0.0:  # a transfer in flight goes back where it came from
                if pending > 0.0:
                    reserve += pending
                else:
                    reserve -= pending
                pending = 0.0
            wallet = 0.0
            open_ = False
            equity = 0.0
            coll = 0.0
            rehedge_at = -1
        if not defaulted:
            # 1. arrivals and re-hedges
            if pending != 0.0 and i >= arrive:
                if pending > 0.0:
                    if open_:
                        coll += pending
                    else:
                        reserve += pending  # the hedge is gone: the top-up stays in the reserve
                else:
                    reserve -= pending
                pending = 0.0
            if rehedge and not open_ and i == rehedge_at:
                if reserve >= c0 and c0 > 0.0:
                    reserve -= c0
                    reserve_used += c0
                    coll = c0
                    size = size0
                    entry = m
                    pv_entry = position_value(kind, size, entry)
                    fee_open = fee(kind, size, entry, fee_rate)
                    fees += fee_open
                    fund_life = 0.0
                    open_ = True
                    n_rehedge += 1
                else:
                    exhausted = True
            if open_:
                pv_c = size * px_c[i]
                mm = _mm(pv_c, flat, mm_rate, mm_ded, limits, rates, deds, t0, t1)
                eq_c = coll + (sgn * (pv_c - pv_entry) + fund_life - fee_open)
                # 2. top-up trigger
                if trigger == trigger and pending == 0.0 and mm > 0.0 and eq_c <= trigger * mm:
                    need = top_to * mm - eq_c
                    amount = min(need, reserve)
                    if amount < need:
                        exhausted = True
                    if amount > 0.0:
                        reserve -= amount
                        reserve_used += amount
                        n_top += 1
                        if delay == 0:
                            coll += amount
                            eq_c += amount
                        else:
                            pending = amount
                            arrive = i + delay
                # 3. exchange auto-add: the position's initial margin (the collateral it was
                #    opened with) from the wallet, all that is left if less, never beyond 1x
                #    leverage (collateral at most the position value at entry)
                if mode == ISOLATED_AUTO_ADD:
                    while eq_c <= mm and wallet > 0.0 and coll < pv_entry:
                        add = min(c0, wallet, pv_entry - coll)
                        wallet -= add
                        coll += add
                        eq_c += add
                        n_top += 1
                # 4. partial liquidation: down one risk tier at a time at the checked mark
                if partial:
                    while eq_c <= mm:
                        j = t0
                        while j < t1 - 1 and pv_c > limits[j]:
                            j += 1
                        if j < partial_from:
                            break
                        new_size = math.floor(limits[j - 1] / px_c[i] / lot) * lot
                        if new_size >= size:
                            break
                        gain, pv_entry = _resize(size, pv_entry, new_size, px_c[i], sgn)
                        cost = fee_rate * (size - new_size) * px_c[i]
                        coll += gain - cost
                        fees += cost
                        size = new_size
                        n_partial += 1
                        pv_c = size * px_c[i]
                        mm = _mm(pv_c, flat, mm_rate, mm_ded, limits, rates, deds, t0, t1)
                        eq_c = coll + (sgn * (pv_c - pv_entry) + fund_life - fee_open)
                    pv = size * px[i]
                if mm > 0.0 and eq_c < min_ml * mm:
                    min_ml = eq_c / mm
                #    liquidation check
                if eq_c <= mm:
                    if not liq:
                        liq = True
                        liq_t = i * mk.dt_days
                    liq_loss_usd += max(eq_c, 0.0) * usd_s
                    open_ = False
                    coll = 0.0
                    equity = 0.0
                    fund_life = 0.0
                    if rehedge:
                        rehedge_at = i + max(rh_delay, 1)
        # 5. funding
        if open_ and funding_time:
            pay = pv * min(max(f_path[n_f], -cap), cap)
            fund_life += pay
            fund_total += pay
            fund_usd += pay * usd_s
        k_reb += 1
        reb_due = k_reb == reb_every
        if reb_due:
            k_reb = 0
        if open_:
            equity = coll + sgn * (pv - pv_entry) + fund_life - fee_open
            # 6. rebalancing to the target size on the end mark
            if reb_due:
                covered = stack + (equity if cover_equity else 0.0)
                target = ratio * covered * (m if inverse else 1.0)
                target = math.floor(target * inv_lot + 1e-9) * lot
                if target > 0.0 and target != size and abs(target - size) > reb_band * target:
                    if target > size:  # the exchange's initial margin (2 x maintenance) after the trade
                        lo = 0
                        hi = int(math.floor((target - size) * inv_lot + 1e-9))
                        if flat:  # equity - fee_rate d px >= 2 (rate (size + d) px - ded), solved for d
                            d_max = (equity - 2.0 * (mm_rate * size * px[i] - mm_ded)) / ((2.0 * mm_rate + fee_rate) * px[i])
                            hi = max(0, min(hi, int(math.floor(d_max * inv_lot + 1e-9))))
                            lo = hi
                        while hi > lo:  # tiers: the most lots the margin allows, by bisection
                            mid = (lo + hi + 1) // 2
                            new = size + mid * lot
                            mm_new = _mm(new * px[i], flat, mm_rate, mm_ded, limits, rates, deds, t0, t1)
                            if equity - fee_rate * mid * lot * px[i] >= 2.0 * mm_new:
                                lo = mid
                            else:
                                hi = mid - 1
                        target = size + lo * lot
                    if target != size:
                        gain, pv_entry = _resize(size, pv_entry, target, px[i], sgn)
                        cost = fee_rate * abs(target - size) * px[i]
                        coll += gain - cost
                        fees += cost
                        size = target
                        pv = size * px[i]
                        equity = coll + sgn * (pv - pv_entry) + fund_life - fee_open
                        n_rebalance += 1
            # 7. withdrawal trigger on the end mark
            if w_above == w_above and pending == 0.0:
                mm_e = _mm(pv, flat, mm_rate, mm_ded, limits, rates, deds, t0, t1)
                if mm_e > 0.0 and equity > w_above * mm_e:
                    amount = min(equity - w_to * mm_e, coll)
                    if amount > 0.0:
                        coll -= amount
                        equity -= amount
                        withdrawn += amount
                        if delay == 0:
                            reserve += amount
                        else:
                            pending = -amount
                            arrive = i + delay
        if reserve <= 0.0 and (trigger == trigger or rehedge):
            exhausted = True
        on_ex = (equity if open_ else 0.0) + wallet + (reserve if reserve_on_exchange else 0.0)
        max_on_ex = max(max_on_ex, on_ex)
        sum_on_ex += on_ex
        in_transit = pending if pending > 0.0 else -pending
        held = equity + wallet + reserve + in_transit + recovered
        value = stack * s + held * usd_s
        peak = max(peak, value)
        mdd = max(mdd, peak - value)
        if save and i % save_every == 0:
            eq_path[i // save_every] = equity if open_ else 0.0
        if r < n_report and i == mk.report_steps[r]:
            closed = held - (fee_rate * pv if open_ else 0.0)
            out.value_at[li, v, r] = stack * s + closed * usd_s
            r += 1
    if open_:
        fees += fee(kind, size, m_path[steps], fee_rate)
    out.liquidated[li, v] = liq
    out.liquidation_time[li, v] = liq_t
    out.funding[li, v] = fund_total
    out.funding_usd[li, v] = fund_usd
    out.fees[li, v] = fees
    out.min_margin_level[li, v] = min_ml if min_ml < np.inf else np.nan
    out.required_collateral[li, v] = np.nan  # the collateral identity does not hold under a policy
    out.max_drawdown[li, v] = mdd
    pol = out.policy
    pol[li, v, 0] = n_top
    pol[li, v, 1] = reserve_used
    pol[li, v, 2] = withdrawn
    pol[li, v, 3] = n_rehedge
    pol[li, v, 4] = 1.0 if exhausted else 0.0
    pol[li, v, 5] = max_on_ex
    pol[li, v, 6] = sum_on_ex / steps
    pol[li, v, 7] = 1.0 if defaulted else 0.0
    pol[li, v, 8] = ex_loss
    pol[li, v, 9] = ex_loss * (s_path[default_step] if inverse and defaulted else 1.0)
    pol[li, v, 10] = liq_loss_usd
    pol[li, v, 11] = n_rebalance
    pol[li, v, 12] = n_partial
