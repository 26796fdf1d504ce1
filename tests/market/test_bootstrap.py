"""The bootstrap model (historical simulation, ``market.model = "bootstrap"``) against
mathematics: a synthetic history of i.i.d. normal bars reproduces GBM's closed-form
barrier-hitting probability; a history of one repeated bar gives a hand-computable path;
the stationary bootstrap's block lengths have the configured mean; results do not depend
on threads, chunks or shards. Fixed seeds; statistical tolerances are stated per test."""

from __future__ import annotations

import math
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pytest

import sim
from sim import engine
from sim.config import YEAR_SECONDS, load_config
from sim.data.load import load_prices
from sim.instruments.perpetual import inverse_liquidation_price
from sim.market import bootstrap
from sim.market.gbm import bgk_shifted_barrier, gbm_hit_probability

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "btc_usd_1h_cryptocompare_2021H1.csv.gz"
QUIET = {"funding.initial": 0.0, "funding.mean": 0.0, "funding.stationary_std": 0.0,
         "basis.initial": 0.0, "basis.stationary_std": 0.0, "exchange.taker_fee": 0.0}
SPOT = 60_000.0
HOUR = 3600.0


def bars(close: np.ndarray, high: np.ndarray | None = None, start: str = "2020-01-01") -> pd.DataFrame:
    """Hourly bars indexed by their end times (the loaders' convention)."""
    idx = pd.date_range(start, periods=len(close), freq="1h", tz="UTC")
    df = pd.DataFrame({"close": close}, index=idx)
    if high is not None:
        df["high"] = high
    return df


def boot_cfg(**over):
    o = {"market.model": "bootstrap", "market.spot": SPOT, "position.collateral": 0.25, **QUIET}
    o.update(over)
    return load_config(None, overrides=o)


# --------------------------------------------------------------------------- GBM closed form


@pytest.mark.parametrize("monitoring", ["continuous", "discrete"])
def test_iid_normal_history_reproduces_gbm_hitting_probability(monitoring):
    """200,000 i.i.d. hourly bars of a GBM with sigma 0.8 (log returns N(-s^2 dt/2, s^2 dt)),
    each with its high drawn exactly from the Brownian bridge given its return,
    max = (r + sqrt(r^2 + 2 s^2 dt E)) / 2, E ~ Exp(1). One-bar blocks resample them i.i.d.,
    so a path is a GBM path monitored continuously through the recorded highs (or, discretely,
    at the closes): its liquidation probability must be the closed-form probability that the
    mark reaches the liquidation price (continuous; the Broadie-Glasserman-Kou shifted barrier
    for hourly checks), with sigma the sample's. Tolerance 4 SE of 20,000 paths (about 0.012)."""
    rng = np.random.default_rng(20240601)
    sigma, dt = 0.8, HOUR / YEAR_SECONDS
    v = sigma * sigma * dt
    r = rng.normal(-0.5 * v, math.sqrt(v), 200_000)
    top = 0.5 * (r + np.sqrt(r * r + 2.0 * v * rng.standard_exponential(r.size)))
    close = SPOT * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
    high = np.concatenate([[close[0]], close[:-1] * np.exp(top)])
    cfg = boot_cfg(**{"market.block": "1h", "simulation.monitoring": monitoring})
    n = 20_000
    ds = sim.run(cfg, paths=n, seed=7, history=bars(close, high))
    p = float(ds["liquidated"].mean())
    rc = r - r.mean()
    s_hat = math.sqrt(np.mean(rc * rc) / dt)
    lp = float(ds["liquidation_price"])
    assert lp == pytest.approx(inverse_liquidation_price(SPOT, SPOT, 0.25, 0.005), rel=1e-9)
    barrier = lp if monitoring == "continuous" else bgk_shifted_barrier(lp, SPOT, s_hat, dt)
    exact = gbm_hit_probability(SPOT, barrier, 0.0, s_hat, 30 / 365)
    se = math.sqrt(exact * (1 - exact) / n)
    assert 0.1 < exact < 0.4
    assert abs(p - exact) < 4 * se, (p, exact, se)
    # E[S_T] = S_0 (mu = 0): the per-bar drift makes each resampled bar a martingale step
    s_t = ds["index_T"].values
    assert abs(s_t.mean() / SPOT - 1.0) < 4 * s_t.std() / SPOT / math.sqrt(n)


# --------------------------------------------------------------------------- a deterministic path


R, EXCESS = 0.0005, 0.001  # every bar: log return 0.0005, high 0.1 % above the higher close


def repeated_bar_history(n: int = 800) -> pd.DataFrame:
    close = 30_000.0 * np.exp(R * np.arange(n))
    high = close * np.exp(EXCESS)
    high[0] = close[0]
    return bars(close, high)


@pytest.mark.parametrize("scheme,block", [("stationary", "1h"), ("stationary", "24h"), ("fixed", "6h")])
@pytest.mark.parametrize("monitoring", ["continuous", "discrete"])
def test_repeated_bar_is_deterministic_and_hand_computable(scheme, block, monitoring):
    """A history of one repeated bar (return r = 0.0005, high excursion r + 0.001) with its drift
    kept (demean = false): every path is S_i = S_0 e^{i r} whatever the blocks. The short's
    liquidation price L = Q (1 - mmr) / (Q/E - C) = 79,600 USD is first reached at step
    i = ceil((log(L/S_0) - 0.001) / r) = 564 through the bar's high (continuous), or at
    i = ceil(log(L/S_0) / r) = 566 at a close (discrete)."""
    cfg = boot_cfg(**{"market.demean": False, "market.bootstrap": scheme, "market.block": block,
                      "simulation.monitoring": monitoring})
    ds = sim.run(cfg, paths=64, seed=3, history=repeated_bar_history())
    np.testing.assert_allclose(ds["index_T"], SPOT * math.exp(720 * R), rtol=1e-11)
    lp = inverse_liquidation_price(SPOT, SPOT, 0.25, 0.005)
    assert lp == pytest.approx(79_600.0)
    shift = EXCESS if monitoring == "continuous" else 0.0
    step = math.ceil((math.log(lp / SPOT) - shift) / R)
    assert step == (564 if monitoring == "continuous" else 566)
    assert ds["liquidated"].all()
    np.testing.assert_allclose(ds["liquidation_time"], step / 24.0, rtol=1e-6)


def test_repeated_bar_demeaned_is_flat_and_mu_adds_the_drift():
    """demean = true removes the sample's drift: the repeated bar's centred return is 0, so
    the index stays at S_0 (no liquidation); market.mu = 0.5 then moves it by exactly
    mu dt per step (a zero-variance sample needs no martingale correction)."""
    hist = repeated_bar_history()
    flat = sim.run(boot_cfg(), paths=16, seed=1, history=hist)
    np.testing.assert_allclose(flat["index_T"], SPOT, rtol=1e-12)
    assert not flat["liquidated"].any()
    up = sim.run(boot_cfg(**{"market.mu": 0.5}), paths=16, seed=1, history=hist)
    np.testing.assert_allclose(up["index_T"], SPOT * math.exp(0.5 * 30 / 365), rtol=1e-11)


def test_jump_stress_composes_with_the_bootstrap():
    """A -10 % jump stress at 10 days moves the deterministic path by exactly that."""
    cfg = boot_cfg(**{"market.demean": False})
    stress = {"type": "jump", "name": "crash", "size": -0.1, "at": "10d"}
    raw = engine.simulate(cfg, paths=8, seed=1, stress=stress, history=repeated_bar_history())
    np.testing.assert_allclose(raw.outputs.mark_T, SPOT * math.exp(720 * R) * 0.9, rtol=1e-11)


# --------------------------------------------------------------------------- block lengths


@pytest.mark.parametrize("mean_len", [1.0, 24.0, 168.0])
def test_stationary_block_lengths_are_geometric_with_the_configured_mean(mean_len):
    """Over 2,000,000 steps: the mean block length is `block` within 4 SE (geometric: sd
    sqrt(1 - p) / p, p = 1/block) and the share of one-bar blocks is p within 4 SE. (A new
    block that happens to start at the next bar, probability 1/n, looks like a continuation:
    the tolerance allows 2 block / n for it.)"""
    n, steps = 100_003, 2_000_000
    idx = np.empty(steps + 1, dtype=np.int64)
    bootstrap.draw_indices(np.random.Generator(np.random.SFC64(11)), n, steps, mean_len, False, idx)
    idx = idx[1:]
    assert idx.min() >= 0 and idx.max() < n
    starts = np.flatnonzero(np.concatenate([[True], idx[1:] != (idx[:-1] + 1) % n]))
    lengths = np.diff(np.concatenate([starts, [steps]]))[:-1]  # the last block is cut by the horizon
    p = 1.0 / mean_len
    se = math.sqrt(1.0 - p) / p / math.sqrt(len(lengths))
    assert abs(lengths.mean() - mean_len) <= 4 * se + 2 * mean_len * mean_len / n, (lengths.mean(), se)
    share = np.mean(lengths == 1)
    assert abs(share - p) <= 4 * math.sqrt(p * (1 - p) / len(lengths)) + 2 * mean_len / n


def test_fixed_blocks_have_exactly_the_block_length():
    n, steps = 5_000, 100_000
    idx = np.empty(steps + 1, dtype=np.int64)
    bootstrap.draw_indices(np.random.Generator(np.random.SFC64(5)), n, steps, 24.0, True, idx)
    idx = idx[1:]
    # block k covers steps 24k .. 24k + 23: consecutive bars (circularly) within it
    blocks = idx[: steps // 24 * 24].reshape(-1, 24)
    np.testing.assert_array_equal((blocks - blocks[:, :1]) % n, np.arange(24)[None, :].repeat(len(blocks), 0))


# --------------------------------------------------------------------------- reproducibility


def per_path(ds):
    return {k: ds[k].values for k in ds.data_vars if "path" in ds[k].dims}


def test_bitwise_identical_across_threads_chunks_and_shards():
    """configs/bootstrap.toml (stochastic funding and basis correlated with the resampled
    returns) over 3 days: identical per-path results for any thread count and chunk size,
    a head of the run, and a shard simulated on its own."""
    cfg = load_config(ROOT / "configs" / "bootstrap.toml",
                      overrides={"simulation.horizon": "3d", "simulation.save_paths": 3})
    n = 5000  # not a multiple of the block: the last block is partial
    before = numba.get_num_threads()
    try:
        runs = [per_path(sim.run(cfg, paths=n, seed=42, threads=t, chunk_paths=c))
                for t, c in [(1, None), (2, 1024), (2, 3072)]]
    finally:
        numba.set_num_threads(before)
    for other in runs[1:]:
        for k, v in runs[0].items():
            np.testing.assert_array_equal(v, other[k], err_msg=k)
    head = per_path(sim.run(cfg, paths=1500, seed=42))
    for k, v in head.items():
        np.testing.assert_array_equal(v, runs[0][k][:1500], err_msg=k)
    shard = engine.simulate(cfg, paths=n, seed=42, first_path=2048, count=1024)
    np.testing.assert_array_equal(shard.outputs.mark_T, runs[0]["mark_T"][2048:3072])
    assert np.unique(runs[0]["mark_T"]).size == n  # paths differ


def test_in_memory_slice_equals_the_file_slice():
    """The backtest's way: bars in memory, cut before a start time, give bitwise the result
    of market.history with market.history_end at that time."""
    end = "2021-04-01T00:00"
    over = {"market.history": str(SAMPLE), "simulation.horizon": "2d", "market.history_end": end}
    cfg = load_config(ROOT / "configs" / "bootstrap.toml", overrides=over)
    from_file = sim.run(cfg, paths=2048, seed=9)
    prices = load_prices(SAMPLE, log=None)
    cut = prices.bars[prices.bars.index <= pd.Timestamp(end, tz="UTC")]
    mem_cfg = load_config(ROOT / "configs" / "bootstrap.toml", overrides={"simulation.horizon": "2d"})
    in_memory = sim.run(mem_cfg, paths=2048, seed=9, history=cut)
    np.testing.assert_array_equal(from_file["mark_T"], in_memory["mark_T"])
    np.testing.assert_array_equal(from_file["liquidated"], in_memory["liquidated"])
    assert "2021-04-01 00:00 UTC" in from_file.attrs["history"]
    assert from_file.attrs["model"] == "bootstrap"


def test_sweep_runs_on_common_bars():
    cfg = load_config(ROOT / "configs" / "bootstrap.toml",
                      overrides={"simulation.horizon": "3d"}).with_sweep({"position.collateral": [0.1, 0.5]})
    ds = sim.run(cfg, paths=2048, seed=1)
    liq = ds["liquidated"].mean("path").values
    assert liq[0] >= liq[1]  # more collateral, never more liquidations on the same paths
