"""Hedge-size rebalancing and partial liquidation (docs/policies.md), checked against closed
forms on deterministic (zero-volatility) paths.

The path: 1 BTC at 50,000 USD hedged with an inverse short of Q = 50,000 USD (hedge ratio 1,
the collateral not hedged), 0.1 BTC collateral, no fees, no funding, no basis; the index
(= mark) grows by g = exp(mu dt) every hour. Rebalancing to the target N M_k at step k
(N = 1 BTC) makes the next step's equity change Q_k (1/M_{k+1} - 1/M_k) = N (1/g - 1), so
after k rebalanced steps the equity is e_k = C + k N (1/g - 1): a closed form.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.config import YEAR_SECONDS

N, C, S0 = 1.0, 0.1, 50_000.0


def one_path(mu: float, **over):
    base = {"market.model": "gbm", "market.spot": S0, "market.sigma": 0.0, "market.mu": mu,
            "funding.initial": 0.0, "funding.mean": 0.0, "exchange.taker_fee": 0.0,
            "exchange.maintenance_margin": 0.005, "position.collateral": C, "position.contract_size": 0.01,
            "simulation.horizon": "30d", "simulation.dt": "1h", "simulation.monitoring": "discrete",
            "simulation.paths": 1}
    return sim.run(sim.load_config(None, overrides={**base, **over})).isel(path=0)


def growth(mu: float, hours: float = 1.0) -> float:
    return math.exp(mu * hours * 3600.0 / YEAR_SECONDS)


@pytest.mark.parametrize("mu", [-1.0, 1.0])
def test_daily_rebalancing_closed_form(mu):
    """Rebalanced once a day for 30 days: e_T = C + 30 N (1/g_day - 1); value (N + e_T) S_T."""
    ds = one_path(mu, **{"policy.rebalance_every": "1d"})
    g = growth(mu, 24.0)
    e_t = C + 30 * N * (1.0 / g - 1.0)
    assert int(ds.rebalances) == 30
    assert not bool(ds.liquidated)
    assert float(ds.index_T) == pytest.approx(S0 * g ** 30, rel=1e-12)
    # rounding to whole contracts of 0.01 USD moves the equity by < 1e-8 BTC
    assert float(ds.hedged_value) == pytest.approx((N + e_t) * float(ds.index_T), rel=1e-7)


def test_rebalancing_every_step_closed_form_on_a_rally():
    """Every hour on a rally (mu = 2/yr) for 15 days: e_360 = C - 360 N (1 - 1/g). The
    level stays above 2 (the initial-margin cap never binds: e >= 2 x 0.005 N = 0.01 BTC)."""
    mu = 2.0
    ds = one_path(mu, **{"policy.rebalance_band": 0.0, "simulation.horizon": "15d"})
    e_t = C - 360 * N * (1.0 - 1.0 / growth(mu))
    assert e_t > 0.01
    assert int(ds.rebalances) == 360
    assert float(ds.hedged_value) == pytest.approx((N + e_t) * float(ds.index_T), rel=1e-7)


def test_a_band_trades_only_when_the_drift_exceeds_it():
    """Band 5 % checked every hour on a fall: the target N M falls away from Q = N E; the one
    trade is at the first step with E / M_k - 1 > 5 %, after which the remaining fall over 30
    days (8.2 % in all) is too small for a second. Equity: before the trade the static
    C + N (E/M_k - 1), after it + N (M_k/M_T - 1)."""
    mu = -1.0
    ds = one_path(mu, **{"policy.rebalance_band": 0.05})
    k = next(i for i in range(1, 721) if 1.0 / growth(mu, i) - 1.0 > 0.05 + 1e-12)
    m_k, m_t = S0 * growth(mu, k), S0 * growth(mu, 720)
    e_t = C + N * (S0 / m_k - 1.0) + N * (m_k / m_t - 1.0)
    assert int(ds.rebalances) == 1
    assert float(ds.hedged_value) == pytest.approx((N + e_t) * m_t, rel=1e-7)


def test_a_full_hedge_of_stack_and_collateral_never_drifts():
    """With hedge_collateral and ratio 1, (N + e_t) M_t = Q exactly (no fees, no funding):
    the target equals the position at every check, so a rebalancing rule never trades."""
    ds = one_path(2.0, **{"position.hedge_collateral": True, "position.contract_size": 1.0,
                          "policy.rebalance_band": 0.0})
    assert int(ds.rebalances) == 0


def test_rebalancing_fees_are_paid_and_counted():
    """A taker fee phi on every resize: fees = open + sum over trades of phi |dQ| / M + close."""
    mu, phi = -1.0, 0.0005
    ds = one_path(mu, **{"policy.rebalance_every": "1d", "exchange.taker_fee": phi})
    fees, q = phi * N * S0 / S0, N * S0
    for d in range(1, 31):
        m = S0 * growth(mu, 24.0 * d)
        fees += phi * abs(N * m - q) / m
        q = N * m
    fees += phi * q / (S0 * growth(mu, 720))
    assert float(ds.fees) == pytest.approx(fees, rel=1e-6)


TIERS = [{"limit": 0.5, "rate": 0.005, "deduction": 0.0}, {"limit": 1e9, "rate": 0.01, "deduction": 0.0025}]


def test_partial_liquidation_steps_down_one_tier_by_hand():
    """Position value Q/M ~ 1 BTC sits in the second tier (mmr 1 %, deduction 0.0025 BTC).
    Statically it is liquidated when C + Q/M - Q/E <= 0.01 Q/M - 0.0025, i.e. at the first
    check with M >= 0.99 Q / (Q/E - C - 0.0025). With partial liquidation the exchange
    instead cuts it there to the top of the first tier (Q' = 0.5 M_p, at the mark, equity
    unchanged); the rest is liquidated at the first M >= 0.995 Q' / (Q'/M_p - e_p)."""
    mu = 2.0
    over = {"exchange.maintenance_margin": None, "exchange.tiers": TIERS}
    static = one_path(mu, **over)
    partial = one_path(mu, **over, **{"exchange.partial_liquidation": True})
    q, e_rate = N * S0, 1.0 / S0
    m_liq = 0.99 * q / (q * e_rate - C - 0.0025)
    k = next(i for i in range(1, 721) if S0 * growth(mu, i) >= m_liq)
    assert float(static.liquidation_time) == pytest.approx(k / 24.0, rel=1e-6)  # float32
    m_p = S0 * growth(mu, k)
    e_p = C + q / m_p - q / S0
    q2 = math.floor(0.5 * m_p / 0.01) * 0.01
    m_liq2 = 0.995 * q2 / (q2 / m_p - e_p)
    k2 = next(i for i in range(k, 721) if S0 * growth(mu, i) >= m_liq2)
    assert int(partial.partial_liquidations) == 1
    assert bool(partial.liquidated)
    assert float(partial.liquidation_time) == pytest.approx(k2 / 24.0, rel=1e-6)
    assert k2 > k


def test_partial_liquidation_off_the_lowest_tier_changes_nothing():
    """A position inside the lowest tier is closed, as without the rule (flags path by path)."""
    over = {"market.sigma": 0.8, "simulation.paths": 4000, "simulation.monitoring": "continuous",
            "exchange.maintenance_margin": None, "position.collateral": 0.05,
            "exchange.tiers": [{"limit": 1.5, "rate": 0.005, "deduction": 0.0},
                               {"limit": 1e9, "rate": 0.01, "deduction": 0.0075}]}
    base = {"market.model": "gbm", "market.spot": S0, "market.mu": 0.0, "simulation.horizon": "30d"}
    a = sim.run(sim.load_config(None, overrides={**base, **over}))
    b = sim.run(sim.load_config(None, overrides={**base, **over, "exchange.partial_liquidation": True}))
    assert 0 < int(a.liquidated.sum()) < 4000
    assert (a.liquidated.values == b.liquidated.values).all()
    assert int(b.partial_liquidations.sum()) == 0


def test_a_position_far_below_the_cut_tier_keeps_the_static_pass():
    """1 BTC against a 150 BTC tier (Bybit's inverse risk limit): partial liquidation cannot
    act, so the run stays static: the collateral identity (required_collateral) is kept and
    no policy outputs appear."""
    cfg = sim.load_config(None, overrides={"exchange.preset": "bybit-btcusd", "simulation.horizon": "2d",
                                           "position.collateral": 0.2})
    assert cfg.exchange.partial_liquidation
    ds = sim.run(cfg, paths=1024, seed=1)
    assert "partial_liquidations" not in ds
    assert np.isfinite(ds.required_collateral.values).all()


def test_initial_margin_cap_closed_form_equals_bisection():
    """An increase is capped where equity - fee = 2 x maintenance after the trade: solved in
    closed form for a flat rate, by bisection over whole contracts for tiers. Two identical
    tiers are the flat rate in disguise: both give the same trades on 2,000 random paths."""
    base = {"market.model": "gbm", "market.sigma": 0.8, "market.mu": 0.5, "simulation.horizon": "10d",
            "simulation.paths": 2000, "position.collateral": 0.05, "policy.rebalance_every": "1h"}
    flat = sim.run(sim.load_config(None, overrides={**base, "exchange.maintenance_margin": 0.005}))
    two = sim.run(sim.load_config(None, overrides={
        **base, "exchange.maintenance_margin": None,
        "exchange.tiers": [{"limit": 1e6, "rate": 0.005, "deduction": 0.0},
                           {"limit": 1e9, "rate": 0.005, "deduction": 0.0}]}))
    assert int(flat.rebalances.sum()) > 2000 * 100
    assert (flat.rebalances.values == two.rebalances.values).all()
    assert (flat.liquidated.values == two.liquidated.values).all()
    np.testing.assert_allclose(flat.hedged_value.values, two.hedged_value.values, rtol=1e-12)
