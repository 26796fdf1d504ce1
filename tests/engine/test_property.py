"""Property test (issue 2): every config in and around the valid ranges either runs with
finite outputs or is rejected by validation.

Configs are drawn over the whole schema, extremes included (sigma up to 5, jump
intensity up to 1,000 a year with jumps of up to e^{+-2}, funding at its cap, collateral
from 0 to 10x the position, both contract types, hedge_ratio 0..10, risk-limit tiers,
horizons from one step to ten years). One example in five pushes a single field just
outside its allowed range (or gives it a wrong type); that config must be rejected.

For a config that runs, the output contract (docs/outputs.md) decides which NaN are legitimate:
``liquidation_time`` of a path never liquidated, ``min_margin_level`` when no positive
maintenance margin is ever checked (no hedge, a zero rate, or tiers whose deduction can
cancel the rate), ``required_collateral`` when there is no hedge, ``liquidation_price``
when no price liquidates, ``hedge_effectiveness`` when the unhedged PnL has no variance
(1 - Var hedged / 0 is undefined: NaN, never -inf), and standard errors of ES estimated
from a single tail path. Everything else must be finite, with no floating-point warnings
(overflow, invalid value) along the way.

Each example runs 256 paths of at most 365 steps, so 150 examples take about 5 s once
numba's cache is warm. ``derandomize=True`` makes the draws the same on
every run (no flaky CI, no example database needed).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xarray as xr

import sim
from sim.results.stats import tail_count

PATHS = 256

# (horizon, dt, funding interval): all whole numbers of steps, 1 to 192 steps each.
GRIDS = [
    ("2d", "1h", "8h"),
    ("2d", "15min", "1h"),
    ("2d", "1h", "1h"),
    ("1h", "1h", "1h"),  # a single monitoring step
    ("1d", "15min", "8h"),
    ("30d", "8h", "8h"),
    ("30d", "1d", "1d"),
    ("10d", "1d", "5d"),
    ("3650d", "10d", "30d"),  # the longest horizon allowed, coarse steps
]

HALF_LIVES = ["1min", "1h", "8h", "3d", "3650d"]


def num(lo: float, hi: float, *special: float) -> st.SearchStrategy[float]:
    """A float in [lo, hi], with the bounds and some special values drawn often (the
    special values first: hypothesis starts from, and shrinks towards, the first choices)."""
    return st.one_of(st.sampled_from([*special, lo, hi]),
                     st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False))


@st.composite
def correlation(draw) -> float:
    """Mostly moderate (so that most matrices are valid), one in eight +-1 or anything."""
    if draw(st.integers(0, 7)) == 0:
        return draw(st.one_of(st.sampled_from([1.0, -1.0, 0.9, -0.9]), st.floats(-1.0, 1.0)))
    return draw(st.one_of(st.sampled_from([0.0, 0.2, -0.3]), st.floats(-0.5, 0.5)))


@st.composite
def tier_tables(draw, unit_value: float) -> list[dict]:
    """Risk-limit tiers: increasing limits, non-decreasing rates; deductions either the
    exchanges' continuity rule (Binance style) or arbitrary non-negative numbers."""
    n = draw(st.integers(1, 4))
    limits, rates = [], []
    limit = 0.0
    rate = draw(num(0.0, 0.05, 0.004, 0.005))
    for _ in range(n):
        limit += unit_value * draw(st.sampled_from([0.1, 0.5, 1.0, 5.0, 100.0]))
        rate = min(0.49, rate + draw(num(0.0, 0.05)))
        limits.append(limit)
        rates.append(rate)
    continuous = draw(st.booleans())
    tiers, ded = [], 0.0
    for i, (lim, r) in enumerate(zip(limits, rates)):
        if continuous:
            ded = 0.0 if i == 0 else ded + limits[i - 1] * (r - rates[i - 1])
        else:
            ded = draw(num(0.0, unit_value, 0.0))
        tiers.append({"limit": lim, "rate": r, "deduction": ded})
    return tiers


@st.composite
def valid_overrides(draw) -> dict:
    """Each field drawn inside its schema range; cross-field rules may still reject."""
    o: dict = {}
    model = draw(st.sampled_from(["gbm", "merton"]))
    o["market.model"] = model
    o["market.spot"] = spot = draw(num(1.0, 1e6, 0.01, 60_000.0, 1e9))
    o["market.mu"] = draw(num(-5.0, 5.0, 0.0))
    o["market.sigma"] = draw(num(0.0, 5.0, 0.6))
    if model == "merton":
        o["market.jump_intensity"] = draw(num(0.0, 1000.0, 12.0))
        o["market.jump_mean"] = draw(num(-2.0, 2.0, 0.0, -0.01))
        o["market.jump_std"] = draw(num(0.0, 2.0, 0.04))

    horizon, dt, interval = draw(st.sampled_from(GRIDS))
    o["simulation.horizon"], o["simulation.dt"], o["funding.interval"] = horizon, dt, interval

    cap = draw(num(0.0, 0.1, 0.00375))
    o["funding.cap"] = cap
    o["funding.initial"] = draw(st.one_of(st.sampled_from([cap, -cap, 0.1, -0.1]), num(-0.1, 0.1)))
    o["funding.mean"] = draw(st.one_of(st.sampled_from([min(cap, 0.05), -min(cap, 0.05)]), num(-0.05, 0.05)))
    o["funding.half_life"] = draw(st.sampled_from(HALF_LIVES))
    o["funding.stationary_std"] = draw(num(0.0, 0.05, 0.0003))
    o["funding.corr_price"] = draw(correlation())

    o["basis.initial"] = draw(num(-0.2, 0.2, 0.0))
    o["basis.mean"] = draw(num(-0.1, 0.1, 0.0))
    o["basis.half_life"] = draw(st.sampled_from(HALF_LIVES))
    o["basis.stationary_std"] = draw(num(0.0, 0.05, 0.001))
    o["basis.corr_price"] = draw(correlation())
    o["basis.corr_funding"] = draw(correlation())

    contract = draw(st.sampled_from(["inverse", "linear"]))
    o["position.contract"] = contract
    o["position.stack"] = stack = draw(st.one_of(st.sampled_from([0.0, 1e-6, 1.0, 1e7]), st.floats(0.01, 100.0)))
    o["position.hedge_ratio"] = h = draw(num(0.0, 10.0, 1.0, 0.5))
    # hedge_collateral is for inverse only; a linear one must be rejected (drawn rarely)
    o["position.hedge_collateral"] = draw(st.booleans()) if contract == "inverse" else draw(
        st.sampled_from([False] * 7 + [True]))
    size = draw(st.sampled_from([None, "small", "large"]))
    if size is not None:
        o["position.contract_size"] = {("inverse", "small"): 1.0, ("inverse", "large"): 100.0,
                                       ("linear", "small"): 0.001, ("linear", "large"): 1.0}[contract, size]
    # collateral: 0 to 10x the position, in the margin currency (BTC inverse, USD linear)
    position = h * stack * (1.0 if contract == "inverse" else spot)
    x = draw(st.one_of(st.sampled_from([0.0, 1e-6, 0.05, 0.25, 1.0, 10.0]), st.floats(0.0, 10.0)))
    o["position.collateral"] = min(1e12, x * position if position > 0 else x)

    if draw(st.integers(0, 3)) == 0:
        unit_value = h * stack if contract == "inverse" else h * stack * spot
        o["exchange.tiers"] = draw(tier_tables(unit_value if unit_value > 0 else 1.0))
    else:
        o["exchange.maintenance_margin"] = draw(st.one_of(
            st.sampled_from([0.0, 0.005, 0.4999]),
            st.floats(0.0, 0.5, exclude_max=True, allow_subnormal=False)))
    o["exchange.taker_fee"] = draw(num(0.0, 0.01, 0.00055))
    o["simulation.save_paths"] = draw(st.sampled_from([0, 3]))
    return o


# One field pushed just outside its range, or given a value of the wrong kind.
INVALID = [
    ("market.sigma", 5.000001), ("market.sigma", -1e-12), ("market.sigma", math.nan), ("market.sigma", True),
    ("market.mu", 5.5), ("market.spot", 0.0), ("market.spot", 1.1e9), ("market.model", "kou"),
    ("market.jump_intensity", 1000.001), ("market.jump_intensity", -1.0), ("market.jump_std", 2.01),
    ("market.jump_mean", -2.01),
    ("funding.cap", 0.1001), ("funding.cap", -0.001), ("funding.initial", 0.11), ("funding.mean", -0.051),
    ("funding.stationary_std", 0.0501), ("funding.corr_price", 1.0001), ("funding.half_life", "0s"),
    ("funding.interval", "100min"), ("funding.interval", "8 hours"),
    ("basis.initial", 0.2001), ("basis.mean", 0.11), ("basis.stationary_std", -0.001),
    ("basis.corr_funding", -1.01), ("basis.half_life", "30s"),
    ("position.stack", -1e-9), ("position.stack", 1.1e7), ("position.collateral", -1e-9),
    ("position.hedge_ratio", 10.000001), ("position.hedge_ratio", -0.1), ("position.contract", "quanto"),
    ("position.contract_size", 0.0), ("position.hedge_collateral", 1),
    ("exchange.maintenance_margin", 0.5), ("exchange.maintenance_margin", -1e-6),
    ("exchange.taker_fee", 0.0101), ("exchange.tiers", []),
    ("simulation.dt", "0.5s"), ("simulation.dt", "31d"), ("simulation.horizon", "3651d"),
    ("simulation.horizon", "3 months"), ("simulation.seed", -1),
    ("market.sigmaa", 0.5), ("funding.rate", 0.0001),
]


@st.composite
def configs(draw) -> tuple[dict, tuple | None]:
    o = draw(valid_overrides())
    bad = None
    if draw(st.integers(0, 4)) == 4:  # 0 is where hypothesis starts and shrinks to: valid
        bad = draw(st.sampled_from(INVALID))
        key, value = bad
        if key == "exchange.tiers":
            o.pop("exchange.maintenance_margin", None)
        o[key] = value
    return o, bad


def _finite(ds, name: str, allow_nan: np.ndarray | bool = False) -> None:
    x = np.asarray(ds[name].values, dtype=np.float64)
    bad = ~np.isfinite(x) & ~(np.isnan(x) & allow_nan)
    assert not bad.any(), f"{name}: {np.count_nonzero(bad)} non-finite values, e.g. {x[bad][:5]}"


def check_result(cfg: sim.Config, ds) -> None:
    """Every output finite, NaN only where docs/outputs.md says so."""
    n = ds.sizes["path"]
    assert n == PATHS
    hedged = float(ds["hedge_size"]) > 0
    liq = ds["liquidated"].values
    assert liq.dtype == bool
    assert hedged or not liq.any(), "liquidated without a hedge"

    for name in ["index_T", "mark_T", "hedged_value", "unhedged_value", "hedged_pnl", "unhedged_pnl",
                 "funding", "funding_usd", "fees", "max_drawdown"]:
        _finite(ds, name)
    assert (ds["index_T"].values > 0).all(), "index_T must stay positive"
    assert (ds["mark_T"].values > 0).all(), "mark_T must stay positive"
    assert (ds["fees"].values >= 0).all()
    assert (ds["max_drawdown"].values >= 0).all()

    # liquidation_time: NaN exactly when the path was never liquidated
    t = ds["liquidation_time"].values.astype(np.float64)
    assert np.array_equal(np.isnan(t), ~liq), "liquidation_time NaN must mark the paths never liquidated"
    horizon_days = ds.attrs["horizon_days"]
    assert ((t[liq] > 0) & (t[liq] <= horizon_days * (1 + 1e-6))).all()

    # min_margin_level: NaN allowed only when no positive maintenance margin is ever checked
    tiers = cfg.exchange.tiers
    if tiers is None:
        mm_can_vanish = cfg.exchange.maintenance_margin == 0.0
    else:
        mm_can_vanish = tiers[0]["rate"] == 0.0 or any(t_["deduction"] > 0 for t_ in tiers)
    _finite(ds, "min_margin_level", allow_nan=(not hedged) or mm_can_vanish)

    # required_collateral: NaN exactly when there is no hedge
    r = ds["required_collateral"].values
    if hedged:
        _finite(ds, "required_collateral")
    else:
        assert np.isnan(r).all()

    # summary
    lp = float(ds["liquidation_price"])
    assert math.isnan(lp) or (math.isfinite(lp) and lp > 0), f"liquidation_price = {lp}"
    for name in ["liquidation_probability", "liquidation_probability_se", "liquidation_probability_low",
                 "liquidation_probability_high", "value_at_risk", "value_at_risk_se", "expected_shortfall", "pnl_mean", "pnl_mean_se", "pnl_std",
                 "pnl_quantile", "funding_mean", "funding_mean_se", "funding_usd_mean",
                 "funding_usd_mean_se", "fees_mean", "fees_mean_se", "max_drawdown_mean",
                 "max_drawdown_mean_se"]:
        _finite(ds, name)
    # hedge effectiveness 1 - Var(hedged)/Var(unhedged) is undefined (NaN, never -inf)
    # when the unhedged PnL has no variance (sigma = 0 and no jumps, or nothing held)
    no_risk = float(ds["pnl_std"].sel(portfolio="unhedged")) == 0.0
    _finite(ds, "hedge_effectiveness", allow_nan=no_risk)
    single_tail = xr.DataArray([tail_count(n, a) <= 1 for a in ds["level"].values], dims="level")
    _finite(ds, "expected_shortfall_se", allow_nan=single_tail.broadcast_like(ds["expected_shortfall_se"]).transpose(*ds["expected_shortfall_se"].dims).values)
    p = float(ds["liquidation_probability"])
    lo, hi = float(ds["liquidation_probability_low"]), float(ds["liquidation_probability_high"])
    assert p == pytest.approx(liq.mean())
    assert 0.0 <= lo <= p <= hi <= 1.0, f"95 % interval [{lo!r}, {hi!r}] must contain the estimate {p!r}"
    assert (ds["expected_shortfall"] >= ds["value_at_risk"] - 1e-9 * abs(ds["value_at_risk"])).all(), "ES must not be below VaR"

    # stored sample trajectories (--save-paths): every point filled and finite
    if cfg.simulation.save_paths:
        for name in ["sample_index", "sample_mark", "sample_funding_rate", "sample_equity"]:
            _finite(ds, name)


def run_or_reject(overrides: dict, seed: int, bad: tuple | None = None) -> None:
    """Validation rejects the config (ConfigError, one line, naming the bad field), or the
    run succeeds with outputs that pass ``check_result``. Anything else fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # overflow / invalid value = a silent inf or NaN
        try:
            cfg = sim.load_config(None, overrides=overrides)
            ds = sim.run(cfg, paths=PATHS, seed=seed)
        except sim.ConfigError as exc:
            msg = str(exc)
            assert msg and "\n" not in msg, f"ConfigError message must be one line: {msg!r}"
            if bad is not None:
                field = bad[0]
                if not (field in ("simulation.horizon", "funding.interval") and "simulation.dt" in msg):
                    assert field in msg, f"rejection of {bad} should name {field}: {msg}"
            return
    assert bad is None, f"out-of-range {bad} was accepted"
    check_result(cfg, ds)


@settings(max_examples=150, deadline=None, derandomize=True, database=None, report_multiple_bugs=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=configs(), seed=st.integers(0, 2**32))
def test_any_config_runs_finite_or_is_rejected(case, seed):
    overrides, bad = case
    run_or_reject(overrides, seed, bad)


# Minimal configs found by the property test (and by a longer random search), kept as
# fast, explicit regressions. All are inside the schema's ranges.
EDGE_CASES = {
    # every path liquidated: the 95 % Wilson upper end must not fall below p = 1
    "all paths liquidated": {"market.mu": 5.0, "market.sigma": 0.1, "simulation.horizon": "30d"},
    # no price risk, funding noise only: Var(unhedged) = 0, effectiveness undefined (NaN, not -inf)
    "no unhedged variance": {"market.sigma": 0.0, "funding.stationary_std": 0.001, "simulation.horizon": "2d"},
    # 10 years at sigma 5 and mu -5: the index ends near 1e-70, the unhedged PnL is -W0 to
    # the last bit in every path, so its variance cancels to 0
    "unhedged PnL variance lost to cancellation": {
        "market.sigma": 5.0, "market.mu": -5.0, "simulation.horizon": "3650d", "simulation.dt": "10d",
        "funding.interval": "10d"},
    # lam k = 1000 (e^2 - 1) a year of compensating drift: the index falls to ~1e-150 within
    # 30 days, so coin amounts Q/M reach ~1e156 BTC and their squares overflow in the summary
    "merton index near 1e-150": {"market.model": "merton", "market.jump_intensity": 1000.0,
                                 "market.jump_mean": 2.0, "simulation.horizon": "30d"},
    # 1,000 jumps of e^-2 a year: the index underflows to exactly 0 and the kernel divides by it
    "merton index underflows to 0": {"market.model": "merton", "market.jump_intensity": 1000.0,
                                     "market.jump_mean": -2.0, "simulation.horizon": "365d",
                                     "simulation.dt": "1d", "funding.interval": "1d"},
}


@pytest.mark.parametrize("overrides", list(EDGE_CASES.values()), ids=list(EDGE_CASES))
def test_edge_case_runs_finite_or_is_rejected(overrides):
    run_or_reject(overrides, seed=0)
