"""``hedgesim margin`` (issue 4 §1): the liquidation curve and the minimum collateral.

The curve comes from one run through the collateral identity (docs/model.md: liquidated
iff C <= R, R = ``required_collateral``). These tests check it against what it claims to replace: direct
runs (``sim.run`` with ``position.collateral`` set to the level, same seed and paths),
which must give exactly the same liquidation probability, for a flat maintenance rate and
for a tier table the hedge crosses. The minimum collateral is checked against its
order-statistic definition with direct runs just above and just below it.

Small and short on purpose: the seed example (configs/seed_example.toml) over 7 days
(168 hourly steps), 12,000 paths (10,000 for the direct-grid method and the sweep), so the whole file runs in a few seconds.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sim
from sim.cli.main import main
from sim.analysis.margin import MIN_EVENTS, run_margin
from sim.report.text import format_margin

ROOT = Path(__file__).resolve().parents[2]
SEED_EXAMPLE = ROOT / "configs" / "seed_example.toml"
PATHS = 12_000
SHORT = {"simulation.horizon": "7d", "simulation.paths": PATHS}
# BTC-valued tiers (inverse): 0.5 % up to a position value of 0.9 BTC, 1 % above. The hedge is
# Q = 60,000 USD, so its value Q/M is 1 BTC at entry (tier 2) and falls below 0.9 BTC once the
# mark passes 66,667 USD: the liquidations of the larger collateral levels happen in tier 1.
TIERS = [{"limit": 0.9, "rate": 0.005}, {"limit": 1e9, "rate": 0.01}]




def seed_cfg(**over):
    return sim.load_config(SEED_EXAMPLE, overrides={**SHORT, **over})


def tiered_cfg(**over):
    return seed_cfg(**{"exchange.maintenance_margin": None, "exchange.tiers": TIERS, **over})


def pick_levels(curve: xr.Dataset, k: int = 3) -> list[float]:
    """k grid levels spread over the informative part of the curve (0.3 % < P < 90 %)."""
    p = curve["liquidation_probability"].values
    grid = curve["collateral"].values
    idx = np.where((p > 0.003) & (p < 0.9))[0]
    assert idx.size >= k
    return [float(grid[i]) for i in idx[np.linspace(0, idx.size - 1, k).astype(int)]]


def direct(cfg, collateral: float) -> xr.Dataset:
    return sim.run(cfg.replace({"position.collateral": float(collateral)}))


@pytest.fixture(scope="module")
def flat_cli(tmp_path_factory):
    """``hedgesim margin`` on the seed example, written with --out and read back."""
    out = tmp_path_factory.mktemp("margin") / "curve.zarr"
    code = main(["margin", str(SEED_EXAMPLE), "--no-band", "--set", "simulation.horizon=7d", "--paths", str(PATHS),
                 "--target", "0.01", "--target", "0.02", "--target", "0.0001", "--out", str(out), "-q"])
    assert code == 0
    return sim.open_result(str(out))


@pytest.fixture(scope="module")
def tiered():
    cfg = tiered_cfg()
    ds, tiered = run_margin(cfg, [0.01])
    return cfg, ds, format_margin(ds, tiered)


# --------------------------------------------------------------------------- (a) curve = direct runs


def test_flat_curve_equals_direct_runs_exactly(flat_cli):
    cfg = seed_cfg()
    for c in pick_levels(flat_cli):
        d = direct(cfg, c)
        row = flat_cli.sel(collateral=c)
        for suffix in ("", "_low", "_high"):
            assert float(row["liquidation_probability" + suffix]) == float(d["liquidation_probability" + suffix]), (c, suffix)
        # the identity path by path, on the direct run itself
        assert np.array_equal(d["liquidated"].values, c <= d["required_collateral"].values)


def test_tiered_curve_equals_direct_runs_exactly(tiered):
    cfg, ds, _ = tiered
    levels = pick_levels(ds)
    for c in levels:
        d = direct(cfg, c)
        row = ds.sel(collateral=c)
        for suffix in ("", "_low", "_high"):
            assert float(row["liquidation_probability" + suffix]) == float(d["liquidation_probability" + suffix]), (c, suffix)
        assert np.array_equal(d["liquidated"].values, c <= d["required_collateral"].values)
    # the hedge really crosses the tiers: small collateral is liquidated in tier 2 (1 %),
    # the largest level in tier 1 (0.5 %, position value below 0.9 BTC); hand-computed
    # L = Q (1 - rate) / (Q/E - C) with Q = 60,000, Q/E = 1 BTC, no fee
    small = direct(cfg, 0.05)
    assert float(small["liquidation_price"]) == pytest.approx(60_000 * 0.99 / 0.95, rel=1e-9)
    big = direct(cfg, 0.15)
    lp = float(big["liquidation_price"])
    assert lp == pytest.approx(60_000 * 0.995 / 0.85, rel=1e-9)
    assert 60_000 / lp < 0.9
    # and the tiers decide the answer, path by path: a level that only tier 2 can liquidate
    # (C = 0.05: L = 62,526 < 66,667) behaves like a flat 1 %, a level only tier 1 can
    # liquidate (C = 0.15: in tier 2, 1 - 0.99 Q/M < 0.15 for every mark) like a flat 0.5 %
    flat_lo, flat_hi = seed_cfg(**{"exchange.maintenance_margin": 0.005}), seed_cfg(**{"exchange.maintenance_margin": 0.01})
    assert np.array_equal(small["liquidated"].values, direct(flat_hi, 0.05)["liquidated"].values)
    assert np.array_equal(big["liquidated"].values, direct(flat_lo, 0.15)["liquidated"].values)
    assert float(direct(flat_lo, 0.05)["liquidation_probability"]) < float(small["liquidation_probability"])
    assert float(big["liquidation_probability"]) < float(direct(flat_hi, 0.15)["liquidation_probability"])


def test_tiered_margin_says_the_identity_still_holds(tiered):
    _, ds, text = tiered
    assert "tiered maintenance margin" in text
    assert "identity" in ds.attrs["method"]


# --------------------------------------------------------------------------- (b) minimum collateral


@pytest.mark.parametrize("which", ["flat", "tiered"])
def test_min_collateral_is_the_order_statistic(which, flat_cli, tiered):
    if which == "flat":
        cfg, ds, p = seed_cfg(), flat_cli, 0.01
    else:
        cfg, ds, p = tiered[0], tiered[1], 0.01
    row = ds.sel(target=p)
    mc, lo, hi = float(row["min_collateral"]), float(row["min_collateral_low"]), float(row["min_collateral_high"])
    assert 0 < lo < mc < hi
    # just above: at most a share p of paths liquidated; just below: more than p
    assert float(direct(cfg, mc * (1 + 1e-9))["liquidation_probability"]) <= p
    assert float(direct(cfg, mc * (1 - 1e-6))["liquidation_probability"]) > p
    # the interval ends are order statistics too: below the low end clearly more than p
    # are liquidated, above the high end clearly fewer
    assert float(direct(cfg, lo * (1 - 1e-6))["liquidation_probability"]) > p
    assert float(direct(cfg, hi * (1 + 1e-9))["liquidation_probability"]) < p
    # leverage = position value at entry (Q/E = 1 BTC) / min collateral
    assert float(row["leverage"]) == pytest.approx(1.0 / mc, rel=1e-12)


# --------------------------------------------------------------------------- (c) unresolvable target


def test_unresolvable_target_is_nan_with_paths_needed(flat_cli, cli, tmp_path):
    row = flat_cli.sel(target=0.0001)
    assert math.isnan(float(row["min_collateral"]))
    assert math.isnan(float(row["min_collateral_low"])) and math.isnan(float(row["min_collateral_high"]))
    assert math.isnan(float(row["leverage"]))
    assert int(row["paths_needed"]) == MIN_EVENTS / 0.0001 == 1_000_000
    # resolvable targets are numbers
    assert np.isfinite(flat_cli["min_collateral"].sel(target=[0.01, 0.02]).values).all()
    code, out, err = cli(["margin", SEED_EXAMPLE, "--set", "simulation.horizon=2d", "--paths", 5000,
                          "--target", "0.001", "--no-save", "-q"])
    assert code == 0, err
    line = next(x for x in out.splitlines() if x.strip().startswith("0.1 %"))
    assert "not resolvable with 5,000 paths" in line and "needs at least 100,000" in line
    assert "to" not in line.split("needs")[0]  # no number posing as an estimate or interval


# --------------------------------------------------------------------------- (d) the file contract


def test_margin_dataset_contract(flat_cli):
    ds = flat_cli
    assert set(ds.dims) == {"target", "collateral"}
    for name in ("min_collateral", "min_collateral_low", "min_collateral_high", "leverage"):
        assert ds[name].dims == ("target",), name
    for name in ("liquidation_probability", "liquidation_probability_low", "liquidation_probability_high"):
        assert ds[name].dims == ("collateral",), name
    # leverage along the curve is a coordinate on the collateral dim (named leverage_at:
    # `leverage` is already the variable over target)
    assert "leverage_at" in ds.coords and ds["leverage_at"].dims == ("collateral",)
    c = ds["collateral"].values
    pos = c > 0
    assert np.allclose(ds["leverage_at"].values[pos], 1.0 / c[pos], rtol=1e-12)
    assert list(ds["target"].values) == [0.01, 0.02, 0.0001]
    assert ds["min_collateral"].attrs["units"] == "BTC" and ds["collateral"].attrs["units"] == "BTC"
    assert ds["liquidation_probability"].attrs["units"] == "1"
    # the curve: non-increasing in collateral, inside its band, and the configured level on the grid
    p = ds["liquidation_probability"].values
    assert np.all(np.diff(p) <= 0)
    assert np.all(ds["liquidation_probability_low"].values <= p) and np.all(p <= ds["liquidation_probability_high"].values)
    assert 0.05 in c
    assert ds.attrs["seed"] == 7 and ds.attrs["paths"] == PATHS


# --------------------------------------------------------------------------- (e) sweeps


def test_margin_sweep_adds_a_dim_per_key(tmp_path, cli):
    out = tmp_path / "sweep.zarr"
    code, text, err = cli(["margin", SEED_EXAMPLE, "--set", "simulation.horizon=7d", "--paths", 10_000,
                           "--sweep", "position.hedge_ratio=0.5,1", "--target", "0.01", "--out", out, "-q"])
    assert code == 0, err
    assert text.count("variant: hedge_ratio=") == 2
    ds = sim.open_result(str(out))
    assert set(ds.dims) == {"hedge_ratio", "target", "collateral"}
    assert list(ds["hedge_ratio"].values) == [0.5, 1.0]
    assert set(ds["min_collateral"].dims) == {"hedge_ratio", "target"}
    assert set(ds["liquidation_probability"].dims) == {"hedge_ratio", "collateral"}
    # each variant's answer is that of its own margin run, and of a direct run
    for h in (0.5, 1.0):
        cfg = seed_cfg(**{"position.hedge_ratio": h, "simulation.paths": 10_000})
        alone, _ = run_margin(cfg, [0.01])
        assert float(ds["min_collateral"].sel(hedge_ratio=h, target=0.01)) == float(alone["min_collateral"].sel(target=0.01))
        v = ds.sel(hedge_ratio=h)
        c = pick_levels(v, 1)[0]
        assert float(v["liquidation_probability"].sel(collateral=c)) == float(direct(cfg, c)["liquidation_probability"])
    # half the hedge needs about half the collateral
    m = ds["min_collateral"].sel(target=0.01)
    assert float(m.sel(hedge_ratio=0.5)) == pytest.approx(0.5 * float(m.sel(hedge_ratio=1.0)), rel=0.1)


def test_margin_rejects_a_collateral_sweep(cli):
    code, out, err = cli(["margin", SEED_EXAMPLE, "--paths", 1000, "--sweep", "position.collateral=0.1,0.2",
                          "--no-save", "-q"])
    assert code == 2 and out == ""
    assert "position.collateral" in err and "remove it from the sweep" in err


# --------------------------------------------------------------------------- (f) hedge_collateral = true


def test_hedge_collateral_uses_the_direct_grid(cli):
    n = 10_000  # the least that resolves 1 % (100 / 0.01)
    cfg = seed_cfg(**{"position.hedge_collateral": True, "simulation.paths": n})
    ds, tiered = run_margin(cfg, [0.01])
    text = format_margin(ds, tiered)
    assert "direct evaluation on the same paths (hedge_collateral = true)" in text
    assert ds.attrs["method"].startswith("direct evaluation")
    # no order-statistic interval on a grid
    assert math.isnan(float(ds["min_collateral_low"].sel(target=0.01)))
    # the grid points are direct runs: the same as running that collateral on its own
    for c in pick_levels(ds, 2):
        assert float(ds["liquidation_probability"].sel(collateral=c)) == float(direct(cfg, c)["liquidation_probability"])
    # the reported minimum is the smallest grid level meeting the target
    mc = float(ds["min_collateral"].sel(target=0.01))
    grid = ds["collateral"].values
    p = ds["liquidation_probability"].values
    assert p[grid == mc][0] <= 0.01 and np.all(p[grid < mc] > 0.01)
    # the hedge grows with the collateral, so the identity would be wrong here: the
    # required collateral of the hedge at one level does not predict another level
    d_lo, d_hi = direct(cfg, grid[1]), direct(cfg, mc)
    assert float(d_hi["hedge_size"]) > float(d_lo["hedge_size"])
    # also through the CLI
    code, out, err = cli(["margin", SEED_EXAMPLE, "--set", "simulation.horizon=2d", "--paths", 2000,
                          "--set", "position.hedge_collateral=true", "--no-save", "-q"])
    assert code == 0, err
    assert "method: direct evaluation" in out
