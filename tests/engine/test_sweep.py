"""Sweeps on common random numbers and report times (issue 4 §2 and §4).

A sweep evaluates every hedge variant along the same market paths in one pass. The
contract checked here: each variant's per-path results are bitwise those of a separate
run of that variant with the same seed; sweep dims are named by the key's last part and
hold the swept values; differences against the first variant carry paired standard
errors that are far smaller than those of independent runs; keys that would change the
market are refused. Report times add a ``time`` dim whose last entry is the horizon and
equals the run without report times.

Runs are short (2-7 days of hourly steps, 2,000-20,000 paths).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import sim

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "default.toml"
SEED_EXAMPLE = ROOT / "configs" / "seed_example.toml"

PER_PATH = ["index_T", "mark_T", "liquidated", "liquidation_time", "hedged_value", "unhedged_value", "hedged_pnl",
            "unhedged_pnl", "funding", "funding_usd", "fees", "min_margin_level", "required_collateral",
            "max_drawdown"]
SUMMARY = ["liquidation_probability", "liquidation_probability_low", "liquidation_probability_high", "value_at_risk", "expected_shortfall",
           "pnl_mean", "pnl_std", "pnl_quantile", "hedge_effectiveness", "funding_mean", "liquidation_price",
           "leverage", "collateral_posted", "hedge_size", "contracts", "initial_wealth"]
BITWISE_SUMMARY = ["liquidation_probability", "liquidation_probability_low", "liquidation_probability_high", "value_at_risk",
                   "expected_shortfall", "pnl_quantile", "liquidation_price", "leverage", "collateral_posted", "hedge_size",
                   "contracts", "initial_wealth"]




def default_cfg(**over):
    """configs/default.toml (Merton jumps, stochastic funding and basis) over 5 days."""
    return sim.load_config(DEFAULT, overrides={"simulation.horizon": "5d", "simulation.paths": 4000, **over})


def assert_same_variant(sweep_ds, alone, sel):
    """Per-path results and the hedge's facts bitwise; summary statistics to 1e-12
    (reductions over a multi-dim array may sum in another order: last-bit differences)."""
    v = sweep_ds.sel(sel)
    for name in PER_PATH + SUMMARY:
        a, b = v[name].values, alone[name].values
        assert a.shape == b.shape, (sel, name)
        if name in PER_PATH or name in BITWISE_SUMMARY:
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), (sel, name)
        else:
            assert np.allclose(a, b, rtol=1e-12, atol=0, equal_nan=True), (sel, name)


# --------------------------------------------------------------------------- sweep = separate runs


def test_position_sweep_equals_separate_runs():
    cfg = default_cfg()
    ds = sim.run(cfg.with_sweep({"position.collateral": [0.1, 0.3], "position.hedge_ratio": [0.5, 1]}))
    assert ds["hedged_pnl"].dims == ("path", "collateral", "hedge_ratio")
    assert ds["liquidated"].dims == ("path", "collateral", "hedge_ratio")
    assert ds["index_T"].dims == ("path",)  # one market for all variants
    assert list(ds["collateral"].values) == [0.1, 0.3] and list(ds["hedge_ratio"].values) == [0.5, 1.0]
    assert ds.attrs["variants"] == 4
    for c in (0.1, 0.3):
        for h in (0.5, 1):
            alone = sim.run(cfg.replace({"position.collateral": c, "position.hedge_ratio": h}))
            assert_same_variant(ds, alone, {"collateral": c, "hedge_ratio": h})
    # the variants do differ (the sweep is not one run copied four times)
    p = ds["liquidation_probability"]
    assert float(p.sel(collateral=0.1, hedge_ratio=1)) > float(p.sel(collateral=0.3, hedge_ratio=1)) >= 0
    assert float(p.sel(collateral=0.1, hedge_ratio=1)) > 0


def test_exchange_sweep_equals_separate_runs():
    cfg = default_cfg(**{"position.collateral": 0.1})
    ds = sim.run(cfg.with_sweep({"exchange.taker_fee": [0.0, 0.00075], "exchange.maintenance_margin": [0.004, 0.01]}))
    assert ds["liquidated"].dims == ("path", "taker_fee", "maintenance_margin")
    for fee in (0.0, 0.00075):
        for mmr in (0.004, 0.01):
            alone = sim.run(cfg.replace({"exchange.taker_fee": fee, "exchange.maintenance_margin": mmr}))
            assert_same_variant(ds, alone, {"taker_fee": fee, "maintenance_margin": mmr})
    # a higher maintenance margin liquidates more, path by path (same paths)
    liq = ds["liquidated"]
    assert bool((liq.sel(maintenance_margin=0.01) >= liq.sel(maintenance_margin=0.004)).all())


def test_sweep_through_the_cli_and_funding_cap(tmp_path, cli):
    out = tmp_path / "s.zarr"
    code, text, err = cli(["run", DEFAULT, "--set", "simulation.horizon=2d", "--paths", 2000, "-q",
                           "--set", "position.collateral=0.1",
                           "--sweep", "funding.cap=0.0005,0.00375", "--sweep", "position.hedge_ratio=0.5,1",
                           "--out", out])
    assert code == 0, err
    assert "sweep over cap, hedge_ratio on common random numbers" in text
    # the four variant rows (the header's "sweep:" line repeats the option: funding.cap=...)
    assert sum(line.startswith("cap=") for line in text.splitlines()) == 4
    ds = sim.open_result(str(out))
    assert ds["funding"].dims == ("path", "cap", "hedge_ratio")
    alone = sim.run(sim.load_config(DEFAULT, overrides={"simulation.horizon": "2d", "simulation.paths": 2000,
                                                       "position.collateral": 0.1, "funding.cap": 0.0005,
                                                       "position.hedge_ratio": 0.5}))
    assert_same_variant(ds, alone, {"cap": 0.0005, "hedge_ratio": 0.5})
    # --set applies before --sweep: the swept value wins over a --set of the same key
    code, text, err = cli(["run", DEFAULT, "--set", "simulation.horizon=2d", "--paths", 1000, "-q", "--no-save",
                           "--set", "position.hedge_ratio=0.25", "--sweep", "position.hedge_ratio=0.5,1"])
    assert code == 0, err
    rows = [line for line in text.splitlines() if line.startswith("hedge_ratio=")]  # the variant rows
    assert [r.split()[0] for r in rows] == ["hedge_ratio=0.5", "hedge_ratio=1"]


def test_contract_sweep_needs_collateral_in_usd(cli):
    """position.collateral is BTC for inverse and USD for linear, so one number cannot margin
    both: an inverse-vs-linear sweep is refused unless the collateral is given as
    position.collateral_usd (converted to BTC at the spot for the inverse variant)."""
    code, out, err = cli(["run", SEED_EXAMPLE, "--paths", 1000, "--set", "simulation.horizon=2d", "-q", "--no-save",
                          "--sweep", "position.contract=inverse,linear"])
    assert code == 2 and out == ""
    assert "inverse and linear" in err and "position.collateral_usd" in err
    # the seed example's values, with the collateral in USD
    cfg = sim.load_config(None, overrides={
        "market.sigma": 0.6, "market.spot": 60_000.0, "funding.initial": 0.0, "funding.mean": 0.0,
        "exchange.maintenance_margin": 0.005, "exchange.taker_fee": 0.0, "position.collateral_usd": 3000.0,
        "simulation.horizon": "2d", "simulation.paths": 3000, "simulation.seed": 7})
    ds = sim.run(cfg.with_sweep({"position.contract": ["inverse", "linear"]}))
    assert list(ds["contract"].values) == ["inverse", "linear"]
    for kind in ("inverse", "linear"):
        assert_same_variant(ds, sim.run(cfg.replace({"position.contract": kind})), {"contract": kind})
    # 3,000 USD is 0.05 BTC at 60,000 for the inverse variant: the worked example of docs/tutorial.md
    inv, lin = ds.sel(contract="inverse"), ds.sel(contract="linear")
    assert float(inv["collateral_posted"]) == pytest.approx(0.05, rel=1e-12)
    assert float(lin["collateral_posted"]) == 3000.0
    # hand-computed liquidation prices: inverse Q (1 - mmr) / (Q/E - C) = 60,000 x 0.995 / 0.95;
    # linear (C + qE) / (q (1 + mmr)) = 63,000 / 1.005
    assert float(inv["liquidation_price"]) == pytest.approx(60_000 * 0.995 / 0.95, rel=1e-9)
    assert float(lin["liquidation_price"]) == pytest.approx(63_000 / 1.005, rel=1e-9)
    # the linear short is liquidated at a lower price, so on a superset of the inverse's paths
    li, ll = inv["liquidated"].values, lin["liquidated"].values
    assert np.all(li <= ll) and ll.sum() > li.sum() > 0
    d = float(ds["liquidation_probability_vs_base"].sel(contract="linear"))
    assert d == pytest.approx((ll.sum() - li.sum()) / ll.size, abs=1e-15)


# --------------------------------------------------------------------------- dims and paired SEs


def test_dim_names_are_the_last_part_of_the_key():
    cfg = sim.load_config(SEED_EXAMPLE, overrides={"simulation.horizon": "1d", "simulation.paths": 1000})
    ds = sim.run(cfg.with_sweep({"exchange.taker_fee": [0.0, 0.0005], "position.stack": [1.0, 2.0]}))
    assert set(ds["liquidated"].dims) == {"path", "taker_fee", "stack"}
    assert ds["taker_fee"].attrs["long_name"] == "swept exchange.taker_fee"
    assert list(ds["stack"].values) == [1.0, 2.0]
    # per-variant facts of the hedge follow the sweep dims
    assert ds["hedge_size"].dims == ("taker_fee", "stack")
    assert float(ds["hedge_size"].sel(taker_fee=0.0, stack=2.0)) == 120_000.0
    assert float(ds["initial_wealth"].sel(taker_fee=0.0, stack=2.0)) == pytest.approx(2.05 * 60_000)


def test_paired_se_is_much_smaller_than_independent():
    n = 20_000
    cfg = sim.load_config(SEED_EXAMPLE, overrides={"simulation.horizon": "7d", "simulation.paths": n})
    ds = sim.run(cfg.with_sweep({"position.collateral": [0.10, 0.105]}))
    p1 = float(ds["liquidation_probability"].sel(collateral=0.10))
    p2 = float(ds["liquidation_probability"].sel(collateral=0.105))
    assert 0.05 < p2 < p1 < 0.5
    d = float(ds["liquidation_probability_vs_base"].sel(collateral=0.105))
    se = float(ds["liquidation_probability_vs_base_se"].sel(collateral=0.105))
    assert d == pytest.approx(p2 - p1, abs=1e-15)
    # paired: only paths whose R lies in [0.10, 0.105) differ, so se = sqrt(d(1-d)... )/n
    flips = -d  # the share of paths liquidated at 0.10 but not at 0.105
    assert se == pytest.approx(math.sqrt(flips * (1 - flips) * n / (n - 1) / n), rel=1e-9)
    independent = math.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / n)
    assert se * 3 < independent, (se, independent)
    # the first variant against itself: exactly zero
    assert float(ds["liquidation_probability_vs_base"].sel(collateral=0.10)) == 0.0
    assert float(ds["liquidation_probability_vs_base_se"].sel(collateral=0.10)) == 0.0
    # ES differences too: paired SE of ES(hedged) vs the first variant, and hedged vs unhedged
    assert ds["es_hedged_vs_base"].dims == ("collateral", "level")
    assert np.all(ds["es_hedged_vs_base_se"].sel(collateral=0.105).values >= 0)
    assert ds["es_hedged_minus_unhedged"].dims == ("collateral", "level")
    es_se = ds["expected_shortfall_se"].sel(portfolio="hedged", collateral=0.105, level=0.99)
    assert float(ds["es_hedged_vs_base_se"].sel(collateral=0.105, level=0.99)) < float(es_se)


# --------------------------------------------------------------------------- refused sweeps


@pytest.mark.parametrize("key", ["market.sigma=0.5,0.6", "funding.mean=0,0.0001", "basis.stationary_std=0,0.001",
                                 "simulation.dt=1h,15min"])
def test_market_keys_cannot_be_swept(key, cli):
    code, out, err = cli(["run", SEED_EXAMPLE, "--paths", 100, "-q", "--no-save", "--sweep", key])
    assert code == 2 and out == ""
    assert err.startswith("hedgesim: error:") and len(err.strip().splitlines()) == 1
    assert f'sweep."{key.split("=")[0]}": changes the simulated market' in err
    assert "only position.*, exchange.* and funding.cap" in err


def test_market_key_in_a_sweep_table_is_refused(tmp_path, cli):
    p = tmp_path / "s.toml"
    p.write_text('[simulation]\npaths = 100\n[sweep]\n"market.sigma" = [0.5, 0.8]\n', encoding="utf-8")
    code, out, err = cli(["run", p, "-q", "--no-save"])
    assert code == 2 and 'sweep."market.sigma": changes the simulated market' in err


def test_sweep_table_in_a_config_file(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[simulation]\npaths = 1000\nhorizon = "1d"\n[sweep]\n"position.hedge_ratio" = [0.5, 1.0]\n',
                 encoding="utf-8")
    ds = sim.run(sim.load_config(p))
    assert list(ds["hedge_ratio"].values) == [0.5, 1.0]
    alone = sim.run(sim.load_config(p, overrides={"position.hedge_ratio": 1.0}).without_sweep())
    assert_same_variant(ds, alone, {"hedge_ratio": 1.0})


# --------------------------------------------------------------------------- report times


def test_report_at_adds_a_time_dim_equal_to_the_horizon_run():
    cfg = default_cfg(**{"simulation.horizon": "7d", "simulation.paths": 3000, "position.collateral": 0.1})
    base = sim.run(cfg)
    ds = sim.run(cfg.replace({"simulation.report_at": ["1d", "7d"]}))
    assert list(ds["time"].values) == [1.0, 7.0]
    assert ds["time"].attrs["units"] == "days"
    assert ds["hedged_value"].dims == ("path", "time")
    assert ds["liquidated"].dims == ("path",)  # liquidation is over the whole horizon
    for name in ("hedged_value", "unhedged_value", "hedged_pnl", "unhedged_pnl"):
        assert np.array_equal(ds[name].isel(time=-1).values, base[name].values), name
    for name in ("liquidated", "funding", "index_T", "required_collateral", "max_drawdown"):
        assert np.array_equal(ds[name].values, base[name].values, equal_nan=True), name
    # risk by report time; at the horizon it is the risk of the run without report times
    assert set(ds["expected_shortfall"].dims) == {"time", "portfolio", "level"}
    for name in ("expected_shortfall", "value_at_risk"):
        assert np.array_equal(ds[name].isel(time=-1).transpose(*base[name].dims).values, base[name].values), name
    # the unhedged risk grows with time (sqrt(7) ~ 2.6 for diffusion)
    es_u = ds["expected_shortfall"].sel(portfolio="unhedged", level=0.99)
    assert 1.8 < float(es_u.sel(time=7.0)) / float(es_u.sel(time=1.0)) < 3.5
    # the early slice is the value at that time: unhedged (N + C) S_1d; a path liquidated by
    # then holds the bare stack from then on
    liq_early = ds["liquidation_time"].values <= 1.0
    hv1 = ds["hedged_value"].sel(time=1.0).values
    uv1 = ds["unhedged_value"].sel(time=1.0).values
    assert liq_early.any()
    assert np.allclose(hv1[liq_early], uv1[liq_early] / 1.1, rtol=1e-12)


def test_report_at_with_a_sweep_and_outside_the_horizon(cli):
    cfg = default_cfg(**{"simulation.horizon": "2d", "simulation.paths": 1000, "simulation.report_at": ["12h"]})
    ds = sim.run(cfg.with_sweep({"position.hedge_ratio": [0.5, 1.0]}))
    assert ds["hedged_pnl"].dims == ("path", "hedge_ratio", "time")
    assert list(ds["time"].values) == [0.5, 2.0]
    code, out, err = cli(["run", DEFAULT, "--paths", 100, "-q", "--no-save", "--set", "simulation.horizon=2d",
                          "--set", 'simulation.report_at=["3d"]'])
    assert code == 2 and "simulation.report_at[0]" in err and "within simulation.horizon" in err


def test_tail_statistics_and_shortfall_probability():
    cfg = sim.load_config(SEED_EXAMPLE, overrides={"simulation.horizon": "7d", "simulation.paths": 5000,
                                                   "simulation.value_threshold": 62_000.0})
    ds = sim.run(cfg)
    hv = ds["hedged_value"].values
    assert float(ds["shortfall_probability"]) == np.count_nonzero(hv < 62_000.0) / hv.size
    assert 0 < float(ds["shortfall_probability"]) < 1
    assert float(ds["shortfall_probability_low"]) < float(ds["shortfall_probability"]) < float(ds["shortfall_probability_high"])
    q = ds["quantile_level"].values
    t = ds["liquidation_time"].values
    assert np.allclose(ds["liquidation_time_quantile"].values, np.quantile(t[~np.isnan(t)], q))
    assert np.allclose(ds["funding_quantile"].values, np.quantile(ds["funding"].values, q))
    assert np.allclose(ds["max_drawdown_quantile"].values, np.quantile(ds["max_drawdown"].values, q))
    assert ds["liquidation_time_quantile"].attrs["units"] == "days"
    # hedged minus unhedged ES on the same paths, with its paired SE
    d = ds["es_hedged_minus_unhedged"].sel(level=0.99)
    es = ds["expected_shortfall"].sel(level=0.99)
    assert float(d) == pytest.approx(float(es.sel(portfolio="hedged") - es.sel(portfolio="unhedged")), rel=1e-12)
    assert float(ds["es_hedged_minus_unhedged_se"].sel(level=0.99)) > 0
