"""Exchange presets (configs/exchanges/*.toml): they load, their tier tables reproduce the
published maintenance margins, config keys override them, and every preset runs.

Hand values come from the sources cited in each preset file (the exchanges' published examples B3, N1, N3, D1 and their Bybit/OKX/Binance tables; sources in configs/exchanges/README.md).
"""

import functools
import math
import re
import tomllib

import numpy as np
import pytest

import sim
from sim.instruments.perpetual import maintenance_margin, tier_arrays
from sim.config import PRESET_DIR, ConfigError, load_preset, preset_names
from sim.engine.simulate import resolve_hedge

INVERSE = ["bitmex-xbtusd", "bybit-btcusd", "binance-btcusd-perp", "deribit-btc-perpetual", "okx-btc-usd-swap"]
LINEAR = ["bybit-btcusdt", "binance-btcusdt", "okx-btc-usdt-swap"]
ALL = INVERSE + LINEAR
# presets whose deductions ("maintenance amounts") make the margin continuous at every tier edge
CONTINUOUS = ["bybit-btcusd", "binance-btcusd-perp", "deribit-btc-perpetual", "bybit-btcusdt", "binance-btcusdt"]
# presets that apply the tier's rate to the whole position (no maintenance amount)
STEPWISE = ["bitmex-xbtusd", "okx-btc-usd-swap"]
OKX_REF_PRICE = 69_000.0  # okx-btc-usd-swap converts its contract-count tiers to BTC at this price


def collateral(name):
    return 15_000.0 if name in LINEAR else 0.2  # USD for linear, BTC for inverse


@functools.lru_cache(maxsize=None)
def tiers(name):
    return load_preset(name)["exchange"]["tiers"]


@functools.lru_cache(maxsize=None)
def _arrays(name):
    return tier_arrays(tiers(name), 0.0)


def mm(name, value):
    """Maintenance margin of the preset's tier table at a position value (margin currency),
    by the kernel's own lookup."""
    lim, rate, ded = _arrays(name)
    return maintenance_margin(float(value), lim, rate, ded, 0, len(lim))


# --------------------------------------------------------------------------- (a) loading


def test_the_expected_presets_exist():
    assert set(ALL) <= set(preset_names())


@pytest.mark.parametrize("name", ALL)
def test_preset_loads_and_fills_the_config(name):
    raw = tomllib.loads((PRESET_DIR / f"{name}.toml").read_text())
    cfg = sim.load_config(None, overrides={"exchange.preset": name})
    assert cfg.exchange.preset == name
    for section, body in raw.items():
        for key, value in body.items():
            assert getattr(cfg, section)[key] == value, f"{section}.{key}"
    assert cfg.position.contract == ("linear" if name in LINEAR else "inverse")


@pytest.mark.parametrize("name", ALL)
def test_preset_is_complete(name):
    """Every preset sets the same keys, with a tier table (not a flat rate): a sweep over
    exchange.preset then replaces every value of the previous preset."""
    raw = load_preset(name)
    assert set(raw) == {"exchange", "funding", "position"}
    assert set(raw["exchange"]) == {"name", "tiers", "taker_fee", "partial_liquidation", "partial_liquidation_tier"}
    assert set(raw["funding"]) == {"interval", "cap"}
    assert set(raw["position"]) == {"contract", "contract_size"}
    assert raw["funding"]["interval"] == "8h"  # whole steps of the default dt = 1h; one market for all
    assert 0 < raw["exchange"]["taker_fee"] < 0.001
    assert 0 < raw["funding"]["cap"] <= 0.005


@pytest.mark.parametrize("name", ALL)
def test_every_value_has_a_source_comment(name):
    """Each key (outside the tier rows) has a comment right above it or on its line."""
    lines = (PRESET_DIR / f"{name}.toml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z_]+ = ", line):
            assert "#" in line or lines[i - 1].lstrip().startswith("#"), f"{name}: {line!r} has no source comment"
    assert "[OFFICIAL" in "\n".join(lines)


@pytest.mark.parametrize("name", ALL)
def test_preset_with_plausible_overrides(name):
    lin = name in LINEAR
    over = {"exchange.preset": name, "position.collateral": collateral(name), "position.hedge_ratio": 0.5,
            "exchange.taker_fee": 0.0002, "funding.cap": 0.001, "simulation.horizon": "7d",
            "market.sigma": 0.9}
    cfg = sim.load_config(None, overrides=over)
    assert cfg.exchange.taker_fee == 0.0002 and cfg.funding.cap == 0.001
    assert cfg.position.hedge_ratio == 0.5 and cfg.market.sigma == 0.9
    assert cfg.exchange.tiers == load_preset(name)["exchange"]["tiers"]
    h = resolve_hedge(cfg)
    assert h.contracts >= 1
    # a short is liquidated above the entry
    assert h.liquidation_price > h.entry
    if lin:
        assert h.size == pytest.approx(0.5, abs=cfg.contract_size)  # BTC
    else:
        assert h.size == pytest.approx(0.5 * cfg.market.spot, abs=cfg.contract_size)  # USD


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(ConfigError, match="bitmex-xbtusd"):
        sim.load_config(None, overrides={"exchange.preset": "no-such-exchange"})


# --------------------------------------------------------------------------- (b) published tables


def test_bitmex_risk_limit_steps():
    # riskLimitsExamples: 180 XBT at the base 0.50 % -> 0.90 XBT; 230 XBT is one step up -> 1.00 %
    assert mm("bitmex-xbtusd", 180) == pytest.approx(0.90)
    assert mm("bitmex-xbtusd", 230) == pytest.approx(2.30)
    # table: < 350 XBT 1.00 %, < 500 XBT 1.50 %, < 650 XBT 2.00 %; then +0.50 % per 150 XBT
    assert mm("bitmex-xbtusd", 349) == pytest.approx(0.01 * 349)
    assert mm("bitmex-xbtusd", 400) == pytest.approx(0.015 * 400)
    assert mm("bitmex-xbtusd", 600) == pytest.approx(0.02 * 600)
    assert mm("bitmex-xbtusd", 700) == pytest.approx(0.025 * 700)
    assert mm("bitmex-xbtusd", 2000) == pytest.approx((0.005 + 12 * 0.005) * 2000)  # (2000-200)/150 = 12 steps
    assert mm("bitmex-xbtusd", 4999) == pytest.approx(0.165 * 4999)
    assert mm("bitmex-xbtusd", 20_000) == pytest.approx(0.165 * 20_000)  # the last step extends
    rows = tiers("bitmex-xbtusd")
    assert [t["limit"] for t in rows] == [200 + 150 * k for k in range(len(rows))]
    assert [t["rate"] for t in rows] == pytest.approx([0.005 * (k + 1) for k in range(len(rows))])
    assert rows[-1]["limit"] >= 5000  # "a few thousand XBT"


def test_bybit_inverse_risk_limits():
    # v5 API: tier 1 <= 150 BTC MM 0.5 %; tier 2 <= 300 BTC MM 1 %, mmDeduction 0.75
    assert mm("bybit-btcusd", 1.0) == pytest.approx(0.005)
    assert mm("bybit-btcusd", 150) == pytest.approx(0.75)
    assert mm("bybit-btcusd", 200) == pytest.approx(0.01 * 200 - 0.75)
    assert mm("bybit-btcusd", 300) == pytest.approx(3.0 - 0.75)
    assert tiers("bybit-btcusd")[1] == {"limit": 300.0, "rate": 0.01, "deduction": 0.75}


def test_binance_coinm_brackets():
    # N1: 100 contracts x 100 USD at 25,000 = 0.4 BTC, level 1: 0.4 x 0.4 % - 0 = 0.0016 BTC
    assert mm("binance-btcusd-perp", 100 * 100 / 25_000) == pytest.approx(0.0016)
    # a 300 BTC position: MMR 12.5 %, maintenance amount 11.605 BTC
    assert mm("binance-btcusd-perp", 300) == pytest.approx(0.125 * 300 - 11.605)
    # level 5 amount: 50 BTC x (5 % - 2.5 %) + 0.355 = 1.605 BTC
    assert tiers("binance-btcusd-perp")[4] == {"limit": 100.0, "rate": 0.05, "deduction": 1.605}
    assert mm("binance-btcusd-perp", 7.0) == pytest.approx(0.005 * 7 - 0.005)
    assert mm("binance-btcusd-perp", 30.0) == pytest.approx(0.025 * 30 - 0.355)


def test_binance_coinm_reproduces_the_calculator():
    """N3: cross, WB 101 BTC, long 100,000 contracts (10,000,000 USD) at 45,000; Binance's
    calculator gives LP 33,599.40. At that mark the equity equals the maintenance margin of the
    preset's bracket (200-400 BTC: 12.5 %, 11.605) to within one 0.1 USD tick."""
    q, e, wb, lp = 10_000_000.0, 45_000.0, 101.0, 33_599.40
    equity = lambda m: wb + q * (1 / e - 1 / m)  # noqa: E731  long, BTC
    margin = lambda m: mm("binance-btcusd-perp", q / m)  # noqa: E731
    assert q / lp == pytest.approx(297.6244, abs=1e-3)  # in the 200-400 BTC bracket
    assert equity(lp - 0.1) < margin(lp - 0.1)
    assert equity(lp + 0.1) > margin(lp + 0.1)
    # the older 11.81 amount would put it ~20 USD lower (the user's 33,578.86)
    assert abs(equity(lp) - margin(lp)) < q * (1 / lp - 1 / (lp + 0.1))


def test_deribit_standard_margin():
    exact = lambda v: (0.01 + 0.00005 * v) * v  # noqa: E731  MM = 1 % + size x 0.005 %
    # D1: 25 BTC -> 1.125 % = 0.28125 BTC; [CALC] 350 BTC -> 2.75 % = 9.625 BTC
    assert mm("deribit-btc-perpetual", 25) == pytest.approx(0.28125)
    assert mm("deribit-btc-perpetual", 350) == pytest.approx(9.625)
    rows = tiers("deribit-btc-perpetual")
    for t in rows:  # exact at every knot
        assert mm("deribit-btc-perpetual", t["limit"]) == pytest.approx(exact(t["limit"]), rel=1e-12)
    v = np.geomspace(1e-3, rows[-1]["limit"], 3000)
    got = np.array([mm("deribit-btc-perpetual", x) for x in v])
    assert np.all(got >= exact(v) * (1 - 1e-12))  # chords never understate it
    assert np.all(got <= exact(v) * 1.013)  # and overstate it by at most 1.3 %


def test_okx_inverse_contract_tiers():
    to_btc = lambda contracts: contracts * 100 / OKX_REF_PRICE  # noqa: E731
    # 2019 schedule: 0-999 contracts 0.5 %, 1,000-9,999 1.0 %, 15,000-24,999 2.0 %, 100,000-109,999 4.0 %
    assert mm("okx-btc-usd-swap", to_btc(690)) == pytest.approx(0.005 * to_btc(690))  # a 1 BTC hedge
    assert mm("okx-btc-usd-swap", to_btc(5_000)) == pytest.approx(0.01 * to_btc(5_000))
    assert mm("okx-btc-usd-swap", to_btc(20_000)) == pytest.approx(0.02 * to_btc(20_000))
    assert mm("okx-btc-usd-swap", to_btc(105_000)) == pytest.approx(0.04 * to_btc(105_000))
    assert mm("okx-btc-usd-swap", to_btc(125_000)) == pytest.approx(0.05 * to_btc(125_000))
    rows = tiers("okx-btc-usd-swap")
    assert rows[0]["limit"] == pytest.approx(to_btc(999), abs=1e-6)
    assert rows[9]["limit"] == pytest.approx(to_btc(129_999), abs=1e-6)
    assert [t["rate"] for t in rows] == pytest.approx([0.005 * (k + 1) for k in range(len(rows))])


def test_bybit_linear_risk_limits():
    # "position value of 2,000,000 USDT or below ... MMR 0.5% ... 2,600,000 USDT ... 0.56%"
    assert mm("bybit-btcusdt", 69_000) == pytest.approx(345.0)
    assert mm("bybit-btcusdt", 2_000_000) == pytest.approx(10_000.0)
    assert mm("bybit-btcusdt", 2_600_000) == pytest.approx(0.0056 * 2_600_000 - 1_200)
    assert mm("bybit-btcusdt", 4_000_000) == pytest.approx(0.0071 * 4_000_000 - 5_820)
    assert tiers("bybit-btcusdt")[4] == {"limit": 4_400_000.0, "rate": 0.0071, "deduction": 5_820.0}


def test_binance_linear_brackets():
    assert mm("binance-btcusdt", 69_000) == pytest.approx(0.004 * 69_000)
    assert mm("binance-btcusdt", 500_000) == pytest.approx(0.005 * 500_000 - 300)
    assert mm("binance-btcusdt", 5_000_000) == pytest.approx(0.01 * 5_000_000 - 12_000)
    assert mm("binance-btcusdt", 1e9) == pytest.approx(0.25 * 1e9 - 121_482_000)


def test_okx_linear_single_rate():
    assert mm("okx-btc-usdt-swap", 69_000) == pytest.approx(345.0)
    assert mm("okx-btc-usdt-swap", 1e8) == pytest.approx(5e5)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_maintenance_amounts_are_continuous_at_tier_edges(name):
    rows = tiers(name)
    for a, b in zip(rows[:-1], rows[1:]):
        edge = a["limit"]
        below = a["rate"] * edge - a["deduction"]
        above = b["rate"] * edge - b["deduction"]
        assert above == pytest.approx(below, rel=1e-12, abs=1e-9), f"{name} at {edge}"
        # and the lookup agrees on both sides of the edge
        assert mm(name, edge * (1 + 1e-12)) == pytest.approx(mm(name, edge), rel=1e-9)


@pytest.mark.parametrize("name", STEPWISE)
def test_stepwise_presets_have_no_deduction(name):
    rows = tiers(name)
    assert all(t["deduction"] == 0.0 for t in rows)
    # so the margin jumps at an edge by the rate step times the edge value
    edge = rows[0]["limit"]
    jump = mm(name, edge * (1 + 1e-9)) - mm(name, edge)
    assert jump == pytest.approx((rows[1]["rate"] - rows[0]["rate"]) * edge, rel=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_maintenance_margin_is_nondecreasing(name):
    last = tiers(name)[-1]["limit"]
    v = np.concatenate([np.geomspace(1e-3, last * 2, 4000), [t["limit"] for t in tiers(name)]])
    v.sort()
    m = np.array([mm(name, x) for x in v])
    assert np.all(m >= 0)
    assert np.all(np.diff(m) >= -1e-9 * np.maximum(m[1:], 1.0))


# --------------------------------------------------------------------------- (c) overrides


def test_flat_rate_replaces_preset_tiers():
    cfg = sim.load_config(None, overrides={"exchange.preset": "bitmex-xbtusd", "exchange.maintenance_margin": 0.01})
    assert cfg.exchange.tiers is None and cfg.exchange.maintenance_margin == 0.01
    assert cfg.exchange.name == "BitMEX XBTUSD" and cfg.exchange.taker_fee == 0.00075  # the rest still from the preset
    lim, rate, ded = tier_arrays(cfg.exchange.tiers, cfg.exchange.maintenance_margin)
    assert maintenance_margin(1000.0, lim, rate, ded, 0, len(lim)) == pytest.approx(10.0)  # flat, not 16.5 %


def test_user_tiers_and_keys_override_preset():
    mine = [{"limit": 10.0, "rate": 0.004, "deduction": 0.0}, {"limit": 100.0, "rate": 0.02, "deduction": 0.16}]
    cfg = sim.load_config(None, overrides={
        "exchange.preset": "binance-btcusd-perp", "exchange.tiers": mine, "exchange.taker_fee": 0.0001,
        "exchange.name": "my desk", "funding.cap": 0.01, "position.contract_size": 10.0})
    assert cfg.exchange.tiers == mine
    assert cfg.exchange.taker_fee == 0.0001 and cfg.exchange.name == "my desk"
    assert cfg.funding.cap == 0.01 and cfg.contract_size == 10.0
    assert cfg.funding.interval == "8h" and cfg.position.contract == "inverse"  # not given: from the preset


def test_preset_keys_from_a_config_file(tmp_path):
    p = tmp_path / "mine.toml"
    p.write_text('[exchange]\npreset = "okx-btc-usd-swap"\ntaker_fee = 0.0003\n'
                 '[position]\ncollateral = 0.3\n[simulation]\nhorizon = "1d"\n')
    cfg = sim.load_config(p)
    assert cfg.exchange.taker_fee == 0.0003 and cfg.position.collateral == 0.3
    assert cfg.contract_size == 100.0 and cfg.funding.cap == 0.00375
    assert len(cfg.exchange.tiers) == len(tiers("okx-btc-usd-swap"))


def test_preset_by_path(tmp_path):
    p = tmp_path / "custom.toml"
    p.write_text((PRESET_DIR / "deribit-btc-perpetual.toml").read_text().replace("0.0005", "0.0004"))
    cfg = sim.load_config(None, overrides={"exchange.preset": str(p)})
    assert cfg.exchange.taker_fee == 0.0004 and cfg.contract_size == 10.0


# --------------------------------------------------------------------------- (d) runs


@pytest.mark.parametrize("name", ALL)
def test_preset_runs(name):
    cfg = sim.load_config(None, overrides={"exchange.preset": name, "simulation.horizon": "2d",
                                           "position.collateral": collateral(name)})
    ds = sim.run(cfg, paths=2048, seed=1)
    assert ds.sizes["path"] == 2048
    for var in ("hedged_value", "unhedged_value", "index_T", "funding", "fees", "required_collateral"):
        assert np.all(np.isfinite(ds[var].values)), var
    p = float(ds["liquidated"].mean())
    assert 0.0 <= p <= 1.0
    assert np.all(ds["fees"].values > 0)
    # the hedge offsets the stack's USD moves. Inverse: a 1:1 short of the 1 BTC stack leaves only
    # the 0.2 BTC collateral exposed, so hedged/unhedged spread = 0.2 / (1 + 0.2); linear: USD
    # collateral, nothing left but fees, funding and basis
    ratio = float(ds["hedged_value"].std()) / float(ds["unhedged_value"].std())
    if name in LINEAR:
        assert ratio < 0.01
    else:
        assert ratio == pytest.approx(0.2 / 1.2, abs=0.01)


def test_sweep_over_inverse_presets_runs_on_common_paths(tmp_path):
    p = tmp_path / "sweep.toml"
    p.write_text('[exchange]\npreset = "bitmex-xbtusd"\n[position]\ncollateral = 0.2\n'
                 '[simulation]\nhorizon = "2d"\n[sweep]\n"exchange.preset" = '
                 + "[" + ", ".join(f'"{n}"' for n in INVERSE) + "]\n")
    ds = sim.run(sim.load_config(p), paths=512, seed=3)
    assert list(ds["exchange"].values) == INVERSE
    # one market: the index is shared by every variant
    assert "exchange" not in ds["index_T"].dims
    assert np.all(np.isfinite(ds["hedged_value"].values))
    assert math.isfinite(float(ds["liquidated"].mean()))


def test_config_pickles_and_copies_with_its_preset():
    """A Config survives pickle and deepcopy (dask ships it to workers; the sweep code
    copies it), keeping the merged preset values and what the user wrote."""
    import copy
    import pickle

    cfg = sim.load_config(None, overrides={"exchange.preset": "bybit-btcusd", "market.sigma": 0.7})
    for back in (pickle.loads(pickle.dumps(cfg)), copy.deepcopy(cfg)):
        assert back.to_dict() == cfg.to_dict()
        assert back.market.sigma == 0.7 and back.exchange.preset == "bybit-btcusd"
        assert back.replace({"market.sigma": 0.5}).to_dict() == cfg.replace({"market.sigma": 0.5}).to_dict()
