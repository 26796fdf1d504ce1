"""The model band (docs/band.md): the alternatives' volatilities from the shipped daily closes,
their parameters against the models' moments, their liquidation probabilities against the
GBM closed form, and the recommendation from the conservative end."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.analysis import band
from sim.market import gbm
from sim.market.registry import log_return_moments


def test_realised_volatility_percentiles_of_a_known_series(tmp_path):
    """Daily log returns of +-s/sqrt(365) in turn: every 30-day realised volatility is s."""
    s, days = 0.6, 4000
    r = np.where(np.arange(days) % 2 == 0, 1.0, -1.0) * s / math.sqrt(365.0)
    price = 10_000.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    dates = np.datetime64("2012-01-01") + np.arange(days + 1)
    p = tmp_path / "closes.csv"
    p.write_text("date,price,volume\n" + "".join(f"{d},{float(x)!r},1\n" for d, x in zip(dates, price)))
    pct, span = band.realised_vol_percentiles(str(p), 30, 10)
    assert all(v == pytest.approx(s, rel=1e-9) for v in pct.values())
    assert span.endswith(str(dates[-2]))  # the last day is dropped by the loader (it may be partial)


def test_the_shipped_history_gives_the_documented_percentiles():
    pct, span = band.realised_vol_percentiles()
    assert span == "2016-02-16 to 2026-02-12"
    assert [round(pct[p], 2) for p in (10, 50, 90)] == [0.30, 0.55, 0.97]


def test_alternatives_keep_the_jumps_and_hit_the_total_volatility():
    """Merton: sigma^2 + jump variance rate of each alternative = the percentile's variance."""
    cfg = sim.load_config("configs/default.toml")
    alts, notes = band.alternatives(cfg)
    pct, _ = band.realised_vol_percentiles()
    assert [a.label for a in alts] == ["vol p10", "vol p50", "vol p90", "bootstrap"] and not notes
    for a, p in zip(alts, (10, 50, 90)):
        m = cfg.replace(a.overrides).market
        assert m.model == "merton" and m.jump_intensity == cfg.market.jump_intensity
        assert log_return_moments(m, 1.0)[1] == pytest.approx(pct[p] ** 2, rel=1e-5)


def test_no_bootstrap_row_off_the_hourly_step():
    cfg = sim.load_config("configs/default.toml", overrides={"simulation.dt": "30min"})
    alts, notes = band.alternatives(cfg)
    assert [a.label for a in alts] == ["vol p10", "vol p50", "vol p90"]
    assert "1 h bars" in notes[0]


def test_band_probabilities_match_the_gbm_closed_form():
    """GBM, discrete hourly checks: each volatility row's liquidation probability is within
    4 standard errors of the barrier formula with the Broadie-Glasserman-Kou shift."""
    over = {"market.model": "gbm", "market.mu": 0.0, "market.jump_intensity": 0.0, "market.jump_mean": 0.0,
            "market.jump_std": 0.0, "simulation.monitoring": "discrete",
            "simulation.horizon": "10d", "position.collateral": 0.1, "funding.stationary_std": 0.0,
            "funding.initial": 0.0, "funding.mean": 0.0, "basis.stationary_std": 0.0, "exchange.taker_fee": 0.0}
    cfg = sim.load_config("configs/default.toml", overrides={**over, "simulation.paths": 20_000})
    run = sim.run(cfg)
    b = band.model_band(cfg, band.key_figures(run), paths=20_000)
    lp = float(run["liquidation_price"])
    spot = cfg.market.spot
    for k, label in enumerate(b["model_band"].values[:4]):
        sigma = cfg.market.sigma if label == "configured" else cfg.replace(
            dict(band.alternatives(cfg)[0][k - 1].overrides)).market.sigma
        barrier = gbm.bgk_shifted_barrier(lp, spot, sigma, cfg.dt_years)
        p = gbm.gbm_hit_probability(spot, barrier, 0.0, sigma, 10 / 365)
        est = float(b["band_liquidation_probability"][k])
        assert abs(est - p) < 4 * math.sqrt(p * (1 - p) / 20_000) + 1e-4, (label, est, p)
    assert list(b["band_liquidation_probability"].values[1:4]) == sorted(b["band_liquidation_probability"].values[1:4])


def test_margin_band_recommends_the_conservative_end(cli, tmp_path):
    code, out, _ = cli(["margin", "configs/default.toml", "--paths", "20000", "--target", "0.01", "-q",
                        "--out", str(tmp_path / "m.zarr")], band=True)
    assert code == 0
    curve = sim.open_result(tmp_path / "m.zarr")
    mc = curve["band_min_collateral"].sel(target=0.01).values
    k = int(np.nanargmax(mc))
    assert f"recommended for P <= 1 %: {mc[k]:.6g} BTC, the conservative end of the band " \
           f"({curve['model_band'].values[k]})" in out
    assert curve["model_band"].values[k] == "vol p90"
    # the configured row is the curve's own answer
    assert mc[0] == float(curve["min_collateral"].sel(target=0.01))


def test_run_prints_and_stores_the_band_and_no_band_skips_it(cli, tmp_path):
    code, out, _ = cli(["run", "configs/default.toml", "--paths", "4096", "--band-paths", "4096", "-q",
                        "--out", str(tmp_path / "r.zarr")], band=True)
    assert code == 0 and "model band: the same figures under other models (4,096 paths each" in out
    ds = sim.open_result(tmp_path / "r.zarr")
    assert list(ds["model_band"].values) == ["configured", "vol p10", "vol p50", "vol p90", "bootstrap"]
    assert float(ds["band_liquidation_probability"][0]) == float(ds["liquidation_probability"])
    code, _, err = cli(["report", str(tmp_path / "r.zarr"), "--out", str(tmp_path / "rep")])
    assert code == 0, err
    assert (tmp_path / "rep" / "band.png").stat().st_size > 10_000
    assert 'id="band"' in (tmp_path / "rep" / "report.html").read_text()
    code, out, _ = cli(["run", "configs/default.toml", "--paths", "4096", "-q", "--no-save", "--no-band"])
    assert code == 0 and "model band" not in out
    code, out, err = cli(["run", "configs/default.toml", "--paths", "4096", "--no-save",
                          "--sweep", "position.hedge_ratio=0.5,1"], band=True)
    assert code == 0 and "model band" not in out and "no model band for a sweep" in err



def test_band_figures_of_a_run_with_report_times():
    """With simulation.report_at the ES has a time dimension: the band takes the horizon's."""
    cfg = sim.load_config("configs/default.toml", overrides={"simulation.horizon": "5d",
                                                              "simulation.report_at": ["1d", "2d"]})
    ds = sim.run(cfg, paths=2048)
    f = band.key_figures(ds)
    es = ds["expected_shortfall"].sel(portfolio="hedged", level=0.99, time=ds["time"].values[-1])
    assert f["expected_shortfall"] == float(es)
