"""Margin arithmetic of a short hedge in an inverse or a linear perpetual (docs/model.md).

Small ``@njit`` functions: the kernel inlines them and the tests call them directly.
Conventions:

* ``kind`` 0 = inverse (coin-margined): size ``Q`` in USD, margin and PnL in BTC.
* ``kind`` 1 = linear (USD(T)-margined): size ``q`` in BTC, margin and PnL in USD.
* The maintenance margin is a tier table (``limits``, ``rates``, ``deductions``) over the
  position value in the margin currency (BTC for inverse: Q/M; USD for linear: q*M).
  A flat rate is the one-tier table ``([inf], [mmr], [0])``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

INVERSE = 0
LINEAR = 1


@njit(cache=True, inline="always")
def position_value(kind, size, mark):
    """Position value in the margin currency: Q/M BTC (inverse) or q*M USD (linear)."""
    if kind == INVERSE:
        return size / mark
    return size * mark


@njit(cache=True, inline="always")
def unrealised_pnl(kind, size, entry, mark):
    """PnL of the short in the margin currency: Q(1/M - 1/E) BTC or q(E - M) USD."""
    if kind == INVERSE:
        return size * (1.0 / mark - 1.0 / entry)
    return size * (entry - mark)


@njit(cache=True, inline="always")
def maintenance_margin(value, limits, rates, deductions, t0, t1):
    """rate * value - deduction of the first tier (in rows t0:t1) whose limit >= value."""
    for t in range(t0, t1 - 1):
        if value <= limits[t]:
            return rates[t] * value - deductions[t]
    return rates[t1 - 1] * value - deductions[t1 - 1]


@njit(cache=True, inline="always")
def fee(kind, size, price, rate):
    """Taker fee on a trade of the whole position at ``price`` (margin currency)."""
    return rate * position_value(kind, size, price)


@njit(cache=True, inline="always")
def funding_payment(kind, size, mark, rate):
    """Funding received by the short at one funding time (negative: paid)."""
    return position_value(kind, size, mark) * rate


def flat_tiers(mmr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.array([np.inf]), np.array([float(mmr)]), np.array([0.0])


def tier_arrays(tiers: list[dict] | None, mmr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Config tiers (or a flat rate) as kernel arrays; the last tier extends to infinity."""
    if not tiers:
        return flat_tiers(mmr)
    limits = np.array([t["limit"] for t in tiers], dtype=np.float64)
    limits[-1] = np.inf
    rates = np.array([t["rate"] for t in tiers], dtype=np.float64)
    deds = np.array([t.get("deduction", 0.0) for t in tiers], dtype=np.float64)
    return limits, rates, deds


def margin_excess(kind: int, size: float, entry: float, collateral: float, mark: float,
                  tiers: tuple[np.ndarray, np.ndarray, np.ndarray], fees_paid: float = 0.0,
                  funding: float = 0.0) -> float:
    """Equity minus maintenance margin at ``mark`` (margin currency); <= 0 means liquidation."""
    limits, rates, deds = tiers
    equity = collateral + unrealised_pnl(kind, size, entry, mark) + funding - fees_paid
    mm = maintenance_margin(position_value(kind, size, mark), limits, rates, deds, 0, len(limits))
    return equity - mm


def liquidation_price(kind: int, size: float, entry: float, collateral: float,
                      tiers: tuple[np.ndarray, np.ndarray, np.ndarray], fees_paid: float = 0.0,
                      funding: float = 0.0) -> float:
    """Mark price (USD) at which the short is liquidated; NaN if no price liquidates it.

    A short loses as the mark rises, so this is the lowest mark above the entry at which
    equity <= maintenance. With a flat rate and no fees/funding it equals the closed forms
    (``inverse_liquidation_price``, ``linear_liquidation_price`` below); with tiers it is found by
    bisection on the same functions the kernel uses.
    """
    if size <= 0:
        return math.nan
    f = lambda m: margin_excess(kind, size, entry, collateral, m, tiers, fees_paid, funding)  # noqa: E731
    if f(entry) <= 0:
        return entry  # already at or below maintenance at entry
    hi = entry * 2.0
    while f(hi) > 0:
        hi *= 2.0
        if hi > entry * 1e12:
            return math.nan  # never liquidated (e.g. inverse at or below 1x)
    lo = entry
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return hi


# closed forms (flat rate, no fees or funding): test oracles users can call too


def inverse_liquidation_price(notional_usd: float, entry: float, collateral_btc: float, mmr: float) -> float:
    """Liquidation price of a short inverse position, no funding or fees:
    L = Q (1 - mmr) / (Q/E - C) for C < Q/E, else never (NaN)."""
    q_btc = notional_usd / entry
    if collateral_btc >= q_btc:
        return math.nan
    return notional_usd * (1.0 - mmr) / (q_btc - collateral_btc)


def linear_liquidation_price(qty_btc: float, entry: float, collateral_usd: float, mmr: float) -> float:
    """Liquidation price of a short linear position: C + q(E - L) = mmr q L."""
    return (collateral_usd + qty_btc * entry) / (qty_btc * (1.0 + mmr))
