"""Stress scenarios (issue 4 §4): each ``[[stress]]`` type against a hand calculation.

Deterministic cases: no diffusion (sigma = 0) or a diffusion whose effect cancels, constant
funding and basis (stationary_std = 0), no fees. Then every stress has a closed-form
effect:

* jump of size x at t: S_T = S_0 (1 + x) e^{mu T}; hedged value Q + C S_T (inverse,
  Q/E = 1 BTC, no fee or funding); a rally past the liquidation price liquidates at t;
* vol multiplier m over the whole horizon: the same index path as sigma m (same seed);
* funding pinned at v on (start, end]: each payment is (Q/M) v, then the rate decays back
  to its mean by a = 2^(-interval / half_life) per interval;
* basis shock s at t: b_T = s a^(steps after t), a = 2^(-dt / half_life), M_T = S_T (1 + b_T);
  a shock past the liquidation price liquidates at t;
* replay of a CSV path: the liquidation time is the first hour the price reaches L.

Also ``hedgesim stress`` end to end: one row per scenario plus the baseline, a Dataset
with a ``scenario`` dim, and the errors (no scenarios, times outside the horizon).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

import sim
from sim import engine
from sim import results

ROOT = Path(__file__).resolve().parents[2]
SEED_EXAMPLE = ROOT / "configs" / "seed_example.toml"
L_SEED = 60_000 * 0.995 / 0.95  # liquidation price of the seed example (configs/seed_example.toml), 62,842.105 USD

# deterministic market: no diffusion, no jumps, constant (zero) funding and basis, no fees
DET = {"market.model": "gbm", "market.spot": 60_000.0, "market.mu": 0.0, "market.sigma": 0.0,
       "funding.initial": 0.0, "funding.mean": 0.0, "funding.stationary_std": 0.0,
       "basis.initial": 0.0, "basis.stationary_std": 0.0, "exchange.taker_fee": 0.0,
       "exchange.maintenance_margin": 0.005, "position.stack": 1.0, "position.collateral": 0.1,
       "position.hedge_ratio": 1.0, "simulation.paths": 8, "simulation.horizon": "7d", "simulation.dt": "1h",
       "simulation.seed": 3}
T_YEARS = 7 / 365


def det_cfg(**over):
    return sim.load_config(None, overrides={**DET, **over})


def stressed(cfg, **st):
    st.setdefault("name", st["type"])
    return results.build_dataset(engine.simulate(cfg, stress=st))




# --------------------------------------------------------------------------- jump


def test_jump_moves_the_index_by_exactly_its_size():
    cfg = det_cfg(**{"market.mu": 0.1})
    ds = stressed(cfg, type="jump", size=-0.2, at="3d")
    s_t = 60_000 * 0.8 * math.exp(0.1 * T_YEARS)
    np.testing.assert_allclose(ds["index_T"].values, s_t, rtol=1e-12)
    np.testing.assert_allclose(ds["mark_T"].values, s_t, rtol=1e-12)
    # inverse algebra: hedged = (N + C + Q/M_T - Q/E) S_T = Q + C S_T with Q = 60,000, Q/E = 1
    np.testing.assert_allclose(ds["hedged_value"].values, 60_000 + 0.1 * s_t, rtol=1e-12)
    np.testing.assert_allclose(ds["unhedged_value"].values, 1.1 * s_t, rtol=1e-12)
    # the hedge lost only the unhedged collateral's fall: PnL = C (S_T - S_0)
    np.testing.assert_allclose(ds["hedged_pnl"].values, 0.1 * (s_t - 60_000), rtol=1e-9)
    assert not ds["liquidated"].values.any()
    # without the stress the same config ends at S_0 e^{mu T}
    base = results.build_dataset(engine.simulate(cfg))
    np.testing.assert_allclose(base["index_T"].values, 60_000 * math.exp(0.1 * T_YEARS), rtol=1e-12)


def test_a_rally_past_the_liquidation_price_liquidates_at_that_step():
    cfg = det_cfg(**{"position.collateral": 0.05})  # the seed example: L = 62,842.1, +4.74 %
    ds = stressed(cfg, type="jump", size=0.05, at="3d")  # 63,000 > L
    assert ds["liquidated"].values.all()
    np.testing.assert_array_equal(ds["liquidation_time"].values, np.float32(3.0))
    # the equity is lost; the stack is unhedged after: hedged value N S_T, unhedged (N + C) S_T
    np.testing.assert_allclose(ds["hedged_value"].values, 63_000.0, rtol=1e-12)
    np.testing.assert_allclose(ds["unhedged_value"].values, 1.05 * 63_000.0, rtol=1e-12)
    # a rally that stays below L does not liquidate: +4.5 % -> 62,700 < 62,842.1
    ds = stressed(cfg, type="jump", size=0.045, at="3d")
    assert not ds["liquidated"].values.any()
    # min margin level at 62,700: (C + Q/M - Q/E) / (mmr Q/M)
    level = (0.05 + 60_000 / 62_700 - 1) / (0.005 * 60_000 / 62_700)
    np.testing.assert_allclose(ds["min_margin_level"].values, level, rtol=1e-9)
    # a jump at another time liquidates at that time (50 h = 2.0833 days)
    ds = stressed(cfg, type="jump", size=0.10, at="50h")
    np.testing.assert_array_equal(ds["liquidation_time"].values, np.float32(50 / 24))


# --------------------------------------------------------------------------- volatility


def test_vol_multiplier_over_the_horizon_equals_a_higher_sigma():
    base = {**DET, "market.sigma": 0.5, "market.mu": 0.05, "simulation.paths": 2000}
    cfg = sim.load_config(None, overrides=base)
    ds = stressed(cfg, type="vol", multiplier=2.0)
    ref = sim.run(sim.load_config(None, overrides={**base, "market.sigma": 1.0}))
    np.testing.assert_allclose(ds["index_T"].values, ref["index_T"].values, rtol=1e-12)
    np.testing.assert_array_equal(ds["liquidated"].values, ref["liquidated"].values)
    # an explicit end at the horizon is the same window; (1h, 7d] leaves step 1 unstressed
    ds2 = stressed(cfg, type="vol", multiplier=2.0, end="7d")
    np.testing.assert_array_equal(ds2["index_T"].values, ds["index_T"].values)
    ds3 = stressed(cfg, type="vol", multiplier=2.0, start="1h", end="7d")
    assert not np.array_equal(ds3["index_T"].values, ds["index_T"].values)


def test_vol_multiplier_over_a_window_scales_the_variance():
    """x3 over (2d, 4d] of 7 days: Var log S_T = sigma^2 (5 + 9 x 2) days; E[S_T] stays S_0 e^{mu T}."""
    n = 20_000
    cfg = det_cfg(**{"market.sigma": 0.6, "simulation.paths": n})
    ds = stressed(cfg, type="vol", multiplier=3.0, start="2d", end="4d")
    x = np.log(ds["index_T"].values / 60_000)
    want = 0.36 * (5 + 9 * 2) / 365
    assert x.var(ddof=1) == pytest.approx(want, rel=5 * math.sqrt(2 / n))
    s = ds["index_T"].values
    assert abs(s.mean() - 60_000) < 4 * s.std(ddof=1) / math.sqrt(n)


# --------------------------------------------------------------------------- funding


def test_funding_pinned_to_the_horizon_is_the_sum_of_pinned_payments():
    cfg = det_cfg()
    ds = stressed(cfg, type="funding", value=-0.00375, start="4d")
    # funding times in (4d, 7d] at 8 h: 104 h, 112 h, ..., 168 h = 9 payments of Q/M v = 1 x v BTC
    np.testing.assert_allclose(ds["funding"].values, 9 * -0.00375, rtol=1e-12)
    # in USD each payment is valued at the index (60,000), and it lowers the hedged value
    np.testing.assert_allclose(ds["funding_usd"].values, 9 * -0.00375 * 60_000, rtol=1e-12)
    np.testing.assert_allclose(ds["hedged_value"].values, (1 + 0.1 - 9 * 0.00375) * 60_000, rtol=1e-12)


def test_funding_pinned_over_a_window_then_decays_to_its_mean():
    f0 = 0.0001
    cfg = det_cfg(**{"funding.initial": f0, "funding.mean": f0, "funding.half_life": "1d"})
    v = -0.00375
    ds = stressed(cfg, type="funding", value=v, start="1d", end="3d")
    a = 2.0 ** (-8 / 24)  # OU decay over one 8 h interval with a 1 d half-life
    before = 3 * f0  # 8, 16, 24 h: at the mean
    pinned = 6 * v  # 32, 40, ..., 72 h: in (1d, 3d]
    after = sum(f0 + (v - f0) * a**j for j in range(1, 13))  # 80, ..., 168 h
    np.testing.assert_allclose(ds["funding"].values, before + pinned + after, rtol=1e-12)
    base = results.build_dataset(engine.simulate(cfg))
    np.testing.assert_allclose(base["funding"].values, 21 * f0, rtol=1e-12)


def test_funding_pin_is_clamped_to_the_cap():
    cfg = det_cfg(**{"funding.cap": 0.001})
    ds = stressed(cfg, type="funding", value=0.01, start="4d")
    np.testing.assert_allclose(ds["funding"].values, 9 * 0.001, rtol=1e-12)


# --------------------------------------------------------------------------- basis


def test_basis_shock_then_mean_reversion():
    cfg = det_cfg()  # basis half-life 8 h (default), dt 1 h
    ds = stressed(cfg, type="basis", size=0.01, at="3d")
    a = 2.0 ** (-1 / 8)
    b_t = 0.01 * a**96  # 168 - 72 steps after the shock
    m_t = 60_000 * (1 + b_t)
    np.testing.assert_allclose(ds["index_T"].values, 60_000, rtol=1e-12)
    np.testing.assert_allclose(ds["mark_T"].values, m_t, rtol=1e-12)
    # the account closes at the mark: hedged = (N + C + Q/M_T - Q/E) S_T
    np.testing.assert_allclose(ds["hedged_value"].values, (1.1 + 60_000 / m_t - 1) * 60_000, rtol=1e-12)
    # the worst point was the shock itself: min margin level at M = 60,600
    level = (0.1 + 60_000 / 60_600 - 1) / (0.005 * 60_000 / 60_600)
    np.testing.assert_allclose(ds["min_margin_level"].values, level, rtol=1e-9)


def test_large_basis_shock_liquidates_at_that_step():
    cfg = det_cfg(**{"position.collateral": 0.05})
    ds = stressed(cfg, type="basis", size=0.06, at="2d")  # mark 63,600 > 62,842.1
    assert ds["liquidated"].values.all()
    np.testing.assert_array_equal(ds["liquidation_time"].values, np.float32(2.0))
    # the index did not move: the liquidation is pure basis risk
    np.testing.assert_allclose(ds["index_T"].values, 60_000, rtol=1e-12)
    ds = stressed(cfg, type="basis", size=0.04, at="2d")  # 62,400 < L
    assert not ds["liquidated"].values.any()


# --------------------------------------------------------------------------- replay


def ramp_csv(path: Path, hours: int = 48, start: float = 60_000.0, end: float = 66_000.0) -> Path:
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    lines = ["timestamp,price"]
    for k in range(hours + 1):
        t = (t0 + timedelta(hours=k)).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"{t},{start + (end - start) * k / hours:.2f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_replay_of_a_ramp_liquidates_at_the_hand_computed_hour(tmp_path):
    """Prices 60,000 + 125 k at hour k; L = 62,842.1, so the first hour at or above it is
    k = 23 (62,875; hour 22 is 62,750)."""
    csv = ramp_csv(tmp_path / "ramp.csv")
    cfg = sim.load_config(SEED_EXAMPLE, overrides={"simulation.paths": 1000})
    k = math.ceil((L_SEED - 60_000) / 125)
    assert k == 23
    ds = results.build_dataset(engine.replay(cfg, str(csv)))
    assert ds.sizes["path"] == 1
    assert bool(ds["liquidated"].values[0])
    assert float(ds["liquidation_time"].values[0]) == pytest.approx(23 / 24, rel=1e-6)
    assert ds.attrs["horizon"] == "2d"  # the replay is as long as the file
    np.testing.assert_allclose(ds["index_T"].values, 66_000.0, rtol=1e-12)
    np.testing.assert_allclose(ds["hedged_value"].values, 66_000.0, rtol=1e-12)  # the stack alone
    # with a little more collateral the same path liquidates later: C = 0.06 -> L = 63,510.6,
    # first hour 28 (63,500 at hour 28 is still below: hour 29, 63,625)
    cfg2 = cfg.replace({"position.collateral": 0.06})
    l2 = 60_000 * 0.995 / 0.94
    k2 = math.ceil((l2 - 60_000) / 125)
    ds2 = results.build_dataset(engine.replay(cfg2, str(csv)))
    assert float(ds2["liquidation_time"].values[0]) == pytest.approx(k2 / 24, rel=1e-6)
    # and at 1x (C = 1 BTC) an inverse short is never liquidated
    ds3 = results.build_dataset(engine.replay(cfg.replace({"position.collateral": 1.0}), str(csv)))
    assert not ds3["liquidated"].values[0]


def test_replay_funding_column_and_unsorted_rows(tmp_path):
    p = tmp_path / "f.csv"
    rows = ["time,close,funding"]
    t0 = 1_700_000_000
    for k in range(24, -1, -1):  # newest first: the reader sorts by time
        rows.append(f"{t0 + 3600 * k},60000,0.001")
    p.write_text("\n".join(rows) + "\n", encoding="utf-8")
    cfg = sim.load_config(SEED_EXAMPLE, overrides={"simulation.paths": 10})
    ds = results.build_dataset(engine.replay(cfg, str(p)))
    # 24 h at 8 h: 3 payments of Q/M f = 1 x 0.001 BTC
    np.testing.assert_allclose(ds["funding"].values, 0.003, rtol=1e-12)


# --------------------------------------------------------------------------- hedgesim stress


STRESS_TOML = """
[market]
model = "gbm"
spot = 60000.0
sigma = 0.6
[funding]
initial = 0.0
mean = 0.0
[position]
collateral = 0.1
[exchange]
maintenance_margin = 0.005
taker_fee = 0.0
[simulation]
paths = 4000
horizon = "7d"
seed = 11

[[stress]]
name = "crash -30 %"
type = "jump"
size = -0.30
at = "2d"

[[stress]]
name = "rally +25 %"
type = "jump"
size = 0.25
at = "2d"

[[stress]]
name = "vol x3"
type = "vol"
multiplier = 3.0
start = "1d"
end = "4d"

[[stress]]
name = "funding at -cap"
type = "funding"
value = -0.00375
start = "1d"
end = "4d"

[[stress]]
name = "basis +2 %"
type = "basis"
size = 0.02
at = "3d"

[[stress]]
name = "ramp"
type = "replay"
file = "ramp.csv"
"""


def test_stress_command_prints_a_row_per_scenario_and_writes_a_dataset(tmp_path, cli):
    """Also: a 2-day replay next to scenarios timed beyond 2 days (the replay's horizon is
    its file's span; the other scenarios must not be re-checked against it)."""
    ramp_csv(tmp_path / "ramp.csv")
    cfg_path = tmp_path / "st.toml"
    cfg_path.write_text(STRESS_TOML, encoding="utf-8")
    out = tmp_path / "st.zarr"
    code, text, err = cli(["stress", cfg_path, "-q", "--out", out])
    assert code == 0, err
    lines = text.splitlines()
    names = ["baseline", "crash -30 %", "rally +25 %", "vol x3", "funding at -cap", "basis +2 %", "ramp (replay)"]
    for name in names:
        assert sum(line.startswith(name) for line in lines) == 1, name
    assert "(PnL in USD)" in text and "P(liq)" in text and "ES 99 % hedged" in text
    assert "4,000 paths" in text and "seed 11" in text
    ds = sim.open_result(str(out))
    assert list(ds["scenario"].values) == names[:-1] + ["ramp"]
    assert list(ds["type"].values) == ["", "jump", "jump", "vol", "funding", "basis", "replay"]
    for name in ("liquidation_probability", "es99_hedged", "median_hedged_pnl", "median_unhedged_pnl",
                 "liquidation_probability_vs_baseline", "liquidation_probability_vs_baseline_se"):
        assert ds[name].dims == ("scenario",), name
        assert "units" in ds[name].attrs
    assert ds["es99_hedged"].attrs["units"] == "USD"
    p = ds["liquidation_probability"].to_series()
    # directions: a +25 % rally liquidates almost every 10x short (L = 66,333 = +10.6 %; only
    # paths more than 11.5 % down by day 2, a 2.7-sd move, escape), a crash none of them
    # before it, vol x3 and the basis shock raise the probability, the funding pin lowers
    # equity by 9 x 0.375 % = 3.4 % of the position (more liquidations)
    assert 0.99 < p["rally +25 %"] <= 1.0
    assert p["crash -30 %"] <= p["baseline"]
    for name in ("vol x3", "funding at -cap", "basis +2 %"):
        assert p[name] > p["baseline"], name
    assert p["ramp"] == 0.0  # +10 % on the ramp: just below L = 66,333
    # each row is the same as running that scenario alone (same seed, same paths)
    cfg = sim.load_config(cfg_path)
    alone = stressed(cfg.without_sweep(), **cfg.stress[2])
    assert p["vol x3"] == float(alone["liquidation_probability"])
    # the crash: the median unhedged PnL is about -30 % of 1.1 BTC x 60,000
    mu = ds["median_unhedged_pnl"].sel(scenario="crash -30 %")
    assert float(mu) == pytest.approx(-0.3 * 66_000, rel=0.1)
    # paired differences against the baseline
    d = ds["liquidation_probability_vs_baseline"].sel(scenario="vol x3")
    assert float(d) == pytest.approx(p["vol x3"] - p["baseline"], abs=1e-12)
    assert 0 < float(ds["liquidation_probability_vs_baseline_se"].sel(scenario="vol x3")) < float(d)


def test_stress_without_scenarios_is_an_error(cli):
    code, out, err = cli(["stress", SEED_EXAMPLE, "--paths", 100, "-q", "--no-save"])
    assert code == 2 and out == ""
    assert "has no [[stress]] scenarios" in err


@pytest.mark.parametrize("table, field", [
    ('type = "jump"\nsize = -0.3\nat = "10d"', "stress[0].at"),
    ('type = "basis"\nsize = 0.01\nat = "30min"', "stress[0].at"),
    ('type = "vol"\nmultiplier = 2.0\nstart = "1d"\nend = "9d"', "stress[0].end"),
    ('type = "funding"\nvalue = 0.001\nstart = "8d"', "stress[0].start"),
])
def test_stress_times_outside_the_horizon_are_rejected(table, field, tmp_path, cli):
    p = tmp_path / "bad.toml"
    p.write_text(f'[simulation]\nhorizon = "7d"\npaths = 100\n\n[[stress]]\n{table}\n', encoding="utf-8")
    code, out, err = cli(["stress", p, "-q", "--no-save"])
    assert code == 2 and out == ""
    assert err.startswith(f"hedgesim: error: {field} = ") and "outside the simulated time" in err


@pytest.mark.parametrize("table, needle", [
    ('type = "jump"\nat = "1d"', "stress[0].size: missing"),
    ('type = "crash"', 'stress[0].type = "crash": unknown'),
    ('type = "jump"\nsize = -1.5\nat = "1d"', "stress[0].size = -1.5: out of range"),
    ('type = "vol"\nmultiplier = 2.0\nstart = "3d"\nend = "2d"', "stress[0].end"),
    ('type = "replay"\nfile = "missing.csv"', "missing.csv"),
])
def test_bad_stress_tables(table, needle, tmp_path, cli):
    p = tmp_path / "bad.toml"
    p.write_text(f'[simulation]\nhorizon = "7d"\npaths = 100\n\n[[stress]]\n{table}\n', encoding="utf-8")
    code, out, err = cli(["stress", p, "-q", "--no-save"])
    assert code == 2, err
    assert needle in err
