"""Scores of the backtest (issue 14, item 3) against hand computations: Brier and log
score, skill, the Wilson interval, the circular block bootstrap of a Brier difference
(exactly 0 for identical methods; a 6-start table with fixed resampled blocks), and the
base-rate forecast that uses only windows ended by each start."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.data.scoring import (
    LOG_CLIP, base_rate_forecasts, block_bootstrap_interval, brier_score, buckets, circular_blocks, log_score,
    resample_indices, skill, wilson_interval,
)


def test_brier_log_score_and_skill_on_a_hand_table():
    p = np.array([0.1, 0.8, 0.0, 1.0])
    y = np.array([0, 1, 1, 1])
    # Brier: (0.01 + 0.04 + 1 + 0) / 4
    assert brier_score(p, y) == pytest.approx(0.2625, abs=1e-15)
    # log score: p = 0 for an event is clipped to 1e-6 (13.8155 nats), p = 1 to 1 - 1e-6
    hand = (-math.log(0.9) - math.log(0.8) - math.log(1e-6) - math.log(1 - 1e-6)) / 4
    assert hand == pytest.approx((0.105360516 + 0.223143551 + 13.815510558 + 1.0000005e-6) / 4, rel=1e-9)
    assert log_score(p, y) == pytest.approx(hand, rel=1e-12)
    assert LOG_CLIP == 1e-6
    # skill against always 0: its Brier is the event frequency 0.75
    assert skill(brier_score(p, y), brier_score(np.zeros(4), y)) == pytest.approx(1 - 0.2625 / 0.75, rel=1e-12)
    assert brier_score(np.zeros(4), y) == 0.75
    # against a constant base rate of 0.5: Brier 0.25 -> skill 1 - 0.2625/0.25 = -0.05 (worse)
    assert skill(0.2625, brier_score(np.full(4, 0.5), y)) == pytest.approx(-0.05, rel=1e-12)
    assert math.isnan(skill(0.1, 0.0)) and math.isnan(brier_score([], []))


def test_wilson_interval_hand_value():
    # 2 of 10 at 95 %: z = 1.959964, c = 0.2 + z^2/20, h = z sqrt(0.016 + z^2/400), / (1 + z^2/10)
    z = 1.959963984540054
    c, h, den = 0.2 + z * z / 20, z * math.sqrt(0.016 + z * z / 400), 1 + z * z / 10
    lo, hi = wilson_interval(2, 10)
    assert (lo, hi) == (pytest.approx((c - h) / den, rel=1e-12), pytest.approx((c + h) / den, rel=1e-12))
    assert lo == pytest.approx(0.0567, abs=1e-4) and hi == pytest.approx(0.5098, abs=1e-4)  # the textbook value
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(z * z / 10 / (1 + z * z / 10), rel=1e-12)  # 0.2775
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_circular_blocks_and_the_bootstrap_interval_by_hand():
    # 6 starts, blocks of 2; block starts 4, 1, 0 -> indices 4 5 | 1 2 | 0 1; start 5 wraps: 5 0
    assert circular_blocks(6, 2, [4, 1, 0]).tolist() == [[4, 5, 1, 2, 0, 1]]
    assert circular_blocks(6, 2, [5, 5, 5]).tolist() == [[5, 0, 5, 0, 5, 0]]
    assert circular_blocks(5, 2, [[3, 0, 2]]).tolist() == [[3, 4, 0, 1, 2]]  # cut to n
    # a difference of Brier losses per start (method A minus method B)
    pa = np.array([0.1, 0.3, 0.2, 0.6, 0.0, 0.5])
    pb = np.array([0.2, 0.1, 0.2, 0.4, 0.3, 0.5])
    y = np.array([0, 1, 0, 1, 0, 0])
    d = (pa - y) ** 2 - (pb - y) ** 2  # [-0.03, -0.32, 0, -0.2, -0.09, 0]
    np.testing.assert_allclose(d, [-0.03, -0.32, 0.0, -0.2, -0.09, 0.0], atol=1e-15)
    idx = circular_blocks(6, 2, [[4, 1, 0], [5, 5, 5], [2, 3, 2]])
    # resampled means: (d4+d5+d1+d2+d0+d1)/6, (d5+d0)*3/6, (d2+d3+d3+d4+d2+d3)/6
    m = sorted([(-0.09 + 0 - 0.32 + 0 - 0.03 - 0.32) / 6, (0 - 0.03) * 3 / 6, (0 - 0.2 - 0.2 - 0.09 + 0 - 0.2) / 6])
    # numpy's linear quantile of 3 values: q = 0.025 -> m0 + 0.05 (m1 - m0); 0.975 -> m1 + 0.95 (m2 - m1)
    lo, hi = block_bootstrap_interval(d, idx)
    assert lo == pytest.approx(m[0] + 0.05 * (m[1] - m[0]), abs=1e-15)
    assert hi == pytest.approx(m[1] + 0.95 * (m[2] - m[1]), abs=1e-15)
    # two identical methods: every resample's difference is 0, the interval is exactly [0, 0]
    assert block_bootstrap_interval(np.zeros(6), resample_indices(6, 2, 500, seed=1)) == (0.0, 0.0)


def test_resample_indices_are_seeded_blocks():
    a = resample_indices(20, 8, 50, seed=7)
    assert a.shape == (50, 20) and np.array_equal(a, resample_indices(20, 8, 50, seed=7))
    assert not np.array_equal(a, resample_indices(20, 8, 50, seed=8))
    # runs of 8 consecutive indices (mod 20): the first block of each resample
    assert np.all((a[:, 1:8] - a[:, 0:7]) % 20 == 1)
    assert resample_indices(3, 8, 4).shape == (4, 3)  # a block longer than the series: one block


def test_base_rate_uses_only_windows_ended_by_each_start():
    day = np.timedelta64(1, "D")
    t0 = np.datetime64("2021-01-01T00:00", "ns")
    ws = t0 + np.arange(10) * 7 * day  # windows every 7 days, 14 days long
    we = ws + 14 * day
    y = np.array([1, 0, 0, 1, 1, 0, 0, 0, 1, 1], dtype=float)
    starts = np.array([t0 + 35 * day, t0 + 49 * day])
    p, n = base_rate_forecasts(starts, ws, we, y, 28 * 86400.0)
    # start day 35: windows from day >= 7 that ended by day 35: starts 7, 14, 21 -> y 0, 0, 1
    # start day 49: from day >= 21, ended by 49: starts 21, 28, 35 -> 1, 1, 0
    assert n.tolist() == [3, 3] and p.tolist() == pytest.approx([1 / 3, 2 / 3])
    # all history: every window ended by the start
    p_all, n_all = base_rate_forecasts(starts, ws, we, y, math.inf)
    assert n_all.tolist() == [4, 6] and p_all.tolist() == pytest.approx([2 / 4, 3 / 6])
    # perturb every outcome of a window that ends after the first start: its forecast is unchanged
    y2 = np.where(we > starts[0], 1 - y, y)
    assert base_rate_forecasts(starts[:1], ws, we, y2, 28 * 86400.0)[0][0] == p[0]
    assert base_rate_forecasts(starts[:1], ws, we, y2, math.inf)[0][0] == p_all[0]
    # windows that could not be replayed (NaN) are left out; none at all -> NaN
    y3 = y.copy()
    y3[2] = np.nan
    assert base_rate_forecasts(starts[:1], ws, we, y3, 28 * 86400.0)[1][0] == 2
    assert math.isnan(base_rate_forecasts(np.array([t0 + day]), ws, we, y, math.inf)[0][0])


def test_buckets():
    p = [0.005, 0.02, 0.03, 0.5, 1.0, 0.15]
    y = [0, 1, 0, 1, 1, 0]
    cnt, ev, mp, fr = buckets(p, y, (0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0))
    assert cnt.tolist() == [1, 2, 0, 1, 0, 2] and ev.tolist() == [0, 1, 0, 0, 0, 2]
    assert mp[1] == pytest.approx(0.025) and fr[1] == 0.5 and math.isnan(mp[2]) and mp[5] == 0.75
    assert pd.isna(fr[4])
