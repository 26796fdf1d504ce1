"""Inverse and linear contract algebra against hand-computed values (docs/model.md, The hedge account)."""

import math

import numpy as np
import pytest

import sim
from sim.instruments import perpetual
from sim.instruments.perpetual import (INVERSE, LINEAR, flat_tiers, funding_payment, liquidation_price, maintenance_margin, margin_excess, position_value, tier_arrays, unrealised_pnl)
from sim.engine.simulate import resolve_hedge


def test_seed_example_liquidation_price():
    # the worked example: 60,000 x 0.995 / (60,000/60,000 - 0.05) = 62,842.105...
    expected = 60_000 * 0.995 / 0.95
    assert perpetual.inverse_liquidation_price(60_000, 60_000, 0.05, 0.005) == pytest.approx(62_842.105263, abs=1e-5)
    assert liquidation_price(INVERSE, 60_000, 60_000, 0.05, flat_tiers(0.005)) == pytest.approx(expected, rel=1e-10)
    cfg = sim.load_config("configs/seed_example.toml")
    h = resolve_hedge(cfg)
    assert h.contracts == 60_000 and h.size == 60_000.0
    assert round(h.liquidation_price, 1) == 62_842.1
    # 4.7 % above the entry
    assert h.liquidation_price / 60_000 - 1 == pytest.approx(0.0474, abs=1e-4)


@pytest.mark.parametrize("collateral", [1.0, 1.5, 10.0])
def test_no_liquidation_at_or_below_1x(collateral):
    q, e = 60_000.0, 60_000.0  # Q/E = 1 BTC
    assert math.isnan(perpetual.inverse_liquidation_price(q, e, collateral, 0.005))
    assert math.isnan(liquidation_price(INVERSE, q, e, collateral, flat_tiers(0.005)))
    marks = np.geomspace(1.0, 1e12, 500)
    excess = [margin_excess(INVERSE, q, e, collateral, m, flat_tiers(0.005)) for m in marks]
    assert min(excess) > 0


def test_inverse_pnl_and_position_value():
    # short 60,000 USD at 60,000: BTC falls to 50,000 -> +0.2 BTC; rises to 72,000 -> -1/6 BTC
    assert unrealised_pnl(INVERSE, 60_000.0, 60_000.0, 50_000.0) == pytest.approx(0.2, rel=1e-12)
    assert unrealised_pnl(INVERSE, 60_000.0, 60_000.0, 72_000.0) == pytest.approx(-1 / 6, rel=1e-12)
    # BitMEX B1: 15,000 contracts at 750 are worth 20 XBT; funding 0.25 % of 20 XBT = 0.05 XBT
    assert position_value(INVERSE, 15_000.0, 750.0) == pytest.approx(20.0)
    assert funding_payment(INVERSE, 15_000.0, 750.0, 0.0025) == pytest.approx(0.05)
    # BitMEX B1: long PnL 15,000 (1/750 - 1/800) = 1.25 XBT, so the short loses 1.25 XBT
    assert unrealised_pnl(INVERSE, 15_000.0, 750.0, 800.0) == pytest.approx(-1.25)


def test_linear_algebra():
    # short 1 BTC at 60,000 with 6,000 USD: C + q (E - L) = mmr q L -> L = 66,000 / 1.005
    lp = perpetual.linear_liquidation_price(1.0, 60_000.0, 6_000.0, 0.005)
    assert lp == pytest.approx(66_000 / 1.005)
    assert liquidation_price(LINEAR, 1.0, 60_000.0, 6_000.0, flat_tiers(0.005)) == pytest.approx(lp, rel=1e-10)
    assert unrealised_pnl(LINEAR, 2.0, 60_000.0, 50_000.0) == pytest.approx(20_000.0)
    assert funding_payment(LINEAR, 2.0, 50_000.0, 0.0001) == pytest.approx(10.0)


def test_liquidation_price_with_fee_and_funding():
    # equity C - fee + Q(1/L - 1/E) + F = mmr Q / L  ->  L = Q (1 - mmr) / (Q/E - C + fee - F)
    q, e, c, fee, fund = 100_000.0, 50_000.0, 0.5, 0.001, 0.002
    expected = q * (1 - 0.004) / (q / e - c + fee - fund)
    got = liquidation_price(INVERSE, q, e, c, flat_tiers(0.004), fees_paid=fee, funding=fund)
    assert got == pytest.approx(expected, rel=1e-10)


def test_bitmex_risk_limit_tiers():
    # BitMEX riskLimitsExamples: < 200 XBT 0.50 %, < 350 1.00 %, < 500 1.50 %, < 650 2.00 %
    tiers = tier_arrays([{"limit": 200, "rate": 0.005}, {"limit": 350, "rate": 0.01},
                         {"limit": 500, "rate": 0.015}, {"limit": 650, "rate": 0.02}], 0.0)
    lim, rate, ded = tiers
    mm = lambda v: maintenance_margin(v, lim, rate, ded, 0, len(lim))  # noqa: E731
    assert mm(180.0) == pytest.approx(0.90)  # B3: 180 XBT -> 0.90 XBT
    assert mm(230.0) == pytest.approx(2.30)  # B3: 230 XBT -> 1 step -> 1.00 %
    assert mm(400.0) == pytest.approx(6.00)
    assert mm(10_000.0) == pytest.approx(200.0)  # beyond the table: last rate


def test_tier_deduction_is_continuous():
    # Binance-style maintenance amount keeps the margin continuous at the tier edge
    tiers = tier_arrays([{"limit": 5, "rate": 0.005, "deduction": 0.0},
                         {"limit": 10, "rate": 0.01, "deduction": 0.025}], 0.0)
    lim, rate, ded = tiers
    below = maintenance_margin(5.0, lim, rate, ded, 0, 2)
    above = maintenance_margin(5.0 + 1e-9, lim, rate, ded, 0, 2)
    assert below == pytest.approx(above, abs=1e-10)
