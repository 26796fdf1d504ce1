"""Hostile market data and options of calibrate / replay / backtest (issue 12, item 3): one
line naming the file and line (or the option), exit status 2, nothing written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sim.data.load import load_funding, load_prices
from sim.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
CFG = ROOT / "configs" / "default.toml"
BTC = ROOT / "data" / "btc_usd_1h_cryptocompare_2021H1.csv.gz"
BYBIT = ROOT / "data" / "bybit_btcusd_inverse_8h_spot_perp_funding_2021H1.csv"


def one_line(cli, argv, *needles):
    code, out, err = cli([str(a) for a in argv])
    lines = err.strip().splitlines()
    assert code == 2 and out == "", err
    assert len(lines) == 1 and lines[0].startswith("hedgesim: error:"), err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def hourly(path: Path, times: list[str], prices=None) -> Path:
    prices = prices or [100.0 + i for i in range(len(times))]
    path.write_text("timestamp,price\n" + "".join(f"{t},{p}\n" for t, p in zip(times, prices)))
    return path


@pytest.mark.parametrize("times, line, shown", [
    (["0001-01-01T00:00:00Z", "0001-01-01T01:00:00Z", "0001-01-01T02:00:00Z"], 2, "'0001-01-01T00:00:00Z'"),
    (["2021-01-01T00:00:00Z", "9999-01-01T01:00:00Z", "2021-01-01T02:00:00Z"], 3, "'9999-01-01T01:00:00Z'"),
    (["2021-01-01 00:00:00", "2021-01-01 01:00:00", "3000-01-01 02:00:00"], 4, "'3000-01-01 02:00:00'"),
    (["1000000000000000", "1000000003600000", "1000000007200000"], 2, "(Unix milliseconds)"),
    (["1609459200", "1e19", "1609466400"], 3, "'1e19'"),
])
def test_times_outside_pandas_range_name_the_file_and_line(tmp_path, times, line, shown):
    p = hourly(tmp_path / "p.csv", times)
    with pytest.raises(DataError) as exc:
        load_prices(p, log=None)
    msg = str(exc.value)
    assert f"data file {str(p)!r}, line {line}" in msg and shown in msg
    assert "outside the supported time range (1677-09-22 to 2262-04-11 UTC)" in msg


def test_times_shifted_out_of_range_by_the_utc_offset(tmp_path):
    p = hourly(tmp_path / "p.csv", ["1677-09-22T01:00:00Z", "1677-09-22T02:00:00Z", "1677-09-22T03:00:00Z"])
    with pytest.raises(DataError, match="shifted by UTC\\+3 h is outside the supported time range"):
        load_prices(p, {"time": "timestamp", "close": "price", "utc_offset": "3"}, log=None)


@pytest.mark.parametrize("command", ["calibrate", "replay", "backtest"])
@pytest.mark.parametrize("date", ["0001-01-01", "9999-12-31", "3000-01-01", "1000000000000000", "2262-05-01"])
def test_dates_outside_pandas_range_in_options(cli, command, date):
    opt = {"calibrate": "--start", "replay": "--start", "backtest": "--from"}[command]
    argv = [command] + ([] if command == "calibrate" else [CFG, "--no-save"])
    argv += ["--prices", BTC, opt, date, "-q"]
    if command == "backtest":
        argv += ["--to", "2021-06-01"]
    one_line(cli, argv, f"{opt} '{date}': outside the supported time range (1677-09-22 to 2262-04-11 UTC)")


def test_end_of_day_beyond_the_range(cli):
    one_line(cli, ["calibrate", "--prices", BTC, "--end", "2262-04-11", "-q"], "--end '2262-04-11' (the end of that day)")
    one_line(cli, ["backtest", CFG, "--prices", BTC, "--from", "2021-03-01", "--to", "9999-01-01", "--no-save", "-q"],
             "--to '9999-01-01'")


@pytest.mark.parametrize("offset", ["nan", "inf", "-inf", "1e300", "25", "abc", ""])
@pytest.mark.parametrize("which", ["--price-columns", "--funding-columns"])
def test_utc_offset_must_be_hours_within_a_day(cli, offset, which):
    mapping = ("time=time,close=close" if which == "--price-columns" else "time=Timestamp,funding=Funding Rate")
    one_line(cli, ["calibrate", "--prices", BTC, "--funding", BYBIT, which, f"{mapping},utc_offset={offset}", "-q"],
             f"utc_offset={offset!r} is not a number of hours from -24 to 24")


@pytest.mark.parametrize("horizon", ["99999d", "182d", "3650d"])
def test_replay_horizon_longer_than_the_data(cli, horizon):
    one_line(cli, ["replay", CFG, "--prices", BTC, "--start", "2021-02-01", "--horizon", horizon, "--no-save", "-q"],
             f"--horizon {horizon}: longer than the price data", "spans 181 days")


def test_replay_config_horizon_longer_than_the_data(cli):
    one_line(cli, ["replay", CFG, "--prices", BTC, "--start", "2021-02-01", "--set", 'simulation.horizon="3000d"',
                   "--no-save", "-q"], "simulation.horizon 3000d: longer than the price data")


@pytest.mark.parametrize("every", ["1s", "1min", "59min"])
def test_replay_steps_shorter_than_a_bar(cli, every):
    """--every 1s on hourly bars ran 86,401 windows silently."""
    one_line(cli, ["replay", CFG, "--prices", BTC, "--start", "2021-02-01", "--every", every, "--end", "2021-02-02",
                   "--no-save", "-q"], f"--every {every}: shorter than the price bars (1 h)")


def test_backtest_step_shorter_than_a_bar_and_window_longer_than_the_data(cli):
    one_line(cli, ["backtest", CFG, "--prices", BTC, "--from", "2021-03-01", "--to", "2021-04-01", "--step", "1s",
                   "--no-save", "-q"], "--step 1s: shorter than the price bars")
    one_line(cli, ["backtest", CFG, "--prices", BTC, "--from", "2021-03-01", "--to", "2021-04-01", "--window",
                   "999d", "--no-save", "-q"], "--window 999d: longer than the price data")


def test_rolling_windows_only_try_starts_inside_the_data(cli):
    """A start in 1700 and an end in 2260 must not build 200,000 windows."""
    t0 = time.perf_counter()
    code, out, err = cli(["replay", CFG, "--prices", BTC, "--start", "1700-01-01", "--end", "2260-01-01", "--every",
                          "30d", "--horizon", "7d", "--no-save", "-q"])
    assert code == 0, err
    assert "1 h, 5 window(s)" in out  # 2021-01-28 + 30 d k: the windows of 7 d inside the data
    assert time.perf_counter() - t0 < 30


def funding_file(tmp_path: Path, rate: str) -> Path:
    lines = BYBIT.read_text().splitlines()
    parts = lines[5].split(",")
    parts[-1] = rate
    lines[5] = ",".join(parts)
    p = tmp_path / "funding.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.mark.parametrize("rate", ["1e300", "0.5", "-0.2"])
@pytest.mark.parametrize("command", ["calibrate", "replay"])
def test_funding_rates_outside_the_config_range(cli, tmp_path, rate, command):
    """1e300: calibrate failed with a math domain error, replay accepted it."""
    f = funding_file(tmp_path, rate)
    argv = [command] + ([] if command == "calibrate" else [CFG, "--start", "2021-01-01", "--no-save"])
    one_line(cli, argv + ["--prices", BTC, "--funding", f, "-q"],
             f"data file {str(f)!r}, line 6: funding rate", "outside the allowed range [-0.1, 0.1] per interval")


def test_funding_rates_at_the_bounds_are_read(tmp_path):
    f = funding_file(tmp_path, "0.1")
    assert float(load_funding(f, log=None).rate.max()) == 0.1


def test_stress_replay_file_with_a_huge_funding_rate(cli, tmp_path):
    path = tmp_path / "path.csv"
    path.write_text("timestamp,price,funding\n" + "".join(
        f"2020-03-05T{h:02d}:00:00Z,{9000 + h},{'1e300' if h == 3 else '0.0001'}\n" for h in range(12)))
    cfg = tmp_path / "c.toml"
    cfg.write_text(CFG.read_text().replace("[simulation]", "[simulation]\nhorizon = \"12h\"", 1).replace(
        'horizon = "30d"\n', "") + f'\n[[stress]]\ntype = "replay"\nfile = "{path.name}"\n')
    one_line(cli, ["stress", cfg, "--paths", "1024", "--no-save", "-q"], "line 5: funding rate 1e+300")


def test_a_data_file_name_too_long(cli):
    one_line(cli, ["calibrate", "--prices", "p" * 5000 + ".csv", "-q"], "cannot be read (File name too long)")
