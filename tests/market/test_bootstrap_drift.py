"""The bootstrap's block drift correction (sim.market.bootstrap.block_corrections): exact on
a hand-computable series, and the resampled index a martingale with long blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.market.bootstrap import block_corrections


def test_block_corrections_of_an_alternating_series_by_hand():
    """r = +a, -a, +a, ...: a block of even length sums to 0 (c_m = 0), of odd length to +-a
    (c_m = log cosh(a) / m); the extra correction is c_m - c_1."""
    a = 0.01
    r = np.tile([a, -a], 50)
    corr = block_corrections(r, 9)
    c1 = math.log(math.cosh(a))
    for m in range(1, 10):
        cm = 0.0 if m % 2 == 0 else c1 / m
        assert corr[m] == pytest.approx(cm - c1, abs=1e-15), m
    assert corr[0] == 0.0


def test_independent_bars_need_no_extra_correction():
    """An i.i.d. sample: c_m ~ c_1 for every m (within the sampling noise of the sample)."""
    r = np.random.default_rng(3).normal(0.0, 0.006, 200_000)
    r -= r.mean()
    corr = block_corrections(r, 720)
    assert np.abs(corr).max() < 2e-6  # vs c_1 = 1.8e-5 per bar


def test_resampled_index_is_a_martingale_with_day_blocks():
    """The 2021 H1 hourly sample mean-reverts within a day; with 24 h blocks and drift removed
    E[S_T] = S_0 within 4 standard errors (it drifted by about -1.3 % a month before the
    block correction)."""
    cfg = sim.load_config("configs/bootstrap.toml", overrides={"simulation.paths": 20_000})
    x = sim.run(cfg)["index_T"].values / cfg.market.spot
    se = x.std() / math.sqrt(x.size)
    assert abs(x.mean() - 1.0) < 4 * se, (x.mean() - 1.0, se)
