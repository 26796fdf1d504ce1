"""The counter-based generator (sim.kernel.philox): its raw words are numpy's Philox4x64-10
bit for bit, and its normals and exponentials have the right distribution (moments, KS,
tail frequencies to 6 sigma). 1e7 variates here; 1e8 with ``pytest -m rng_1e8``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.kernel import philox, rng

KEYS = [(0, 0), (1, rng.PRICE), (123456789, rng.MONITOR), (2**63 - 1, rng.JUMPS), (987654321987, 7)]
PATHS = [0, 1, 1023, 1024, 10**9 + 7]


@pytest.mark.parametrize("seed, stream", KEYS)
@pytest.mark.parametrize("path", PATHS)
def test_raw_words_are_numpy_philox(seed, stream, path):
    """A path's stream is numpy's Philox(key=[seed, stream]) started at counter
    path * 2^64 - 1 (numpy increments before each block): block n is counter (n, path, 0, 0)."""
    n = 4 * 33 + 2
    got = philox.raw_words(seed, stream, path, 0, n)
    counter = path * 2**64 - 1 if path else 2**256 - 1
    want = np.random.Philox(key=np.array([seed, stream], dtype=np.uint64), counter=counter).random_raw(n)
    assert got.dtype == np.uint64
    np.testing.assert_array_equal(got, want)


def test_sub_stream_is_the_third_counter_word():
    got = philox.raw_words(5, 2, 9, 1, 12)
    want = np.random.Philox(key=np.array([5, 2], dtype=np.uint64),
                            counter=np.array([2**64 - 1, 8, 1, 0], dtype=np.uint64)).random_raw(12)
    np.testing.assert_array_equal(got, want)


def _uniforms(words):
    return ((words >> np.uint64(12)).astype(np.float64) * 2.0 + 1.0) * 2.0**-53


def test_transforms_match_their_formulas():
    """Exponentials are -log(u), normals Box-Muller of consecutive word pairs, u = (2k + 1) 2^-53
    from the top 52 bits: to a few ulp of numpy's libm."""
    n = 100_000
    u = _uniforms(philox.raw_words(42, 1, 3, 0, n))
    e = philox.fill_exponentials(42, 1, 3, 0, n)
    np.testing.assert_allclose(e, -np.log(u), rtol=4e-16, atol=0)
    z = philox.fill_normals(42, 1, 3, 0, n)
    rad = np.sqrt(-2.0 * np.log(u[0::2]))
    theta = 2.0 * np.pi * u[1::2]
    np.testing.assert_allclose(z[0::2], rad * np.cos(theta), rtol=0, atol=4e-15)
    np.testing.assert_allclose(z[1::2], rad * np.sin(theta), rtol=0, atol=4e-15)
    assert 0.0 < u.min() and u.max() < 1.0


def test_extreme_words():
    """The smallest and largest words give the extreme variates, finite and symmetric."""
    lo, hi = np.uint64(0), np.uint64(2**64 - 1)
    e_max = philox_exp(lo)
    assert e_max == pytest.approx(53 * math.log(2.0), rel=1e-15)
    assert 0.0 < philox_exp(hi) < 1e-15
    assert philox_normal(lo, lo)[0] == pytest.approx(math.sqrt(2 * 53 * math.log(2.0)), rel=1e-14)


def philox_exp(x):
    from numba import njit

    return njit(lambda v: philox.exponential(v))(x)


def philox_normal(x0, x1):
    from numba import njit

    return njit(lambda a, b: philox.normal_pair(a, b))(x0, x1)


def _check_normals(z):
    n = z.size
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2.0 / n)
    assert abs(stats.skew(z)) < 5 * math.sqrt(6.0 / n)
    assert abs(stats.kurtosis(z)) < 5 * math.sqrt(24.0 / n)
    assert stats.kstest(z[:2_000_000], "norm").pvalue > 1e-4
    # tail frequencies beyond k sigma, both sides, k = 1..6: binomial, 5 SE (+ 2 counts for tiny ones)
    for k in range(1, 7):
        p = 2 * stats.norm.sf(k)
        count = int(np.count_nonzero(np.abs(z) > k))
        assert abs(count - n * p) <= 5 * math.sqrt(n * p) + 2, (k, count, n * p)


def _check_exponentials(e):
    n = e.size
    assert abs(e.mean() - 1.0) < 5 / math.sqrt(n)
    assert abs(e.var() - 1.0) < 5 * math.sqrt(8.0 / n)
    assert stats.kstest(e[:2_000_000], "expon").pvalue > 1e-4
    for k in (1, 5, 10, 15, 20):  # P(E > k) = e^-k: 6 sigma is about e^-20.7 two-sided
        p = math.exp(-k)
        count = int(np.count_nonzero(e > k))
        assert abs(count - n * p) <= 5 * math.sqrt(n * p) + 2, (k, count, n * p)


def _many(fill, n, paths):
    per = n // paths
    return np.concatenate([fill(2024, rng.PRICE, p, 0, per) for p in range(paths)])


def test_normals_and_exponentials_1e7():
    _check_normals(_many(philox.fill_normals, 10_000_000, 10))
    _check_exponentials(_many(philox.fill_exponentials, 10_000_000, 10))


@pytest.mark.rng_1e8
def test_normals_and_exponentials_1e8(request):
    if "rng_1e8" not in (request.config.option.markexpr or ""):
        pytest.skip("run with -m rng_1e8 (1e8 normals and exponentials, about a minute)")
    _check_normals(_many(philox.fill_normals, 100_000_000, 100))
    _check_exponentials(_many(philox.fill_exponentials, 100_000_000, 100))


def test_paths_are_independent_streams():
    """Neighbouring paths and streams are uncorrelated (the counter's path word and the key
    change every bit of the output)."""
    a = philox.fill_normals(1, rng.PRICE, 10, 0, 200_000)
    b = philox.fill_normals(1, rng.PRICE, 11, 0, 200_000)
    c = philox.fill_normals(1, rng.BASIS, 10, 0, 200_000)
    for x in (b, c):
        assert abs(np.corrcoef(a, x)[0, 1]) < 5 / math.sqrt(a.size)
