"""Historical simulation: a block bootstrap of recorded bars (``market.model = "bootstrap"``).

Each simulated step is one recorded bar of a price history (``market.history``): its log
return close to close, and its high excursion, how far the bar's high rose above the
higher of its two closes (kept as ``excess`` = log(high / prev close) - max(0, return),
>= 0). Bars are taken in blocks of consecutive bars from the sample, read circularly (the
bar after the last is the first), so every bar has the same weight and the bootstrap's
mean return is the sample's:

* ``stationary`` (Politis and Romano 1994): each block starts at a uniform bar and its
  length is geometric with mean ``market.block`` (P(length = k) = (1 - p)^(k-1) p,
  p = 1 / mean), so the resampled series is stationary;
* ``fixed`` (the circular block bootstrap): every block is exactly ``market.block`` long.

A step's log move is ``log_drift[i] - hist_corr[m] + ratio_i * r`` for the centred sample
return r (the sample's own mean removed, ``sim.market.history``); ``log_drift`` carries the
drift (the user's ``market.mu`` with the per-bar martingale correction, or the sample's mean
when the drift is kept), ``hist_corr[m]`` the extra correction of a block of which the path
uses m bars (``block_corrections``: autocorrelated bars within a block; zero when the
sample's drift is kept) and any ``jump`` stress; ``ratio_i = vol[i] / vol_sqrt_dt`` is 1 except under a
``vol`` stress, which scales the centred returns and their high excursions. The price
normals of the other models are not drawn: the funding and basis shocks correlated with
the price use the bar's standardised return r / sd instead (unit variance, so the
configured correlations hold).

The block draws use the path's own PRICE stream (``sim.kernel.rng``; under the counter-based
generator a uniform and an exponential per step, ``fill_path_from``), so a path's bars do
not depend on threads, chunks or shards. The model cannot produce a move that is not in the
sample: no crash larger than the worst recorded bar, no volatility regime the history did
not see (docs/model.md, Historical simulation).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NAME = "bootstrap"
CODE = 3  # market_args.model: the kernel's branch for resampled bars
JUMPS = False
SCHEMES = ("stationary", "fixed")  # market.bootstrap


def compensator(m) -> float:
    """No jumps, no compensator (the sample's moves are what they are)."""
    return 0.0


def log_moments(m, horizon_years: float) -> tuple[float, float]:
    """(mean, variance) of log S_T for the [market] section alone: unknown until the sample
    is read, so (0, 0) here; ``sim.market.history`` checks the range with
    ``sample_log_moments`` once it has the sample."""
    return 0.0, 0.0


def sample_log_moments(returns: np.ndarray, drift_per_bar: float, steps: int) -> tuple[float, float]:
    """(mean, variance) of the log move over ``steps`` bars: the drift per bar plus the
    centred sample returns, summed as if independent (blocks carry the sample's
    autocorrelation, which this ignores: hourly BTC returns have almost none)."""
    r = np.asarray(returns, dtype=np.float64)
    var = float(np.mean(r * r)) if r.size else 0.0
    return steps * float(drift_per_bar), steps * var


def martingale_drift(returns: np.ndarray, mu_dt: float) -> float:
    """The drift per bar that makes E[exp(move)] = exp(mu dt) over the centred sample:
    mu dt - log mean(exp(r)); for normal returns about mu dt - sd^2 / 2, the GBM log drift."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size == 0:
        return mu_dt
    top = float(r.max())
    return mu_dt - (top + math.log(float(np.mean(np.exp(r - top)))))


def block_corrections(returns: np.ndarray, steps: int, grid_points: int = 48) -> np.ndarray:
    """The extra drift correction per bar for a block of m consecutive bars, m = 0..steps:
    c_m - c_1 with c_m = log mean_j exp(r_j + ... + r_(j+m-1)) / m over every circular start j.
    Subtracting c_m per bar inside a block of m bars makes E[exp(block's move)] = 1 exactly
    (the per-bar correction c_1 alone assumes independent bars; with mean-reverting hourly
    returns a 24 h block's sum varies less, and E[S_T] drifted by about -1 % a month).
    Computed exactly on a geometric grid of block lengths, linear in m between them."""
    r = np.asarray(returns, dtype=np.float64)
    n = r.size
    out = np.zeros(steps + 1)
    if n == 0 or steps < 2:
        return out
    top = min(steps, n)
    ms = np.unique(np.concatenate([np.arange(1, min(top, 8) + 1),
                                   np.round(np.geomspace(1, top, grid_points)).astype(np.int64)]))
    ext = np.concatenate([r, r[:top]])
    csum = np.concatenate([[0.0], np.cumsum(ext)])
    c = np.empty(ms.size)
    for k, m in enumerate(ms):
        s = csum[m:m + n] - csum[:n]
        hi = float(s.max())
        c[k] = (hi + math.log(float(np.mean(np.exp(s - hi))))) / m
    per_bar = np.interp(np.arange(1, steps + 1), ms, c)  # constant beyond the sample length
    out[1:] = per_bar - c[0]
    return out


@njit(cache=True, inline="always")
def length_rate(block_bars):
    """-log(1 - p) with p = 1 / mean block length: a geometric length is
    1 + floor(E / rate) with E ~ Exp(1) (inf for one-bar blocks: every length is 1)."""
    if block_bars <= 1.0:
        return np.inf
    return -math.log1p(-1.0 / block_bars)


@njit(cache=True, inline="always")
def next_bar(gen, j, left, n, fixed, block_bars, rate):
    """The bar of the next step and the bars left in its block after it: continue the
    current block (circularly), or start a new one at a uniform bar with a fixed or
    geometric length."""
    if left == 0:
        j = gen.integers(0, n)
        if fixed:
            left = int(block_bars)
        elif rate == np.inf:
            left = 1
        else:
            e = gen.standard_exponential() / rate
            left = 1 + int(min(e, 1e15))
    else:
        j += 1
        if j == n:
            j = 0
    return j, left - 1


@njit(cache=True)
def draw_indices(gen, n, steps, block_bars, fixed, out):
    """The sample bars of one path's steps 1..steps into ``out[1:]`` (what ``fill_path``
    uses; for tests of the block lengths)."""
    rate = length_rate(block_bars)
    j = 0
    left = 0
    for i in range(1, steps + 1):
        j, left = next_bar(gen, j, left, n, fixed, block_bars, rate)
        out[i] = j


@njit(cache=True, inline="always")
def fill_path(gen, mk, z_row, x_row, g_row, h_row):
    """One path's resampled bars: for each step i the standardised return z (for the shocks
    correlated with the price), the log move x, exp(x), and exp of the step's high
    excursion, max(x, 0) + ratio * excess (the index's high over the step's start)."""
    n = mk.hist_ret.shape[0]
    steps = z_row.shape[0] - 1
    rate = length_rate(mk.block_bars)
    inv_sd = inv_sample_sd(mk)
    j = 0
    left = 0
    corr = 0.0
    for i in range(1, steps + 1):
        new_block = left == 0
        j, left = next_bar(gen, j, left, n, mk.block_fixed, mk.block_bars, rate)
        corr = bar_step(mk, i, j, left, new_block, corr, inv_sd, z_row, x_row, g_row, h_row)


@njit(cache=True, inline="always")
def inv_sample_sd(mk):
    """1 / the sample's per-bar standard deviation (0 for a constant sample: returns are
    then used as they are)."""
    sd = mk.vol_sqrt_dt
    return 1.0 / sd if sd > 0.0 else 0.0


@njit(cache=True, inline="always")
def bar_step(mk, i, j, left, new_block, corr, inv_sd, z_row, x_row, g_row, h_row):
    """Step i from sample bar j (``left`` bars left in its block after it): the rows of
    ``fill_path``; returns the drift correction of the current block, renewed when the step
    starts a block (for the bars of it the path uses). ``inv_sd``: ``inv_sample_sd(mk)``."""
    if new_block:
        corr = mk.hist_corr[min(left + 1, mk.steps - i + 1)]
    r = mk.hist_ret[j]
    ratio = mk.vol[i] * inv_sd if inv_sd > 0.0 else 1.0
    x = mk.log_drift[i] - corr + ratio * r
    z_row[i] = r * inv_sd
    x_row[i] = x
    g_row[i] = math.exp(x)
    h_row[i] = math.exp(max(x, 0.0) + ratio * mk.hist_exc[j])
    return corr


@njit(cache=True, inline="always")
def next_bar_from(u, e, j, left, n, fixed, block_bars, rate):
    """``next_bar`` with the step's variates given: u uniform in (0, 1) for the start of a
    new block, e ~ Exp(1) for its geometric length (the counter-based generator's rows)."""
    if left == 0:
        j = min(int(u * n), n - 1)
        if fixed:
            left = int(block_bars)
        elif rate == np.inf:
            left = 1
        else:
            left = 1 + int(min(e / rate, 1e15))
    else:
        j += 1
        if j == n:
            j = 0
    return j, left - 1


@njit(cache=True, inline="always")
def fill_path_from(u_row, e_row, mk, z_row, x_row, g_row, h_row):
    """``fill_path`` with a uniform and an exponential per step given (``u_row``,
    ``e_row``, steps 1..steps; used only at the steps that start a block)."""
    n = mk.hist_ret.shape[0]
    rate = length_rate(mk.block_bars)
    inv_sd = inv_sample_sd(mk)
    j = 0
    left = 0
    corr = 0.0
    for i in range(1, mk.steps + 1):
        new_block = left == 0
        j, left = next_bar_from(u_row[i], e_row[i], j, left, n, mk.block_fixed, mk.block_bars, rate)
        corr = bar_step(mk, i, j, left, new_block, corr, inv_sd, z_row, x_row, g_row, h_row)


@njit(cache=True, inline="always")
def checked_marks(s_path, m_path, c_path, h_row):
    """The mark checked for liquidation in each step under continuous monitoring: the
    recorded high of the index (S_{i-1} times the step's high factor) times the larger of
    the basis factors (1 + b) at the step's two ends, and never below either end's mark."""
    for i in range(1, m_path.shape[0]):
        m0 = m_path[i - 1]
        m1 = m_path[i]
        top = h_row[i] * max(m0, s_path[i - 1] * (m1 / s_path[i]))
        c_path[i] = max(top, max(m0, m1))
