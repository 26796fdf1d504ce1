"""Robust calibration choices (issue 14, item 2): the grammar, and the factor of each tool
against a hand computation on a price series whose realised variances are known exactly;
nothing after the end of the look-back moves it; calibrate writes the scaled values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.config import YEAR_SECONDS
from sim.data import calibrate, load_funding, load_prices
from sim.data.calibrate import to_toml
from sim.data.choices import CalibrationChoice, VolHistory, adjustment, apply_choice, parse_choice, parse_choices
from sim.data.load import PriceData
from sim.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT / "data" / "btc_usd_1h_cryptocompare_2021H1.csv.gz"
BYBIT = ROOT / "data" / "bybit_btcusd_inverse_8h_spot_perp_funding_2021H1.csv"
DAY = 86400.0
T0 = pd.Timestamp("2020-01-01", tz="UTC")


def test_grammar_round_trips():
    c = parse_choice("365d+stress_weight=0.25+vol_floor=10y+vol_buffer=0.25")
    assert c == CalibrationChoice(365 * DAY, 0.25, 3650 * DAY, 0.25)
    assert parse_choice(c.label) == c and c.adjusted
    assert parse_choice("all").window_s == math.inf and parse_choice("all").label == "all"
    assert parse_choice("3y").label == "1095d" and not parse_choice("3y").adjusted
    assert parse_choice("2w").window_s == 14 * DAY
    # the options' defaults fill the keys a choice does not set
    d = parse_choice("365d+vol_buffer=0.5", stress_weight=0.25, vol_buffer=0.1, vol_floor="all")
    assert d == CalibrationChoice(365 * DAY, 0.25, math.inf, 0.5)
    assert [x.label for x in parse_choices("365d,1095d,all")] == ["365d", "1095d", "all"]


@pytest.mark.parametrize("text, needle", [
    ("", "give at least one"), ("365d+foo=1", "not one of"), ("365d+stress_weight=1", "[0, 1)"),
    ("365d+vol_buffer=-0.1", "[0, 10)"), ("365 days", "not a duration"), ("365d+vol_floor=x", "vol_floor"),
    ("365d,365d", "given twice"), ("365d+vol_buffer=0.1+vol_buffer=0.2", "given twice"),
    ("+vol_buffer=0.1", "look-back first"),
])
def test_grammar_errors(text, needle):
    """(and the options' defaults are checked as the keys are)"""
    with pytest.raises(DataError, match="--vol-buffer"):
        parse_choice("365d", vol_buffer=-1.0)
    with pytest.raises(DataError, match=None) as exc:
        parse_choices(text)
    assert needle in str(exc.value)


def _series(after: float = 1.0) -> PriceData:
    """200 days of hourly closes: alternating log returns of 0.01, except 0.03 in the bars
    that end in (day 100, day 130]; returns after day 200 are multiplied by ``after``
    (another 30 days)."""
    n = 230 * 24
    t = T0 + pd.to_timedelta(np.arange(n + 1), unit="h")
    size = np.full(n, 0.01)
    end_day = np.arange(1, n + 1) / 24  # return i ends at bar i + 1
    size[(end_day > 100) & (end_day <= 130)] = 0.03
    size[end_day > 200] *= after
    r = size * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    close = 30000 * np.exp(np.r_[0.0, np.cumsum(r)])
    bars = pd.DataFrame({"close": close}, index=t)
    return PriceData(bars, pd.Timedelta("1h"), "synthetic", "synthetic", [])


def test_factor_of_each_tool_by_hand():
    px = _series()
    hist = VolHistory(px)
    dt = 3600 / YEAR_SECONDS  # one hourly return in years
    v_calm, v_stress = 0.01 ** 2 / dt, 0.03 ** 2 / dt
    a, b = T0 + pd.Timedelta(days=140), T0 + pd.Timedelta(days=200)  # the look-back: calm
    assert hist.variance(a.value, b.value) == pytest.approx(v_calm, rel=1e-9)
    assert hist.stressed(b.value) == pytest.approx(v_stress, rel=1e-9)  # the 30 days (100, 130]
    assert math.isnan(hist.stressed((T0 + pd.Timedelta(days=29)).value))  # no full 30 days yet
    # stress weight 0.25: sqrt(0.75 + 0.25 * 9) = sqrt(3)
    adj = adjustment(hist, parse_choice("60d+stress_weight=0.25"), a, b)
    assert adj.factor == pytest.approx(math.sqrt(3.0), rel=1e-9)
    # floor over all history (200 days: 170 calm, 30 stressed): variance ratio (170 + 30 * 9) / 200 = 2.2
    adj = adjustment(hist, parse_choice("60d+vol_floor=all"), a, b)
    assert adj.factor == pytest.approx(math.sqrt(2.2), rel=1e-9) and adj.floor_days == pytest.approx(200.0)
    # a floor of 10 years on 200 days of data uses those 200 days, and says so
    adj = adjustment(hist, parse_choice("60d+vol_floor=10y"), a, b)
    assert adj.factor == pytest.approx(math.sqrt(2.2), rel=1e-9) and "200 of the 3,650 days" in adj.notes[0]
    # a floor below the look-back's own volatility does nothing; the buffer multiplies
    assert adjustment(hist, parse_choice("60d+vol_floor=30d"), a, b).factor == pytest.approx(1.0, abs=1e-12)
    assert adjustment(hist, parse_choice("60d+vol_buffer=0.25"), a, b).factor == 1.25
    # together: max(stress, floor) x (1 + buffer)
    adj = adjustment(hist, parse_choice("60d+stress_weight=0.25+vol_floor=all+vol_buffer=0.25"), a, b)
    assert adj.factor == pytest.approx(math.sqrt(3.0) * 1.25, rel=1e-9)
    assert adjustment(hist, parse_choice("60d"), a, b).factor == 1.0


def test_factor_has_no_look_ahead():
    """Prices after the end of the look-back (here 9x the volatility) do not move it."""
    a, b = T0 + pd.Timedelta(days=140), T0 + pd.Timedelta(days=200)
    c = parse_choice("60d+stress_weight=0.25+vol_floor=all+vol_buffer=0.25")
    one = adjustment(VolHistory(_series()), c, a, b)
    two = adjustment(VolHistory(_series(after=3.0)), c, a, b)
    assert one == two
    later = b + pd.Timedelta(days=30)  # the look-ahead the test would catch: a later end sees the new stress
    assert adjustment(VolHistory(_series(after=3.0)), c, a + pd.Timedelta(days=30), later).factor != one.factor


def test_calibrate_writes_the_scaled_config(tmp_path):
    px = load_prices(BTC, log=None)
    fu = load_funding(BYBIT, log=None)
    cal = calibrate(px, fu, "2021-04-01", "2021-06-01")
    plain = cal.config_values("merton")
    adj = apply_choice(cal, VolHistory(px), parse_choice("61d+vol_buffer=0.25"))
    assert adj.factor == 1.25 and cal.vol_factor == 1.25
    text = to_toml(cal, "merton")
    p = tmp_path / "c.toml"
    p.write_text(text)
    cfg = sim.load_config(p)
    assert cfg.market.sigma == pytest.approx(1.25 * plain["market.sigma"], rel=1e-5)
    assert cfg.market.jump_std == pytest.approx(1.25 * plain["market.jump_std"], rel=1e-5)
    assert cfg.market.jump_intensity == pytest.approx(plain["market.jump_intensity"], rel=1e-5)
    assert "EU 153/2013 Art. 28(1)(a)" in text and "x 1.2500" in text


def test_cli_calibrate_with_robust_options(tmp_path, cli):
    code, out, err = cli(["calibrate", "--prices", BTC, "--funding", BYBIT, "--model", "gbm", "--end", "2021-05-31",
                          "--calibration-window", "60d", "--stress-weight", "0.25", "--vol-floor", "all"])
    assert code == 0, err
    assert "2021-04-02 00:00 UTC to 2021-06-01 00:00 UTC" in out and "Art. 28(1)(b)" in out
    p = tmp_path / "c.toml"
    p.write_text(out)
    assert sim.load_config(p).market.model == "gbm"
    code, out, err = cli(["calibrate", "--prices", BTC, "--calibration-window", "60d", "--start", "2021-01-01"])
    assert code == 2 and "give one" in err
    code, out, err = cli(["calibrate", "--prices", BTC, "--calibration-window", "60d+vol_buffer=x"])
    assert code == 2 and "vol_buffer" in err and out == ""
