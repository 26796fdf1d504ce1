"""Managed hedges (docs/policies.md): top-ups from a reserve, transfer delays, withdrawals,
re-hedging, the exchange's auto-add, and exchange default, checked against closed forms
and hand calculations on deterministic (zero-volatility) paths, and against static runs
on the same random paths."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import sim
from sim import engine
from sim.config import YEAR_SECONDS

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "default.toml"
POLICY_VARS = ["top_ups", "reserve_used", "withdrawn", "rehedges", "reserve_exhausted", "max_on_exchange",
               "mean_on_exchange", "exchange_default", "exchange_loss", "exchange_loss_usd", "liquidation_loss_usd"]


def one_path(mu: float, **over):
    """A deterministic inverse hedge: 1 BTC at 50,000 USD hedged with 50,000 contracts of
    1 USD, 0.1 BTC collateral, flat mmr 0.5 %, no fees, no funding, no basis; the index
    is S_t = 50,000 exp(mu t) (sigma = 0, GBM), checked every hour for 30 days."""
    base = {"market.model": "gbm", "market.spot": 50_000.0, "market.sigma": 0.0, "market.mu": mu,
            "funding.initial": 0.0, "funding.mean": 0.0, "exchange.taker_fee": 0.0,
            "exchange.maintenance_margin": 0.005, "position.collateral": 0.1, "simulation.horizon": "30d",
            "simulation.dt": "1h", "simulation.monitoring": "discrete", "simulation.paths": 1}
    return sim.run(sim.load_config(None, overrides={**base, **over})).isel(path=0)


def index_at(mu, i):
    return 50_000.0 * math.exp(mu * i * 3600.0 / YEAR_SECONDS)


Q, C, MMR = 50_000.0, 0.1, 0.005


def first_step(mu, mark):
    """First hourly check at which the index (= mark) reaches ``mark`` on the rising path."""
    return math.ceil(math.log(mark / 50_000.0) / mu * YEAR_SECONDS / 3600.0 - 1e-9)


def test_top_up_on_a_rally_by_hand():
    # margin level = (C + Q/M - Q/E) / (mmr Q/M) first reaches 2 at M = 0.99 Q / (Q/E - C) = 55,000
    # and 1 (liquidation) at M = 0.995 Q / 0.9 = 55,277.8; mu = 2/yr crosses them on days 17.4 and 18.3.
    # Oracle: the rule on the closed-form path (top up to level 4 whenever the level is <= 2)
    mu = 2.0
    ds = one_path(mu, **{"policy.top_up_reserve": 0.5, "policy.top_up_trigger": 2.0, "policy.top_up_to": 4.0})
    coll, n, used = C, 0, 0.0
    for i in range(1, 721):
        m = index_at(mu, i)
        eq, mm = coll + Q / m - Q / 50_000.0, MMR * Q / m
        if eq <= 2.0 * mm:
            coll += 4.0 * mm - eq
            used += 4.0 * mm - eq
            n += 1
            if n == 1:
                assert i == first_step(mu, 55_000.0)
    assert n >= 2
    assert int(ds.top_ups) == n
    assert float(ds.reserve_used) == pytest.approx(used, rel=1e-9)
    assert not bool(ds.liquidated) and not bool(ds.reserve_exhausted)
    # without the policy the same path liquidates at the first check at or above 55,277.8 USD
    static = one_path(mu)
    assert bool(static.liquidated)
    assert float(static.liquidation_time) == pytest.approx(first_step(mu, 0.995 * Q / 0.9) / 24.0, rel=1e-6)


def test_a_transfer_delay_can_arrive_too_late():
    mu = 2.0
    over = {"policy.top_up_reserve": 0.5, "policy.top_up_trigger": 2.0, "policy.top_up_to": 4.0}
    fast = one_path(mu, **over, **{"policy.transfer_delay": "12h"})
    slow = one_path(mu, **over, **{"policy.transfer_delay": "2d"})
    # trigger at 55,000 (hour 418), liquidation level at 55,277.8 (hour 440): 12 h arrives in time, 2 d not
    assert first_step(mu, 0.995 * Q / 0.9) - first_step(mu, 55_000.0) == 22
    assert not bool(fast.liquidated) and int(fast.top_ups) >= 1
    assert bool(slow.liquidated) and int(slow.top_ups) == 1
    assert float(slow.liquidation_time) == pytest.approx(first_step(mu, 0.995 * Q / 0.9) / 24.0, rel=1e-6)
    # the top-up in flight when the hedge is lost lands in the reserve: nothing is lost with it
    assert float(slow.reserve_used) > 0


def test_withdrawals_on_a_fall_by_hand():
    """Falling index: the short gains; each time the level exceeds 30 at an end mark the
    account is taken down to level 20 (at once: no delay). Oracle: the rule applied to the
    closed-form path."""
    mu = -2.0
    ds = one_path(mu, **{"policy.withdraw_above": 30.0, "policy.withdraw_to": 20.0})
    coll, n, out = C, 0, 0.0
    for i in range(1, 721):
        m = index_at(mu, i)
        eq, mm = coll + Q / m - Q / 50_000.0, MMR * Q / m
        if eq > 30.0 * mm:
            amount = min(eq - 20.0 * mm, coll)
            coll -= amount
            out += amount
            n += 1
    assert n > 10
    assert float(ds.withdrawn) == pytest.approx(out, rel=1e-9)
    assert not bool(ds.liquidated)
    # the hedged value counts what was withdrawn (reserve) exactly: stack + account + reserve
    m_t = index_at(mu, 720)
    equity = coll + Q / m_t - Q / 50_000.0
    assert float(ds.hedged_value) == pytest.approx((1.0 + equity + out) * float(ds.index_T), rel=1e-9)


def test_rehedge_after_liquidation_by_hand():
    """A rally liquidates the hedge; one hour later it is re-opened at the then mark with
    0.1 BTC from the reserve, and liquidated again when the new level reaches 1; a reserve
    of 0.25 BTC pays for two re-hedges, then the reserve is exhausted."""
    mu = 5.0
    ds = one_path(mu, **{"policy.rehedge": True, "policy.rehedge_delay": "1h", "policy.top_up_reserve": 0.25})
    entry, lives, i, reserve, liq_steps = 50_000.0, 0, 0, 0.25, []
    while True:  # oracle: liquidation at the first check with 0.995 Q / M >= Q / entry - C
        limit = 0.995 * Q / (Q / entry - C)
        i = first_step(mu, limit) if first_step(mu, limit) > i else i + 1
        if i > 720:
            break
        liq_steps.append(i)
        if reserve < C or i + 1 > 720:
            break
        reserve -= C
        lives += 1
        i += 1
        entry = index_at(mu, i)
    assert int(ds.rehedges) == lives == 2
    assert float(ds.reserve_used) == pytest.approx(2 * C)
    assert bool(ds.reserve_exhausted)
    assert float(ds.liquidation_time) == pytest.approx(liq_steps[0] / 24.0, rel=1e-6)


def test_bybit_auto_margin_replenishment_example_mirrored():
    """Bybit's published AMR example: balance 10,000 USDT, BTC at 8,000, 5 BTC at 10x
    (initial margin 4,000 USDT), mmr 0.5 %. Each time the position would be liquidated the
    exchange adds its initial margin (4,000) from the balance, all that is left (2,000) the
    third time. Mirrored for our short (hedgesim shorts the perpetual): with maintenance on
    the mark value the liquidation marks are (C + q E) / (q (1 + mmr)) = 8,756.2, then
    9,552.2, 10,348.3 and 10,746.3 USD after the three additions (Bybit's long, with
    maintenance on the entry value: 7,240 = 8,000 - (4,000 - 200) / 5, then 6,440, 5,640, 5,240)."""
    q, e, c0 = 5.0, 8_000.0, 4_000.0
    limits = [(c0 + add + q * e) / (q * 1.005) for add in (0.0, 4_000.0, 8_000.0, 10_000.0)]
    assert [round(x, 1) for x in limits] == [8756.2, 9552.2, 10348.3, 10746.3]
    mu = 4.0  # 8,000 -> 11,000 in ~29 days
    cfg = {"market.model": "gbm", "market.spot": e, "market.sigma": 0.0, "market.mu": mu, "funding.initial": 0.0,
           "funding.mean": 0.0, "exchange.taker_fee": 0.0, "exchange.maintenance_margin": 0.005,
           "position.contract": "linear", "position.contract_size": 0.001, "position.stack": q,
           "position.collateral": c0, "exchange.margin_mode": "isolated_auto_add", "exchange.wallet": 10_000.0,
           "simulation.horizon": "30d", "simulation.dt": "1h", "simulation.monitoring": "discrete",
           "simulation.paths": 1}
    ds = sim.run(sim.load_config(None, overrides=cfg)).isel(path=0)
    hours = [math.ceil(math.log(x / e) / mu * YEAR_SECONDS / 3600.0 - 1e-9) for x in limits]
    assert int(ds.top_ups) == 3
    assert bool(ds.liquidated)
    assert float(ds.liquidation_time) == pytest.approx(hours[-1] / 24.0, rel=1e-6)
    assert float(ds.max_on_exchange) == pytest.approx(c0 + 10_000.0)  # collateral + wallet before any move


def test_exchange_default_expected_loss_closed_form():
    """sigma = 0, no fees or funding: 0.1 BTC collateral + 0.2 BTC wallet sit on the exchange
    all the time; with hazard h the expected loss is 0.3 (1 - e^(-hT)) (1 - R) exactly. The
    estimate over 40,000 paths is within 4 standard errors."""
    h, rec, paths = 2.0, 0.25, 40_000
    cfg = sim.load_config(None, overrides={
        "market.model": "gbm", "market.sigma": 0.0, "funding.initial": 0.0, "funding.mean": 0.0,
        "exchange.taker_fee": 0.0, "position.collateral": 0.1, "exchange.wallet": 0.2,
        "exchange.default_rate": h, "exchange.recovery_rate": rec, "simulation.horizon": "30d",
        "simulation.paths": paths})
    ds = sim.run(cfg)
    t = cfg.horizon_years
    exact = 0.3 * -math.expm1(-h * t) * (1.0 - rec)
    assert abs(float(ds.exchange_loss_mean) - exact) < 4 * float(ds.exchange_loss_mean_se)
    p = float(ds.exchange_default_probability)
    assert abs(p + math.expm1(-h * t)) < 4 * float(ds.exchange_default_probability_se)
    # after a default the hedge is gone: the stack and the recovered 25 % remain
    d = ds.sel(path=ds.exchange_default.values.nonzero()[0][0])
    assert float(d.hedged_value) == pytest.approx((1.0 + 0.25 * 0.3) * float(d.index_T), rel=1e-9)


# --------------------------------------------------------------------------- random paths


def _cfg(**over):
    base = {"simulation.horizon": "10d", "simulation.monitoring": "discrete", "position.collateral": 0.125}
    return sim.load_config(DEFAULT, overrides={**base, **over})


def test_zero_delay_top_up_equals_static_collateral_plus_reserve_path_by_path():
    """Zero delay, a trigger above the liquidation level and a large top_up_to: the first
    top-up moves the whole reserve before the check, so the flags are those of a static run
    with collateral C + reserve on every path (C and reserve dyadic: C + R is exact)."""
    managed = engine.simulate(_cfg(**{"policy.top_up_reserve": 0.125, "policy.top_up_trigger": 1.5,
                                      "policy.top_up_to": 1000.0}), paths=20_000, seed=3)
    static = engine.simulate(_cfg(**{"position.collateral": 0.25}), paths=20_000, seed=3)
    np.testing.assert_array_equal(managed.outputs.liquidated, static.outputs.liquidated)
    assert 0 < managed.outputs.liquidated.mean() < 0.01


def test_delay_only_makes_it_worse():
    """Liquidation probability is non-decreasing in the transfer delay, between the static
    runs with C + reserve and with C alone (same paths: common random numbers)."""
    over = {"policy.top_up_reserve": 0.125, "policy.top_up_trigger": 1.5, "policy.top_up_to": 1000.0}
    low = engine.simulate(_cfg(**{"position.collateral": 0.25}), paths=10_000, seed=5).outputs.liquidated
    high = engine.simulate(_cfg(), paths=10_000, seed=5).outputs.liquidated
    probs = []
    for delay in ["0s", "1h", "6h", "1d", "5d"]:
        flags = engine.simulate(_cfg(**over, **{"policy.transfer_delay": delay}), paths=10_000,
                                seed=5).outputs.liquidated
        assert np.all(flags >= low) and np.all(flags <= high)  # path by path
        probs.append(flags.mean())
    assert probs == sorted(probs) and probs[0] < probs[-1]


def test_policy_keys_sweep_on_common_random_numbers():
    ds = sim.run(_cfg(**{"policy.top_up_trigger": 1.5, "policy.transfer_delay": "2h"})
                 .with_sweep({"policy.top_up_reserve": [0.0, 0.0625, 0.125]}), paths=4096, seed=9)
    p = ds.liquidation_probability.values
    assert p[0] >= p[1] >= p[2] and p[0] > p[2]
    for name in POLICY_VARS:
        assert ds[name].dims == ("path", "top_up_reserve")
    # a sweep variant is bitwise the run of that variant alone
    alone = sim.run(_cfg(**{"policy.top_up_trigger": 1.5, "policy.transfer_delay": "2h",
                            "policy.top_up_reserve": 0.0625}), paths=4096, seed=9)
    for name in POLICY_VARS + ["liquidated", "hedged_value"]:
        np.testing.assert_array_equal(ds[name].sel(top_up_reserve=0.0625).values, alone[name].values)
