"""Calibration (issue 6): maximum likelihood recovers the parameters of data simulated by
hedgesim itself within a few standard errors; the observed-information SEs agree with
closed forms; the calibrate output is a config fragment that sim.load_config accepts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.data import calibrate, load_funding, load_prices
from sim.data.calibrate import to_toml
from sim.data.fit_ou import fit_ou
from sim.data.fit_price import fit_gbm, fit_merton, log_returns, merton_nll_grad

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT / "data" / "btc_usd_1h_cryptocompare_2021H1.csv.gz"
BYBIT = ROOT / "data" / "bybit_btcusd_inverse_8h_spot_perp_funding_2021H1.csv"
Z = 4.0  # tolerance in standard errors (fixed seeds: each check is deterministic)
LONG = {"simulation.horizon": "1095d", "simulation.dt": "1h", "simulation.save_every": "1h",
        "simulation.paths": 1, "simulation.save_paths": 1, "position.collateral": 5.0}


def _path(overrides: dict, seed: int):
    """One 3-year hourly path from hedgesim itself (stored sample trajectory)."""
    ds = sim.run(sim.load_config(None, overrides={**LONG, **overrides}), seed=seed)
    t = pd.date_range("2020-01-01", periods=ds.sizes["sample_time"], freq="1h", tz="UTC")
    return ds, t


@pytest.fixture(scope="module")
def merton_path():
    truth = {"mu": 0.1, "sigma": 0.5, "jump_intensity": 50.0, "jump_mean": -0.01, "jump_std": 0.03}
    ds, t = _path({"market.model": "merton", **{f"market.{k}": v for k, v in truth.items()}}, seed=11)
    return truth, pd.DataFrame({"close": ds["sample_index"].values[0]}, index=t)


@pytest.fixture(scope="module")
def ou_path():
    truth_f = {"mean": 0.0001, "half_life_hours": 48.0, "stationary_std": 0.0003, "corr_price": 0.3}
    truth_b = {"mean": 0.0002, "half_life_hours": 12.0, "stationary_std": 0.001, "corr_price": 0.25}
    ds, t = _path({"market.model": "gbm", "market.sigma": 0.6, "funding.mean": 0.0001, "funding.initial": 0.0001,
                   "funding.half_life": "2d", "funding.stationary_std": 0.0003, "funding.corr_price": 0.3,
                   "basis.mean": 0.0002, "basis.half_life": "12h", "basis.stationary_std": 0.001,
                   "basis.corr_price": 0.25, "basis.corr_funding": 0.2}, seed=5)
    return truth_f, truth_b, ds, t


def _within(fit, truth):
    for k, v in truth.items():
        se = fit.se[k]
        assert np.isfinite(se) and se > 0, (k, se)
        assert abs(fit.params[k] - v) < Z * se, f"{k}: fitted {fit.params[k]:.6g}, true {v}, SE {se:.3g}"


def test_merton_recovers_known_parameters(merton_path):
    truth, bars = merton_path
    r, dt = log_returns(bars)
    m = fit_merton(r, dt)
    _within(m, truth)
    g = fit_gbm(r, dt)
    assert m.aic < g.aic  # jumps are there: AIC prefers Merton
    assert m.ks < g.ks


def test_merton_gradient_is_the_derivative(merton_path):
    _, bars = merton_path
    r, dt = log_returns(bars.iloc[:3000])
    th = np.array([0.1, math.log(0.5), math.log(40.0), -0.01, math.log(0.03)])
    f0, g = merton_nll_grad(th, r, dt)
    for i in range(5):
        e = np.zeros(5)
        e[i] = 1e-6
        fd = (merton_nll_grad(th + e, r, dt)[0] - merton_nll_grad(th - e, r, dt)[0]) / 2e-6
        assert g[i] == pytest.approx(fd, rel=1e-5, abs=1e-4)


def test_gbm_standard_errors_match_closed_form(ou_path):
    _, _, ds, t = ou_path
    bars = pd.DataFrame({"close": ds["sample_index"].values[0]}, index=t)
    r, dt = log_returns(bars)
    g = fit_gbm(r, dt)
    T = float(dt.sum())
    assert abs(g.params["sigma"] - 0.6) < Z * g.se["sigma"]
    assert abs(g.params["mu"] - 0.0) < Z * g.se["mu"]
    # observed information of the normal likelihood: SE(sigma) = sigma / sqrt(2 n), SE(mu) ~ sigma / sqrt(T)
    assert g.se["sigma"] == pytest.approx(g.params["sigma"] / math.sqrt(2 * r.size), rel=0.01)
    assert g.se["mu"] == pytest.approx(g.params["sigma"] / math.sqrt(T), rel=0.01)


def test_funding_and_basis_ou_recover_known_parameters(ou_path):
    truth_f, truth_b, ds, t = ou_path
    s = ds["sample_index"].values[0]
    m = ds["sample_mark"].values[0]
    f = ds["sample_funding_rate"].values[0]
    # funding: the rate set at each 8-hourly funding time, with the price return of the same interval
    funding = pd.Series(f[::8], index=t[::8])
    fo = fit_ou("funding", funding, np.diff(np.log(s[::8])))
    _within(fo, truth_f)
    basis = pd.Series(m / s - 1.0, index=t)
    bo = fit_ou("basis", basis, np.diff(np.log(s)))
    _within(bo, truth_b)


def test_calibrate_repo_sample_gives_a_loadable_config(tmp_path):
    px = load_prices(BTC, log=None)
    fu = load_funding(BYBIT, log=None)
    cal = calibrate(px, fu, "2021-01-01", "2021-07-01")
    assert cal.n_returns == 4344
    for model in ("merton", "gbm"):
        text = to_toml(cal, model)
        p = tmp_path / f"{model}.toml"
        p.write_text(text)
        cfg = sim.load_config(p)
        assert cfg.market.model == model
        assert cfg.market.sigma == pytest.approx(cal.fits[model].params["sigma"], rel=1e-5)
        assert cfg.funding.stationary_std == pytest.approx(cal.funding.params["stationary_std"], rel=1e-5)
        assert cfg.basis.stationary_std == pytest.approx(cal.basis.params["stationary_std"], rel=1e-5)
        for needle in ("[market]", "[funding]", "[basis]", "# 1/sqrt(yr), SE", "logL =", "AIC =", "KS statistic",
                       "sample:  2021-01-01 00:00 UTC to 2021-07-01 00:00 UTC"):
            assert needle in text, needle
    assert cal.last_close == px.bars["close"].iloc[-1]




def test_cli_calibrate_stdout_is_a_config(tmp_path, cli):
    code, out, err = cli(["calibrate", "--prices", BTC, "--funding", BYBIT, "--model", "gbm", "--start",
                           "2021-02-01", "--end", "2021-03-31"])
    assert code == 0, err
    assert "layout cryptocompare-hourly" in err and "calibrate: gbm: logL" in err
    p = tmp_path / "c.toml"
    p.write_text(out)
    cfg = sim.load_config(p)
    assert cfg.market.model == "gbm" and cfg.market.jump_intensity == 0
    assert "2021-02-01 00:00 UTC to 2021-04-01 00:00 UTC" in out  # --end as a date includes that day


@pytest.mark.parametrize("argv, needle", [
    (["--prices", "nope.csv"], "not found"),
    (["--prices", BTC, "--start", "notadate"], "--start 'notadate'"),
    (["--prices", BTC, "--start", "2019-01-01", "--end", "2019-02-01"], "only 0 bars"),
    (["--prices", BTC, "--price-columns", "time=Timestamp"], "column 'Timestamp'"),
    (["--prices", BYBIT, "--funding", BTC], "has no funding-rate column"),
    (["--prices", BTC, "--start", "2021-03-01", "--end", "2021-02-01"], "is not after start"),
])
def test_cli_calibrate_bad_input_exit_2(cli, argv, needle):
    code, out, err = cli(["calibrate", *argv])
    assert code == 2
    assert out == ""
    assert err.strip().splitlines()[-1].startswith("hedgesim: error:") and needle in err
    assert "Traceback" not in err
