"""Historical replay and walk-forward backtest (issue 6): the replay against an
independent hand computation from the raw CSVs of data/, liquidation on bar highs,
Kupiec / Christoffersen against hand-computed values, the backtest Dataset contract, no
look-ahead, and the command line (exit status 2 on bad input)."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import sim
from sim.data import load_funding, load_prices
from sim.data.backtest import backtest, brier_score, christoffersen_ind, kupiec_pof, non_overlapping
from sim.data.replay import replay_windows, window_starts

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT / "data" / "btc_usd_1h_cryptocompare_2021H1.csv.gz"
BYBIT = ROOT / "data" / "bybit_btcusd_inverse_8h_spot_perp_funding_2021H1.csv"
DAY = 86400.0


def utc(s):
    return pd.Timestamp(s, tz="UTC")


@pytest.fixture(scope="module")
def raw():
    """The sample CSVs read plainly with pandas (the oracle's own reading)."""
    with gzip.open(BTC, "rt") as fh:
        b = pd.read_csv(fh)
    b.index = pd.to_datetime(b["time"] + 3600, unit="s", utc=True)  # bar end
    f = pd.read_csv(BYBIT)
    f.index = pd.to_datetime(f["Timestamp"], utc=True)
    return b, f


# --------------------------------------------------------------------------- tests of the tests


def test_kupiec_hand_computed():
    # n = 100, x = 5 exceptions at 99 %: LR = -2 [95 ln .99 + 5 ln .01 - 95 ln .95 - 5 ln .05] = 8.258217
    e = np.zeros(100, bool)
    e[[3, 20, 41, 70, 99]] = True
    lr, p = kupiec_pof(e, 0.99)
    assert lr == pytest.approx(8.258217002871, rel=1e-10)
    assert p == pytest.approx(0.004056795256739738, rel=1e-9)
    # no exception in 60 windows at 95 %: LR = -2 * 60 ln .95 = 6.155195
    lr, p = kupiec_pof(np.zeros(60, bool), 0.95)
    assert lr == pytest.approx(6.155195326506, rel=1e-10) and p == pytest.approx(0.013102664570834107, rel=1e-9)
    # exactly the expected rate: LR = 0, p = 1
    assert kupiec_pof(np.r_[np.ones(5, bool), np.zeros(95, bool)], 0.95) == (0.0, 1.0)


def test_christoffersen_hand_computed():
    # 0001110000: transitions n00 = 5, n01 = 1, n10 = 1, n11 = 2; pi = 1/3, pi01 = 1/6, pi11 = 2/3
    # LR = -2 [6 ln 2/3 + 3 ln 1/3 - (5 ln 5/6 + ln 1/6 + ln 1/3 + 2 ln 2/3)] = 2.231436
    e = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 0], bool)
    lr, p = christoffersen_ind(e)
    assert lr == pytest.approx(2.231435513142, rel=1e-10)
    assert p == pytest.approx(0.13522815768706561, rel=1e-9)
    # no exceptions: nothing to cluster
    assert christoffersen_ind(np.zeros(20, bool)) == (0.0, 1.0)
    # exceptions that never follow one another: pi11 = 0 < pi, LR > 0
    assert christoffersen_ind(np.array([1, 0, 1, 0, 1, 0, 1, 0], bool))[0] > 0


def test_brier_and_non_overlapping():
    assert brier_score([0.1, 0.9, 0.5], [0, 1, 1]) == pytest.approx((0.01 + 0.01 + 0.25) / 3)
    starts = pd.date_range("2021-01-01", periods=10, freq="7D", tz="UTC")
    keep = non_overlapping(starts, pd.Timedelta("30D"))
    assert list(np.nonzero(keep)[0]) == [0, 5]  # 35 days apart >= 30 days


# --------------------------------------------------------------------------- replay


def test_replay_matches_a_hand_computation_from_the_csvs(raw, data):
    """1 BTC, short 1x on Bybit's inverse, 2 BTC collateral (never liquidated), taker fee
    0.05 %: hedged value = (N + C + Q/M_T - Q/E + sum Q/M_k f_k - fees) S_T, computed from
    the raw CSVs: index = hourly closes, mark = index x (1 + Bybit perp/spot - 1 as of each
    hour), funding = Bybit's rate at each 8-hour time."""
    b, f = raw
    px, fu = data
    cfg = sim.load_config(None, overrides={"position.collateral": 2.0, "exchange.taker_fee": 0.0005,
                                           "exchange.maintenance_margin": 0.005})
    start = utc("2021-02-01")
    ds = replay_windows(cfg, px, fu, [start], 30 * DAY)
    grid = pd.date_range(start, periods=721, freq="1h")
    S = b["close"].reindex(grid).to_numpy()
    basis = (f["Close_futures"] / f["Close_spot"] - 1.0)
    bidx = basis.index.searchsorted(grid, side="right") - 1
    M = S * (1 + basis.to_numpy()[bidx])
    N, C, fee = 1.0, 2.0, 0.0005
    Q = math.floor(N * S[0])
    E = M[0]
    rates = f["Funding Rate"].reindex(grid[8::8]).to_numpy()
    funding = float(np.sum(Q / M[8::8] * np.clip(rates, -0.00375, 0.00375)))
    fees = Q / E * fee + Q / M[-1] * fee
    equity = C + Q / M[-1] - Q / E + funding - fees
    r = ds.isel(start=0)
    assert not bool(r["liquidated"])
    assert float(r["funding"]) == pytest.approx(funding, rel=1e-12)
    assert float(r["fees"]) == pytest.approx(fees, rel=1e-12)
    assert float(r["hedged_pnl"]) == pytest.approx((N + equity) * S[-1] - (N + C) * S[0], rel=1e-10)
    assert float(r["unhedged_pnl"]) == pytest.approx((N + C) * (S[-1] - S[0]), rel=1e-12)
    assert float(r["index_T"]) == S[-1] and float(r["mark_start"]) == pytest.approx(E, rel=1e-15)


def test_replay_liquidates_on_the_bar_high(raw, data):
    """No fees, no funding, no basis: liquidated at the first bar whose HIGH reaches
    L = Q (1 - mmr) / (Q/E - C); the closes alone would have found it later."""
    b, _ = raw
    px, _ = data
    C, mmr = 0.17, 0.005  # the highs reach L at hour 56, the closes only at hour 125
    cfg = sim.load_config(None, overrides={"position.collateral": C, "exchange.taker_fee": 0.0,
                                           "exchange.maintenance_margin": mmr, "funding.initial": 0.0,
                                           "funding.mean": 0.0})
    start = utc("2021-01-01")
    ds = replay_windows(cfg, px, None, [start], 30 * DAY)
    grid = pd.date_range(start, periods=721, freq="1h")
    S, H = b["close"].reindex(grid).to_numpy(), b["high"].reindex(grid).to_numpy()
    Q = math.floor(S[0])
    L = Q * (1 - mmr) / (Q / S[0] - C)
    i_high = int(np.argmax(H[1:] >= L)) + 1
    i_close = int(np.argmax(S[1:] >= L)) + 1
    assert i_high < i_close  # the test can tell the two checks apart
    r = ds.isel(start=0)
    assert bool(r["liquidated"])
    assert pd.Timestamp(r["liquidation_date"].values, tz="UTC") == grid[i_high]
    assert float(r["liquidation_time"]) == pytest.approx(i_high / 24, abs=1e-5)
    assert float(r["liquidation_price"]) == pytest.approx(L, rel=1e-9)
    # the collateral is lost, the stack rides unhedged: hedged value = N S_T
    assert float(r["hedged_pnl"]) == pytest.approx(S[-1] - (1 + C) * S[0], rel=1e-10)
    assert float(r["required_collateral"]) > C


def test_replay_marks_on_the_perpetual_when_the_price_file_has_it(raw):
    """The Bybit 8-hourly file has spot and perpetual bars: index = spot close, mark = perp
    close, checked on the perp high of each 8-hour bar; funding paid every bar."""
    _, f = raw
    px = load_prices(BYBIT, log=None)
    fu = load_funding(BYBIT, log=None)
    assert px.has_perp and px.bar == pd.Timedelta("8h")
    cfg = sim.load_config(None, overrides={"position.collateral": 2.0, "exchange.taker_fee": 0.0})
    start = utc("2021-03-01")
    r = replay_windows(cfg, px, fu, [start], 30 * DAY).isel(start=0)
    grid = pd.date_range(start, periods=91, freq="8h")
    w = f.reindex(grid)
    assert float(r["index_start"]) == w["Close_spot"].iloc[0]
    assert float(r["mark_start"]) == w["Close_futures"].iloc[0]
    assert float(r["mark_high"]) == w["High_futures"].iloc[1:].max()
    Q = math.floor(w["Close_spot"].iloc[0])
    funding = float(np.sum(Q / w["Close_futures"].iloc[1:] * w["Funding Rate"].iloc[1:]))
    assert float(r["funding"]) == pytest.approx(funding, rel=1e-12)


def test_rolling_replay(data):
    px, fu = data
    cfg = sim.load_config(ROOT / "configs" / "default.toml")
    starts = window_starts("2021-01-01", "2021-06-30", 14 * DAY)
    ds = replay_windows(cfg, px, fu, starts, 30 * DAY, skip_unavailable=True)
    # windows must end inside the data (last bar 2021-07-01 00:00)
    assert pd.Timestamp(ds["start"].values[-1]) == pd.Timestamp("2021-05-21")  # + 30 d = 2021-06-20
    assert ds.sizes["start"] == 11
    for v in ("liquidated", "liquidation_time", "hedged_pnl", "unhedged_pnl", "funding"):
        assert ds[v].dims == ("start",) and "units" in ds[v].attrs or v == "liquidated"
    assert ds["hedged_pnl"].attrs["units"] == "USD" and ds["funding"].attrs["units"] == "BTC"


# --------------------------------------------------------------------------- backtest


BT = dict(window_s=14 * DAY, step_s=14 * DAY, calibration_s=60 * DAY, paths=1000, seed=3)


def test_backtest_contract_and_consistency(data):
    px, fu = data
    cfg = sim.load_config(ROOT / "configs" / "default.toml")
    ds = backtest(cfg, px, fu, "2021-03-05", "2021-06-10", **BT)
    n = ds.sizes["start"]
    assert n == 7  # 2021-03-05 + 14 d k up to 2021-06-10: 03-05 ... 05-28
    assert list(ds["model"].values) == ["gbm", "merton"] and list(ds["level"].values) == [0.95, 0.99]
    for v in ("liquidated", "liquidation_time", "hedged_pnl", "unhedged_pnl", "funding"):
        assert ds[v].dims == ("start",)
    assert ds["predicted_liquidation_probability"].dims == ("start", "model")
    assert ds["predicted_var"].dims == ("start", "model", "portfolio", "level")
    assert ds["predicted_es"].dims == ("start", "model", "portfolio", "level")
    assert ds["kupiec_pvalue"].dims == ("model", "portfolio", "level")
    assert ds["christoffersen_pvalue"].dims == ("model", "portfolio", "level")
    assert ds["brier_score"].dims == ("model",)
    p = ds["predicted_liquidation_probability"].values
    assert np.all((p >= 0) & (p <= 1))
    y = ds["liquidated"].values
    np.testing.assert_allclose(ds["brier_score"].values, ((p - y[:, None]) ** 2).mean(axis=0))
    assert np.all(ds["predicted_es"].values >= ds["predicted_var"].values)
    loss = -ds["hedged_pnl"].values
    exc = ds["var_exception"].sel(portfolio="hedged").values
    np.testing.assert_array_equal(exc, loss[:, None, None] > ds["predicted_var"].sel(portfolio="hedged").values)
    keep = ds["non_overlapping"].values
    assert keep.all()  # step = window: every window is its own
    for a, m in enumerate(ds["model"].values):
        for c, lv in enumerate(ds["level"].values):
            e = exc[keep, a, c]
            assert ds["kupiec_pvalue"].sel(model=m, portfolio="hedged", level=lv) == pytest.approx(kupiec_pof(e, lv)[1])
    assert int(ds["bucket_windows"].sum()) == 2 * n


def test_backtest_has_no_look_ahead(data, changed_after):
    """Changing every price after the start changes the realised outcome, never the forecast."""
    px, fu = data
    cfg = sim.load_config(ROOT / "configs" / "default.toml")
    start = utc("2021-04-02")
    a = backtest(cfg, px, fu, start, start, **BT)
    px2, fu2 = changed_after(px, fu, start)
    b = backtest(cfg, px2, fu2, start, start, **BT)
    for v in ("predicted_liquidation_probability", "predicted_var", "predicted_es", "fitted_sigma"):
        np.testing.assert_array_equal(a[v].values, b[v].values)
    assert a["hedged_pnl"].values[0] != b["hedged_pnl"].values[0]


# --------------------------------------------------------------------------- command line




def test_cli_replay_and_backtest_write_datasets(tmp_path, cli):
    out = tmp_path / "r.zarr"
    code, so, se = cli(["replay", ROOT / "configs" / "default.toml", "--prices", BTC, "--funding", BYBIT,
                         "--start", "2021-01-01", "--horizon", "30d", "--every", "30d", "--end", "2021-05-31",
                         "--out", out, "-q"])
    assert code == 0, se
    ds = xr.open_zarr(out).load()  # consolidated metadata: no listing of the folder, no warning
    assert ds.sizes["start"] == 6 and "liquidated at (UTC)" in so and "hedged PnL" in so
    out = tmp_path / "b.nc"
    code, so, se = cli(["backtest", ROOT / "configs" / "default.toml", "--prices", BTC, "--funding", BYBIT,
                         "--from", "2021-03-05", "--to", "2021-04-05", "--window", "14d", "--step", "14d",
                         "--calibration-window", "60d", "--paths", "1000", "--out", out, "-q"])
    assert code == 0, se
    ds = xr.open_dataset(out).load()
    assert ds.sizes["start"] == 3 and "kupiec_pvalue" in ds and "Kupiec p" in so and "Brier score" in so


@pytest.mark.parametrize("argv, needle", [
    (["replay", "CFG", "--prices", BTC, "--start", "2020-01-01"], "is not inside the price data"),
    (["replay", "CFG", "--prices", BTC, "--start", "2021-01-01", "--every", "7d"], "--every needs --end"),
    (["replay", "CFG", "--prices", BTC, "--start", "someday"], "--start 'someday'"),
    (["replay", "CFG", "--prices", BTC, "--start", "2021-01-01", "--horizon", "30 days"], "--horizon"),
    (["replay", "CFG", "--prices", BTC, "--funding", BYBIT, "--start", "2021-06-20"], "not inside the price data"),
    (["replay", "CFG", "--prices", BTC, "--start", "2021-01-01", "--set", "position.collateral=0.001"],
     "position.collateral"),
    (["backtest", "CFG", "--prices", BTC, "--from", "2021-01-01", "--to", "2021-02-01", "--models", "kou"],
     "--models"),
    (["backtest", "CFG", "--prices", BTC, "--from", "2021-03-01", "--to", "2021-02-01"], "is before --from"),
    (["backtest", "CFG", "--prices", BTC, "--from", "2021-01-10", "--to", "2021-01-20"], "no usable window start"),
    (["backtest", "CFG", "--prices", BTC, "--from", "2021-03-01", "--to", "2021-03-01", "--out", "x.csv"],
     "unknown format"),
])
def test_cli_bad_input_exit_2(tmp_path, cli, argv, needle):
    argv = [ROOT / "configs" / "default.toml" if a == "CFG" else a for a in argv] + ["-q"]
    if "--out" not in argv:
        argv += ["--no-save"]
    code, out, err = cli(argv)
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hedgesim: error:") and needle in lines[0], err
