"""Sweeps in SIMD lanes (sim.kernel.account_lanes, issue 16 item 4).

The static flat-rate variants of a sweep advance together along each market step; every
variant's per-path results must be bitwise those of the per-variant account pass, i.e.
of a separate run of that variant with the same seed (a variant alone never takes the
lanes: fewer than MIN_LANES). Checked on sweeps that mix inverse and linear contracts, a
zero-size hedge, funding caps, report times, saved paths, discrete monitoring with
antithetic pairs, more lane variants than one pass holds (STRIDE), and exchange presets
whose tiered or partially liquidated variants keep their own passes next to the lanes.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np

import sim
from sim.engine.hedge import account_args, resolve_hedge
from sim.kernel import account_lanes

engine_simulate = importlib.import_module("sim.engine.simulate")

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "default.toml"
OUTPUTS = ["liquidated", "liquidation_time", "funding", "funding_usd", "fees", "min_margin_level",
           "required_collateral", "max_drawdown", "value_at"]


def assert_variants_bitwise(cfg, paths, only=None):
    """Each variant of the sweep ``cfg`` (or those listed in ``only``) against a separate run."""
    raw = sim.engine.simulate(cfg, paths=paths)
    _, vcfgs = engine_simulate.variants(cfg)
    for v in (range(len(vcfgs)) if only is None else only):
        alone = sim.engine.simulate(vcfgs[v], paths=paths).outputs
        for name in OUTPUTS:
            a, b = getattr(raw.outputs, name)[:, v], getattr(alone, name)[:, 0]
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), (v, name)
        if v == 0:
            assert np.array_equal(raw.outputs.saved, alone.saved, equal_nan=True)
            assert np.array_equal(raw.outputs.index_at, alone.index_at)
    return raw


def test_lane_plan_takes_static_flat_variants_only():
    cfg = sim.load_config(DEFAULT)
    flat = [resolve_hedge(cfg.replace({"position.hedge_ratio": h})) for h in (0.5, 1.0, 1.5)]
    lanes, member = account_lanes.lane_plan(account_args(flat))
    assert list(lanes) == [0, 1, 2] and member.all()
    lanes, member = account_lanes.lane_plan(account_args(flat[:1]))  # one account runs fastest alone
    assert lanes.size == 0 and not member.any()
    tiered = cfg.replace({"exchange.maintenance_margin": None,
                          "exchange.tiers": [{"limit": 1.0, "rate": 0.005}, {"limit": 10.0, "rate": 0.01}]})
    managed = cfg.replace({"policy.top_up_trigger": 1.5, "policy.top_up_to": 2.0, "policy.top_up_reserve": 0.1})
    mixed = [flat[0], resolve_hedge(tiered), flat[1], flat[2]]
    lanes, member = account_lanes.lane_plan(account_args(mixed))
    assert list(lanes) == [0, 2, 3] and list(member) == [True, False, True, True]
    # one managed variant makes every variant of the run managed (sim.engine.hedge): no lanes
    lanes, member = account_lanes.lane_plan(account_args(flat + [resolve_hedge(managed)]))
    assert lanes.size == 0 and not member.any()


def test_twenty_variants_with_report_times_and_saved_paths():
    cfg = sim.load_config(DEFAULT, overrides={"simulation.horizon": "4d", "simulation.report_at": ["1d", "2d"],
                                              "simulation.save_paths": 3})
    raw = assert_variants_bitwise(cfg.with_sweep({"position.collateral": [0.02, 0.05, 0.1, 0.25, 0.5],
                                                  "position.hedge_ratio": [0.5, 0.75, 1.0, 1.25]}), 2048)
    liq = raw.outputs.liquidated.mean(axis=0)
    assert liq.max() > 0.3 and liq.min() == 0.0  # liquidations and survivors among the lanes


def test_inverse_and_linear_lanes_zero_size_and_funding_cap():
    cfg = sim.load_config(None, overrides={
        "market.sigma": 0.6, "market.spot": 60_000.0, "exchange.maintenance_margin": 0.005,
        "exchange.taker_fee": 0.00075, "position.collateral_usd": 3000.0, "simulation.horizon": "3d",
        "simulation.report_at": ["1d"]})
    assert_variants_bitwise(cfg.with_sweep({"position.contract": ["inverse", "linear"],
                                            "position.hedge_ratio": [0.0, 0.5, 1.0],
                                            "funding.cap": [0.0001, 0.00375]}), 2048)


def test_discrete_monitoring_antithetic_and_maintenance_sweep():
    cfg = sim.load_config(DEFAULT, overrides={"simulation.horizon": "3d", "simulation.monitoring": "discrete",
                                              "simulation.antithetic": True})
    assert_variants_bitwise(cfg.with_sweep({"position.collateral": [0.03, 0.06, 0.1],
                                            "exchange.maintenance_margin": [0.004, 0.01, 0.02]}), 2048)


def test_more_lane_variants_than_one_pass_holds():
    n = account_lanes.STRIDE + 6
    hedge_ratios = list(np.round(np.linspace(0.3, 1.3, n), 6))
    cfg = sim.load_config(DEFAULT, overrides={"simulation.horizon": "1d"}).with_sweep(
        {"position.hedge_ratio": hedge_ratios})
    assert_variants_bitwise(cfg, 1024, only=[0, account_lanes.STRIDE - 1, account_lanes.STRIDE, n - 1])


def test_presets_mix_lanes_with_tiered_passes():
    """Tiered presets keep the per-variant pass, the flat one (OKX USDT: one tier) runs in lanes;
    inverse and linear presets together, the collateral in USD."""
    cfg = sim.load_config(None, overrides={"market.spot": 69_000.0, "market.sigma": 0.5,
                                           "position.collateral_usd": 7000.0, "simulation.horizon": "3d"})
    swept = cfg.with_sweep({"exchange.preset": ["binance-btcusd-perp", "okx-btc-usdt-swap", "deribit-btc-perpetual",
                                                "binance-btcusdt"], "position.hedge_ratio": [0.75, 1.0]})
    _, vcfgs = engine_simulate.variants(swept)
    lanes, member = account_lanes.lane_plan(account_args([resolve_hedge(vc) for vc in vcfgs]))
    assert list(lanes) == [2, 3]  # some variants in lanes, the others in their own passes
    raw = assert_variants_bitwise(swept, 2048)
    assert raw.outputs.liquidated.any()
