"""Scores of probability forecasts of a 0/1 event (docs/validation.md): the statistics of
the walk-forward backtest, pure numpy, no I/O.

* ``brier_score``: mean (p - y)^2 (0 is perfect; always forecasting 0 scores the event
  frequency);
* ``log_score``: mean -[y ln p + (1 - y) ln(1 - p)] with p clipped to [1e-6, 1 - 1e-6]
  (``LOG_CLIP``), so a forecast of exactly 0 for an event that happens costs ln(1e6) =
  13.8 nats instead of infinity; lower is better;
* ``skill``: 1 - score / score of a reference forecast (1 perfect, 0 no better than the
  reference, negative worse);
* ``wilson_interval``: the Wilson (1927) score interval of a binomial proportion;
* ``circular_blocks`` / ``block_bootstrap_interval``: the circular block bootstrap (Politis
  and Romano 1992) of the mean of a per-start series (a difference of Brier scores): blocks
  of ``block`` consecutive starts, wrapped around the end, so that the dependence of
  overlapping windows stays inside a block; seeded, hence deterministic;
* ``base_rate_forecasts``: the constant "base rate" forecast at each start: the realised
  event frequency of the past windows that ended by that start (no look-ahead);
* ``buckets``: calibration buckets of predicted probability;
* ``kupiec_pof``, ``christoffersen_ind``: the VaR exception tests; ``non_overlapping``:
  the subset of windows that share no returns.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special, stats

from sim.results import stats as rstats

LOG_CLIP = 1e-6
BLOCK = 8  # consecutive starts per bootstrap block (8 weekly starts: two 30-day windows)
REPLICATES = 2000
SEED = 20240614
LEVEL = 0.95


def brier_score(p, y) -> float:
    """Mean squared difference of forecast probabilities and 0/1 outcomes (NaN if none)."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    return float(np.mean((p - y) ** 2)) if p.size else math.nan


def log_losses(p, y) -> np.ndarray:
    """Per-forecast -[y ln p + (1 - y) ln(1 - p)], p clipped to [LOG_CLIP, 1 - LOG_CLIP]."""
    p = np.clip(np.asarray(p, dtype=float), LOG_CLIP, 1.0 - LOG_CLIP)
    y = np.asarray(y, dtype=float)
    return -(y * np.log(p) + (1.0 - y) * np.log1p(-p))


def log_score(p, y) -> float:
    """Mean log loss in nats (``log_losses``; NaN if none)."""
    p = np.asarray(p, dtype=float)
    return float(np.mean(log_losses(p, y))) if p.size else math.nan


def skill(score: float, reference: float) -> float:
    """1 - score / reference (NaN when the reference is 0 or not finite)."""
    if not (math.isfinite(reference) and reference > 0 and math.isfinite(score)):
        return math.nan
    return 1.0 - score / reference


def wilson_interval(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials: (c -+ h) / (1 + z^2/n) with
    c = k/n + z^2/(2n), h = z sqrt(k/n (1 - k/n)/n + z^2/(4n^2)) (``sim.results.stats``'s,
    at the level's z). (NaN, NaN) if n = 0."""
    return rstats.wilson_interval(k, n, float(stats.norm.ppf(0.5 + level / 2)))


def circular_blocks(n: int, block: int, block_starts) -> np.ndarray:
    """Indices of one circular-block resample of 0..n-1: for each block start b, the
    indices b, b+1, ..., b+block-1 (mod n), concatenated and cut to n. ``block_starts``
    may be a 2-D array (one resample per row)."""
    b = np.atleast_2d(np.asarray(block_starts, dtype=np.int64))
    idx = (b[:, :, None] + np.arange(block)[None, None, :]) % n
    return idx.reshape(b.shape[0], -1)[:, :n]


def resample_indices(n: int, block: int = BLOCK, replicates: int = REPLICATES, seed: int = SEED) -> np.ndarray:
    """``replicates`` circular-block resamples of n starts (rows), seeded."""
    block = max(1, min(int(block), n))
    nb = -(-n // block)
    rng = np.random.default_rng(seed)
    return circular_blocks(n, block, rng.integers(0, n, size=(replicates, nb)))


def block_bootstrap_interval(d, idx: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of the mean of the series ``d`` over the resamples ``idx``
    (rows of ``resample_indices``): the (1 - level)/2 and (1 + level)/2 quantiles of the
    resampled means. (NaN, NaN) if ``d`` holds a NaN."""
    d = np.asarray(d, dtype=float)
    if d.size == 0 or not np.all(np.isfinite(d)):
        return math.nan, math.nan
    means = d[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def base_rate_forecasts(starts, window_starts, window_ends, outcomes, lookback_s) -> tuple[np.ndarray, np.ndarray]:
    """At each start s: the mean of ``outcomes`` over the windows [t, e] with e <= s and
    t >= s - lookback (``lookback_s`` None or inf: every earlier window), and how many
    there were (NaN forecast when none; NaN outcomes are windows that could not be
    replayed and are left out). Times are datetime64 (UTC, naive). A start's own window
    is never among them: it ends after s."""
    s = np.asarray(starts, dtype="datetime64[ns]").astype(np.int64)
    t = np.asarray(window_starts, dtype="datetime64[ns]").astype(np.int64)
    e = np.asarray(window_ends, dtype="datetime64[ns]").astype(np.int64)
    y = np.asarray(outcomes, dtype=float)
    ok = np.isfinite(y)
    p = np.full(s.size, math.nan)
    cnt = np.zeros(s.size, dtype=np.int64)
    for i, si in enumerate(s):
        m = ok & (e <= si)
        if lookback_s is not None and math.isfinite(lookback_s):
            m &= t >= si - int(round(lookback_s * 1e9))
        cnt[i] = int(m.sum())
        if cnt[i]:
            p[i] = float(y[m].mean())
    return p, cnt


def buckets(p, y, edges) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per bucket [edges[k], edges[k+1]) of p (the last one closed): (windows, events,
    mean predicted, realised frequency); NaN means for an empty bucket."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    edges = np.asarray(edges, dtype=float)
    nb = edges.size - 1
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, nb - 1)
    cnt, ev = np.zeros(nb), np.zeros(nb)
    mp, fr = np.full(nb, math.nan), np.full(nb, math.nan)
    for k in range(nb):
        m = (idx == k) & np.isfinite(p)
        cnt[k] = m.sum()
        if cnt[k]:
            ev[k] = y[m].sum()
            mp[k] = p[m].mean()
            fr[k] = y[m].mean()
    return cnt, ev, mp, fr


def kupiec_pof(exceptions, level: float) -> tuple[float, float]:
    """Kupiec (1995) proportion-of-failures test that the exception probability is
    1 - level: LR = -2 [ln L(1 - level) - ln L(x/n)] ~ chi2(1). Returns (LR, p-value)."""
    e = np.asarray(exceptions, dtype=bool)
    n, x = e.size, int(e.sum())
    if n == 0:
        return math.nan, math.nan
    p = 1.0 - level
    ph = x / n
    ll0 = special.xlogy(n - x, 1 - p) + special.xlogy(x, p)
    ll1 = special.xlogy(n - x, 1 - ph) + special.xlogy(x, ph)
    lr = max(0.0, -2.0 * (ll0 - ll1))
    return float(lr), float(stats.chi2.sf(lr, 1))


def christoffersen_ind(exceptions) -> tuple[float, float]:
    """Christoffersen (1998) independence test: first-order Markov chain of exceptions
    vs independence, LR = -2 [ln L(pi) - ln L(pi01, pi11)] ~ chi2(1). (LR, p-value)."""
    e = np.asarray(exceptions, dtype=bool)
    if e.size < 2:
        return math.nan, math.nan
    a, b = e[:-1], e[1:]
    n00 = int(np.sum(~a & ~b))
    n01 = int(np.sum(~a & b))
    n10 = int(np.sum(a & ~b))
    n11 = int(np.sum(a & b))
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    ll0 = special.xlogy(n00 + n10, 1 - pi) + special.xlogy(n01 + n11, pi)
    ll1 = (special.xlogy(n00, 1 - pi01) + special.xlogy(n01, pi01) + special.xlogy(n10, 1 - pi11)
           + special.xlogy(n11, pi11))
    lr = max(0.0, -2.0 * (ll0 - ll1))
    return float(lr), float(stats.chi2.sf(lr, 1))


def non_overlapping(starts: pd.DatetimeIndex, window: pd.Timedelta) -> np.ndarray:
    """Greedy subset: the first start, then each start at least one window after the last kept."""
    keep = np.zeros(len(starts), dtype=bool)
    last = None
    for i, s in enumerate(starts):
        if last is None or s >= last + window:
            keep[i] = True
            last = s
    return keep
