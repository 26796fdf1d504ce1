"""Market-data loading (issue 6): layouts, units, order, duplicates, partial bars, gaps,
errors naming the file and the line. Small synthetic files in tmp_path, plus the real
sample shipped in data/ (never ../shared)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.data import DataError, load_funding, load_prices
from sim.data.layouts import parse_columns
from sim.data.load import asof

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT / "data" / "btc_usd_1h_cryptocompare_2021H1.csv.gz"
BYBIT = ROOT / "data" / "bybit_btcusd_inverse_8h_spot_perp_funding_2021H1.csv"
T0 = 1_600_000_000 - 1_600_000_000 % 3600  # 2020-09-13 12:00 UTC, a whole hour


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def utc(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


def gemini_like(n: int, switch_at: int, newest_first: bool = True) -> list[str]:
    """CryptoDataDownload layout: Unix Timestamp in s for the first `switch_at` hours, ms after."""
    rows = []
    for i in range(n):
        t = T0 + 3600 * i
        ts = str(t * 1000) if i >= switch_at else str(t)
        c = 100.0 + i
        rows.append(f"{ts},2020-01-01 00:00:00,BTCUSD,{c - 0.5},{c + 1},{c - 1},{c},1.0")
    if newest_first:
        rows = rows[::-1]
    return ["Unix Timestamp,Date,Symbol,Open,High,Low,Close,Volume", *rows]


def test_seconds_to_milliseconds_switch_and_newest_first(tmp_path):
    notes = []
    px = load_prices(write(tmp_path / "g.csv", gemini_like(10, 4)), log=notes.append)
    assert px.layout == "cryptodatadownload"
    assert px.bar == pd.Timedelta("1h")
    # bars are labelled by their end; the last (possibly partial) bar is dropped
    assert len(px.bars) == 9
    assert px.bars.index[0] == pd.Timestamp(T0 + 3600, unit="s", tz="UTC")
    assert px.bars.index.is_monotonic_increasing
    assert np.all(np.diff(px.bars.index.asi8) == 3600 * 10**9)
    np.testing.assert_array_equal(px.bars["close"].to_numpy(), 100.0 + np.arange(9))
    text = "\n".join(notes)
    assert "seconds to milliseconds" in text and "newest first" in text and "last bar" in text


def test_partial_last_bar_dropped_or_kept(tmp_path):
    f = write(tmp_path / "g.csv", gemini_like(6, 0, newest_first=False))
    assert len(load_prices(f, log=None).bars) == 5
    kept = load_prices(f, keep_last=True, log=None).bars
    assert len(kept) == 6 and kept["close"].iloc[-1] == 105.0
    # rows labelled by bar END (the spot/perp 8-hourly layout) are complete: nothing dropped
    sp = load_prices(BYBIT, log=None)
    assert sp.layout == "spot-perp-8h" and len(sp.bars) == 545


def test_duplicates_identical_and_differing(tmp_path):
    lines = gemini_like(5, 5, newest_first=False)  # all in seconds
    same = write(tmp_path / "same.csv", lines[:3] + [lines[2]] + lines[3:])
    notes = []
    px = load_prices(same, log=notes.append)
    assert len(px.bars) == 4 and "identical values dropped" in "\n".join(notes)
    # the same hour once in seconds and once in milliseconds with another close: the ms row wins
    t = T0 + 3600 * 2
    diff = lines + [f"{t * 1000},x,BTCUSD,101.5,103,100,102.5,1.0"]
    notes = []
    px = load_prices(write(tmp_path / "diff.csv", diff), log=notes.append)
    assert px.bars.loc[pd.Timestamp(t + 3600, unit="s", tz="UTC"), "close"] == 102.5
    assert "written in milliseconds" in "\n".join(notes)


def test_gaps_reported_not_filled(tmp_path):
    lines = gemini_like(12, 0, newest_first=False)
    del lines[5:8]  # three hours missing
    notes = []
    px = load_prices(write(tmp_path / "gap.csv", lines), log=notes.append)
    assert len(px.bars) == 8  # 9 rows, last dropped; nothing invented
    assert len(px.gaps) == 1 and int(px.gaps["missing"].iloc[0]) == 3
    assert px.gaps["after"].iloc[0] == pd.Timestamp(T0 + 4 * 3600, unit="s", tz="UTC")
    assert "3 missing bars" in "\n".join(notes)


@pytest.mark.parametrize("bad, where, what", [
    ("abc", "line 5", "close (Close) 'abc' is not a number"),
    ("", "line 5", "close (Close) is empty"),
    ("-3", "line 5", "close = -3 must be positive"),
])
def test_bad_value_names_file_and_line(tmp_path, bad, where, what):
    lines = gemini_like(6, 0, newest_first=False)
    parts = lines[4].split(",")
    parts[6] = bad
    lines[4] = ",".join(parts)
    f = write(tmp_path / "bad.csv", lines)
    with pytest.raises(DataError) as exc:
        load_prices(f, log=None)
    msg = str(exc.value)
    assert "bad.csv" in msg and where in msg and what in msg


def test_bad_time_and_missing_columns(tmp_path):
    f = write(tmp_path / "t.csv", ["timestamp,price", "2021-01-01T00:00:00Z,1", "2021-01-01T01:00:00Z,2",
                                   "yesterday,3"])
    with pytest.raises(DataError, match=r"t\.csv', line 4: cannot read the time 'yesterday'"):
        load_prices(f, log=None)
    f = write(tmp_path / "n.csv", ["when,value", "1,2", "3,4"])
    with pytest.raises(DataError, match="no time column"):
        load_prices(f, log=None)
    with pytest.raises(DataError, match="not found"):
        load_prices(tmp_path / "missing.csv", log=None)
    f = write(tmp_path / "long.csv", ["a,b,c", "1,2,3", "4,5,6,7"])
    with pytest.raises(DataError, match=r"long.csv': malformed CSV .*line 3"):
        load_prices(f, columns={"time": "a", "close": "b"}, log=None)


def test_plain_timestamp_price_iso_and_unix(tmp_path):
    iso = write(tmp_path / "iso.csv", ["timestamp,price", "2021-01-01T02:00:00Z,3", "2021-01-01T00:00:00Z,1",
                                       "2021-01-01T01:00:00+00:00,2"])
    px = load_prices(iso, log=None)
    assert list(px.bars["close"]) == [1.0, 2.0, 3.0]  # a point price is kept at its own time
    assert px.bars.index[0] == utc("2021-01-01 00:00")
    unix = write(tmp_path / "unix.csv", ["timestamp,price", "1609459200,1", "1609462800,2", "1609466400,3"])
    pu = load_prices(unix, log=None)
    pd.testing.assert_index_equal(pu.bars.index, px.bars.index)


def test_explicit_mapping_and_utc_offset(tmp_path):
    f = write(tmp_path / "m.csv", ["When,Px,Top", "2021-01-01 03:00:00,10,11", "2021-01-01 04:00:00,12,13",
                                   "2021-01-01 05:00:00,14,15"])
    px = load_prices(f, parse_columns("time=When,close=Px,high=Top,label=end,utc_offset=3"), log=None)
    assert px.bars.index[0] == utc("2021-01-01 00:00")  # local UTC+3 -> UTC, rows labelled by bar end
    assert list(px.bars["high"]) == [11.0, 13.0, 15.0]
    with pytest.raises(DataError, match="unknown key 'colse'"):
        parse_columns("time=When,colse=Px")
    with pytest.raises(DataError, match="column 'Nope'"):
        load_prices(f, {"time": "When", "close": "Nope"}, log=None)


def test_linear_funding_local_time_and_bitmex_interval(tmp_path):
    f = write(tmp_path / "lin.csv", ["Symbol,Date,Funding Rate", "BTC-USDT,2021-01-01 03:00:00,0.0001",
                                     "BTC-USDT,2021-01-01 11:00:00.001,0.0002", "BTC-USDT,2021-01-01 19:00:00,0.0003"])
    fu = load_funding(f, log=None)
    assert list(fu.rate.index) == [utc("2021-01-01 00:00"), utc("2021-01-01 08:00"), utc("2021-01-01 16:00")]
    assert fu.spacing == pd.Timedelta("8h") and not fu.has_basis
    b = write(tmp_path / "bm.csv", ["timestamp,symbol,fundingInterval,fundingRate,fundingRateDaily",
                                    "2016-05-14T12:00:00Z,XBTUSD,2000-01-02T00:00:00Z,0.0006,0.0006",
                                    "2016-05-15T12:00:00Z,XBTUSD,2000-01-01T08:00:00Z,0.0001,0.0003",
                                    "2016-05-15T20:00:00Z,XBTUSD,2000-01-01T08:00:00Z,0.0001,0.0003"])
    fb = load_funding(b, log=None)
    assert fb.rate.iloc[0] == pytest.approx(0.0002)  # a daily rate, per 8 h


def test_ohlc_repair_and_splice(tmp_path):
    lines = gemini_like(6, 0, newest_first=False)
    p = lines[2].split(",")
    p[4] = "50"  # high below open/close
    p[5] = "0"  # low = 0
    lines[2] = ",".join(p)
    px = load_prices(write(tmp_path / "r.csv", lines), log=None)
    row = px.bars.iloc[1]
    # the zero low is replaced by the close, then high/low widened to contain open and close
    assert row["high"] == max(row["open"], row["close"]) and row["low"] == min(row["open"], row["close"])
    a = write(tmp_path / "a.csv", ["timestamp,price"] + [f"{T0 + 3600 * i},{100 + i}" for i in range(6)])
    b = write(tmp_path / "b.csv", ["timestamp,price"] + [f"{T0 + 3600 * i},{200 + i}" for i in range(4, 9)])
    notes = []
    sp = load_prices([a, b], log=notes.append)
    assert len(sp.bars) == 9 and sp.bars["close"].iloc[4] == 204.0 and sp.bars["close"].iloc[3] == 103.0
    assert "overlap" in "\n".join(notes)


def test_repo_sample_and_asof():
    px = load_prices(BTC, log=None)
    assert px.layout == "cryptocompare-hourly" and px.bar == pd.Timedelta("1h")
    assert px.bars.index[0] == utc("2021-01-01 00:00") and px.bars.index[-1] == utc("2021-07-01 00:00")
    assert len(px.bars) == 4345 and len(px.gaps) == 0
    with gzip.open(BTC, "rt") as fh:
        raw = pd.read_csv(fh)
    # close of the bar opening 2021-01-01 00:00 is the price at 01:00 (bar end)
    assert px.bars.loc[utc("2021-01-01 01:00"), "close"] == raw.loc[raw["time"] == 1609459200, "close"].item()
    fu = load_funding(BYBIT, log=None)
    assert fu.has_basis and len(fu.rate) == 545 and fu.spacing == pd.Timedelta("8h")
    vals, when = asof(fu.rate, pd.DatetimeIndex([utc("2021-01-01 07:59"), utc("2021-01-01 08:00")]))
    assert vals[0] == fu.rate.loc[utc("2021-01-01 00:00")] and vals[1] == fu.rate.loc[utc("2021-01-01 08:00")]
