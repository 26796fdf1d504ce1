"""The fused kernel against mathematics: textbook tables, closed forms, identities.

Statistical checks use fixed seeds and tolerances of a few standard errors (stated in
each test), so they are deterministic and would fail on a real bias.
"""

import math
from pathlib import Path

import numba
import numpy as np
import pytest

import sim
from sim.market import gbm
from sim.market import merton
from sim.market import ou
from sim.instruments import perpetual
from sim.config import YEAR_SECONDS

QUIET = {"funding.initial": 0.0, "funding.mean": 0.0, "funding.stationary_std": 0.0,
         "basis.initial": 0.0, "basis.stationary_std": 0.0, "exchange.taker_fee": 0.0}

ROOT = Path(__file__).resolve().parents[2]


def cfg_of(**over):
    o = dict(QUIET)
    o.update({k.replace("__", "."): v for k, v in over.items()})
    return sim.load_config(None, overrides=o)


def per_path(ds):
    return {k: ds[k].values for k in ds.data_vars if "path" in ds[k].dims}


# --------------------------------------------------------------------------- textbook table


@pytest.mark.parametrize("final", [50_000.0, 72_000.0])
def test_zero_vol_inverse_hedge_keeps_usd_value(final):
    """BTC 60,000 -> 50,000 or 72,000; 1 BTC hedged with the collateral hedged too:
    (N + C) S_0 is locked in to the cent (no fees, no funding)."""
    horizon = 30 / 365
    mu = math.log(final / 60_000) / horizon
    cfg = cfg_of(market__spot=60_000.0, market__sigma=0.0, market__mu=mu, position__stack=1.0,
                 position__collateral=1.0, position__hedge_collateral=True, simulation__horizon="30d")
    ds = sim.run(cfg, paths=8, seed=1)
    assert np.allclose(ds["index_T"], final, rtol=1e-12)
    assert not ds["liquidated"].any()
    np.testing.assert_allclose(ds["hedged_value"], 120_000.0, atol=0.005)  # to the cent
    np.testing.assert_allclose(ds["unhedged_value"], 2.0 * final, rtol=1e-12)
    np.testing.assert_allclose(ds["hedged_pnl"], 0.0, atol=0.005)


@pytest.mark.parametrize("final", [50_000.0, 72_000.0])
def test_zero_vol_linear_hedge_keeps_usd_value(final):
    mu = math.log(final / 60_000) / (30 / 365)
    cfg = cfg_of(market__spot=60_000.0, market__sigma=0.0, market__mu=mu, position__contract="linear",
                 position__collateral=30_000.0, position__stack=1.0)
    ds = sim.run(cfg, paths=4, seed=1)
    np.testing.assert_allclose(ds["hedged_value"], 60_000.0 + 30_000.0, atol=0.005)


def test_constant_funding_is_sum_over_funding_times():
    """Funding received = sum over t_k = 8h, 16h, ..., 30d of (Q / M_{t_k}) f: 90 payments."""
    f = 0.0001
    mu = 0.5
    cfg = cfg_of(market__spot=60_000.0, market__sigma=0.0, market__mu=mu, funding__initial=f, funding__mean=f,
                 position__collateral=0.5)
    ds = sim.run(cfg, paths=4, seed=1)
    q = 60_000.0
    t = np.arange(1, 91) * 8 * 3600 / YEAR_SECONDS
    marks = 60_000.0 * np.exp(mu * t)
    expected = np.sum(q / marks * f)
    np.testing.assert_allclose(ds["funding"], expected, rtol=1e-10)
    np.testing.assert_allclose(ds["funding_usd"], np.sum(q / marks * f * marks), rtol=1e-10)
    # the received funding ends up in the hedged value
    eq = 0.5 + q * (1 / marks[-1] - 1 / 60_000.0) + expected
    np.testing.assert_allclose(ds["hedged_value"], (1.0 + eq) * marks[-1], rtol=1e-10)


def test_negative_funding_is_paid_and_capped():
    cfg = cfg_of(market__sigma=0.0, funding__initial=-0.01, funding__mean=-0.01, funding__cap=0.003,
                 position__collateral=1.0, simulation__horizon="1d")
    ds = sim.run(cfg, paths=2, seed=1)
    q = cfg.position.hedge_ratio * cfg.market.spot
    np.testing.assert_allclose(ds["funding"], -3 * q / cfg.market.spot * 0.003, rtol=1e-12)


def test_fees_on_open_and_close():
    cfg = cfg_of(market__sigma=0.0, market__spot=50_000.0, exchange__taker_fee=0.00075, position__collateral=1.0)
    ds = sim.run(cfg, paths=2, seed=1)
    np.testing.assert_allclose(ds["fees"], 2 * 50_000.0 / 50_000.0 * 0.00075, rtol=1e-12)


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("monitoring", ["discrete", "continuous"])
def test_gbm_liquidation_probability_matches_barrier_formula(monitoring):
    """Liquidation probability against the GBM first-passage closed form, 4 standard errors:
    continuous monitoring (the Brownian-bridge maximum of each step) against the barrier
    itself; discrete monitoring (the mark at the 15-minute steps) against the barrier
    shifted up by Broadie-Glasserman-Kou's 0.5826 sigma sqrt(dt), whose own error is
    o(sqrt(dt)) (about 1e-3 here, under one SE)."""
    sigma, horizon_days, n = 0.8, 10, 40_000
    cfg = cfg_of(market__sigma=sigma, market__mu=0.1, position__collateral=0.1,
                 simulation__horizon=f"{horizon_days}d", simulation__dt="15min", simulation__monitoring=monitoring)
    ds = sim.run(cfg, paths=n, seed=11)
    lp = float(ds["liquidation_price"])
    assert lp == pytest.approx(perpetual.inverse_liquidation_price(60_000, 60_000, 0.1, 0.005), rel=1e-9)
    barrier = gbm.bgk_shifted_barrier(lp, 60_000.0, sigma, cfg.dt_years) if monitoring == "discrete" else lp
    p = gbm.gbm_hit_probability(60_000.0, barrier, 0.1, sigma, horizon_days / 365)
    est = float(ds["liquidation_probability"])
    se = math.sqrt(p * (1 - p) / n)
    assert abs(est - p) < 4 * se, (est, p, se)
    # and liquidation happens exactly when the mark first reaches the liquidation price
    liq = ds["liquidated"].values
    assert np.all(ds["min_margin_level"].values[liq] <= 1.0)
    assert np.all(ds["min_margin_level"].values[~liq] > 1.0)


def test_merton_log_moments_and_martingale():
    lam, jm, js, mu, sigma = 50.0, -0.05, 0.1, 0.2, 0.5
    cfg = cfg_of(market__model="merton", market__sigma=sigma, market__mu=mu, market__jump_intensity=lam,
                 market__jump_mean=jm, market__jump_std=js, position__collateral=5.0, funding__interval="1d",
                 simulation__horizon="60d", simulation__dt="1d")
    n = 60_000
    ds = sim.run(cfg, paths=n, seed=5)
    x = np.log(ds["index_T"].values / 60_000.0)
    mean, var = merton.log_return_moments(mu, sigma, cfg.horizon_years, lam, jm, js)
    se_mean = math.sqrt(var / n)
    assert abs(x.mean() - mean) < 4 * se_mean
    m4 = np.mean((x - x.mean()) ** 4)
    se_var = math.sqrt((m4 - var**2) / n)
    assert abs(x.var(ddof=1) - var) < 4 * se_var
    # E[S_T] = S_0 exp(mu T): the jump compensator is right
    s = ds["index_T"].values
    assert abs(s.mean() - 60_000 * math.exp(mu * cfg.horizon_years)) < 4 * s.std() / math.sqrt(n)


def _saved_run(n=4000, **over):
    cfg = cfg_of(simulation__save_paths=n, **over)
    return cfg, sim.run(cfg, paths=n, seed=3)


def test_ou_funding_and_basis_transition():
    """Funding and basis at T against the exact OU mean and variance (4 SE)."""
    cfg, ds = _saved_run(funding__initial=0.002, funding__mean=0.0001, funding__half_life="1d",
                         funding__stationary_std=0.0004, basis__initial=0.004, basis__mean=0.0,
                         basis__half_life="12h", basis__stationary_std=0.002, simulation__horizon="2d")
    n = ds.sizes["sample"]
    f_T = ds["sample_funding_rate"].isel(sample_time=-1).values
    m, v = ou.ou_moments(0.002, 0.0001, 1 / 365, 0.0004, 2 / 365)
    assert abs(f_T.mean() - m) < 4 * math.sqrt(v / n)
    assert abs(f_T.var(ddof=1) - v) < 4 * v * math.sqrt(2 / n)
    b_T = (ds["sample_mark"] / ds["sample_index"] - 1).isel(sample_time=-1).values
    m, v = ou.ou_moments(0.004, 0.0, 0.5 / 365, 0.002, 2 / 365)
    assert abs(b_T.mean() - m) < 4 * math.sqrt(v / n)
    assert abs(b_T.var(ddof=1) - v) < 4 * v * math.sqrt(2 / n)


def test_ou_stationary_moments():
    cfg, ds = _saved_run(funding__initial=0.0001, funding__mean=0.0001, funding__half_life="8h",
                         funding__stationary_std=0.0003, simulation__horizon="10d")
    f_T = ds["sample_funding_rate"].isel(sample_time=-1).values
    n = f_T.size
    assert abs(f_T.mean() - 0.0001) < 4 * 0.0003 / math.sqrt(n)
    assert abs(f_T.std(ddof=1) / 0.0003 - 1) < 4 / math.sqrt(2 * n)


def test_shock_correlations_follow_the_matrix():
    """Recover the standard normal shocks from stored paths and compare their correlations
    with the configured matrix (tolerance 4 / sqrt(n)).

    Price and basis shocks are per step. Funding takes one exact OU step per 8h interval,
    so its innovation correlates with the sum of the interval's price (basis) shocks by
    rho * phi, phi = int g / sqrt(Delta int g^2), g(s) = exp(-kappa (Delta - s)):
    the continuous-time value, independent of how the kernel discretises it."""
    rho_f, rho_b, rho_fb = 0.6, -0.3, 0.25
    sf, sb, hl = 0.001, 0.002, 4 / (24 * 365)
    cfg, ds = _saved_run(n=2000, market__sigma=0.5, funding__mean=0.0, funding__initial=0.0,
                         funding__half_life="4h", funding__stationary_std=sf, funding__corr_price=rho_f,
                         basis__half_life="4h", basis__stationary_std=sb, basis__corr_price=rho_b,
                         basis__corr_funding=rho_fb, simulation__horizon="4d", simulation__save_every="1h")
    dt = cfg.dt_years
    kappa = math.log(2) / hl
    log_s = np.log(ds["sample_index"].values)
    z_s = (np.diff(log_s, axis=1) - (-0.5 * 0.25 * dt)) / (0.5 * math.sqrt(dt))
    a1 = math.exp(-kappa * dt)
    b = ds["sample_mark"].values / ds["sample_index"].values - 1
    z_b = (b[:, 1:] - b[:, :-1] * a1) / (sb * math.sqrt(1 - a1**2))
    tol = 4 / math.sqrt(z_s.size)
    assert abs(np.corrcoef(z_s.ravel(), z_b.ravel())[0, 1] - rho_b) < tol
    assert np.allclose([z_s.std(), z_b.std()], 1.0, atol=tol)
    # funding: one innovation per 8h interval
    k = 8
    big_delta = k * dt
    a8 = math.exp(-kappa * big_delta)
    f = ds["sample_funding_rate"].values[:, ::k]
    z_f = (f[:, 1:] - f[:, :-1] * a8) / (sf * math.sqrt(1 - a8**2))
    s_int = z_s.reshape(z_s.shape[0], -1, k).sum(axis=2) / math.sqrt(k)
    b_int = z_b.reshape(z_b.shape[0], -1, k).sum(axis=2) / math.sqrt(k)
    phi = (-math.expm1(-kappa * big_delta) / kappa) / math.sqrt(big_delta * -math.expm1(-2 * kappa * big_delta) / (2 * kappa))
    tol = 4 / math.sqrt(z_f.size)
    assert abs(z_f.std() - 1.0) < tol
    assert abs(np.corrcoef(z_f.ravel(), s_int.ravel())[0, 1] - rho_f * phi) < tol
    assert abs(np.corrcoef(z_f.ravel(), b_int.ravel())[0, 1] - rho_fb * phi) < tol


# --------------------------------------------------------------------------- identity


def test_required_collateral_identity():
    """The collateral identity (docs/model.md): liquidated at collateral C  <=>  C <= required_collateral, from any run
    with the same seed (the market and R do not depend on C)."""
    base = dict(market__model="merton", market__sigma=0.7, market__jump_intensity=20.0, market__jump_mean=-0.01,
                market__jump_std=0.05, funding__initial=0.0001, funding__mean=0.0001,
                funding__stationary_std=0.0003, funding__corr_price=0.3, basis__stationary_std=0.001,
                exchange__taker_fee=0.0005, simulation__horizon="7d")
    ref = sim.run(cfg_of(position__collateral=0.5, **base), paths=5000, seed=9)
    r = ref["required_collateral"].values
    for c in (0.03, 0.08, 0.2):
        ds = sim.run(cfg_of(position__collateral=c, **base), paths=5000, seed=9)
        np.testing.assert_array_equal(ds["required_collateral"].values, r)
        np.testing.assert_array_equal(ds["liquidated"].values, c <= r)
        assert 0 < ds["liquidated"].values.mean() < 1


# --------------------------------------------------------------------------- reproducibility


def _repro_cfg():
    return sim.load_config(ROOT / "configs" / "default.toml",
                           overrides={"simulation.horizon": "3d", "simulation.save_paths": 3})


def test_bitwise_identical_across_threads_and_chunks():
    cfg = _repro_cfg()
    n = 5000  # not a multiple of the block: the last block is partial
    before = numba.get_num_threads()
    try:
        runs = []
        for threads, chunk in [(1, None), (2, 1024), (2, 3072), (1, 100_000)]:
            runs.append(per_path(sim.run(cfg, paths=n, seed=42, threads=threads, chunk_paths=chunk)))
    finally:
        numba.set_num_threads(before)
    for other in runs[1:]:
        for k, v in runs[0].items():
            np.testing.assert_array_equal(v, other[k], err_msg=k)
    # path i does not depend on how many paths follow it
    head = per_path(sim.run(cfg, paths=1500, seed=42))
    for k, v in head.items():
        np.testing.assert_array_equal(v, runs[0][k][:1500], err_msg=k)


def test_different_seeds_differ():
    cfg = _repro_cfg()
    a = sim.run(cfg, paths=2048, seed=1)["index_T"].values
    b = sim.run(cfg, paths=2048, seed=2)["index_T"].values
    assert not np.any(a == b)
