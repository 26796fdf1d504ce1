"""Estimators with their uncertainty: proportions, VaR / ES, moments.

All functions take plain numpy arrays of per-path values (one sample) and return plain
numbers, so that ``results`` can map them over any sweep dimensions.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

Z95 = float(norm.ppf(0.975))


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion (good near 0 and 1)."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # clamp: rounding must not put the estimate itself outside its interval
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))


def proportion(flags: np.ndarray) -> tuple[float, float, float, float]:
    """(estimate, standard error, 95 % low, 95 % high) of the share of True flags."""
    return proportion_of_count(np.count_nonzero(flags), flags.size)


def proportion_of_count(count: int, n: int) -> tuple[float, float, float, float]:
    """``proportion`` of ``count`` True flags among ``n``."""
    k = float(count)
    p = k / n if n else math.nan
    se = math.sqrt(p * (1 - p) / n) if n else math.nan
    lo, hi = wilson_interval(k, n)
    return p, se, lo, hi


def tail_count(n: int, level: float) -> int:
    """Number of worst outcomes that make up the (1 - level) tail: ceil(n (1 - level))."""
    return max(1, int(math.ceil(n * (1.0 - level) - 1e-9)))


def var_es(pnl: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Value at risk and expected shortfall of a PnL sample, as positive losses.

    With losses L = -pnl sorted descending and k = ceil(n (1 - level)):
    VaR = L_(k) (the k-th largest loss), ES = mean of the k largest losses.
    Standard errors: VaR from the distribution-free order-statistic 95 % band (ranks
    k -+ 1.96 sqrt(n a (1 - a))) converted to an SE (half-width / 1.96); ES from its
    asymptotic variance [Var(L | L >= VaR) + a (ES - VaR)^2] / k.
    Returns (var, var_se, es, es_se) over ``levels``.
    """
    losses = -np.asarray(pnl, dtype=np.float64)
    n = losses.size
    ks = [tail_count(n, a) for a in levels]
    kmax = min(n, max(ks) + int(4 * math.sqrt(max(ks)) + 4))
    # partial sort: the kmax largest losses, descending
    if kmax < n:
        top = np.partition(losses, n - kmax)[n - kmax:]
    else:
        top = losses.copy()
    top = np.sort(top)[::-1]
    var = np.empty(len(levels))
    var_se = np.empty(len(levels))
    es = np.empty(len(levels))
    es_se = np.empty(len(levels))
    for j, (a, k) in enumerate(zip(levels, ks)):
        k = min(k, n)
        var[j] = top[k - 1]
        tail = top[:k]
        es[j] = tail.mean()
        # order-statistic 95 % band for the (1-a) quantile: ranks k -+ 1.96 sqrt(n a (1-a))
        w = Z95 * math.sqrt(n * a * (1 - a))
        r_lo = max(1, int(math.floor(k - w)))
        r_hi = min(top.size, int(math.ceil(k + w)))
        var_se[j] = (top[r_lo - 1] - top[r_hi - 1]) / (2 * Z95) if n > 1 else math.nan
        tail_sd = tail.std(ddof=1) if k > 1 else math.nan
        # ES = mean of tail beyond VaR: Var(ES) ~ [Var(L | L >= VaR) + a (ES - VaR)^2] / k
        es_se[j] = math.sqrt((tail_sd**2 + a * (es[j] - var[j]) ** 2) / k) if k > 1 else math.nan
    return var, var_se, es, es_se


def order_statistics(x: np.ndarray, ranks) -> np.ndarray:
    """The values at 0-based ``ranks`` of the sorted sample (what ``np.sort(x)[ranks]``
    gives), without sorting: nested single-rank partitions of one copy, each into the
    part that holds its rank (numpy's partition with many ranks at once, which np.quantile
    uses, is ~10x slower on 200,000 values, and a sort ~6x)."""
    a = np.array(x, dtype=np.float64)
    ranks = np.asarray(ranks, dtype=np.intp)
    want = np.unique(ranks)
    todo = [(0, a.size, 0, want.size)]  # (first, end) of a part holding ranks want[i0:i1]
    while todo:
        first, end, i0, i1 = todo.pop()
        if i0 >= i1:
            continue
        im = (i0 + i1) // 2
        k = int(want[im])
        part = a[first:end]
        if k == end - 1:  # the part's largest: numpy's partition at the last index is ~10x slower
            j = int(np.argmax(part))  # (NaN counts as the largest, as in a sort)
            part[j], part[-1] = part[-1], part[j]
        else:
            part.partition(k - first)
        todo.append((first, k, i0, im))
        todo.append((k + 1, end, im + 1, i1))
    return a[ranks]


def quantiles(x: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """``np.quantile(x, qs)`` (linear interpolation), bitwise: the same ranks, weights and
    interpolation, on order statistics from ``order_statistics``."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    qs = np.asarray(qs, dtype=np.float64)
    if n < 2 or qs.ndim != 1 or np.isnan(x).any():
        return np.quantile(x, qs)  # NaN, empty, one value: numpy's own rules
    lo, hi, gamma = _quantile_ranks(n, qs)
    v = order_statistics(x, np.concatenate([lo, hi]))
    return _lerp(v[:qs.size], v[qs.size:], gamma)


def _quantile_ranks(n: int, qs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranks below and above, and the weight, of numpy's linear method (as its _get_indexes)."""
    virtual = (n - 1) * qs
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1
    prev[above] = -1
    nxt[above] = -1
    below = virtual < 0
    prev[below] = 0
    nxt[below] = 0
    prev = prev.astype(np.intp)
    nxt = nxt.astype(np.intp)
    gamma = np.asarray(virtual - prev, dtype=virtual.dtype)
    return np.where(prev < 0, n + prev, prev), np.where(nxt < 0, n + nxt, nxt), gamma


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """numpy's quantile interpolation, operation for operation."""
    diff_b_a = b - a
    out = np.add(a, diff_b_a * t)
    np.subtract(b, diff_b_a * (1 - t), out=out, where=t >= 0.5, casting="unsafe", dtype=out.dtype)
    return out


def _interval_ranks(n: int, qs: np.ndarray) -> tuple[list[int], list[int]]:
    lows, highs = [], []
    for q in qs:
        w = Z95 * math.sqrt(n * q * (1 - q))
        lows.append(int(min(max(math.floor(n * q - w), 0), n - 1)))
        highs.append(int(min(max(math.ceil(n * q + w), 0), n - 1)))
    return lows, highs


def quantile_interval(x: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Distribution-free 95 % intervals of quantiles from order statistics: ranks
    n q -+ 1.96 sqrt(n q (1 - q)). Rows: low, high."""
    x = np.asarray(x, dtype=np.float64)
    lows, highs = _interval_ranks(x.size, qs)
    return order_statistics(x, lows + highs).reshape(2, len(qs))


def quantiles_with_interval(x: np.ndarray, qs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``quantiles`` and ``quantile_interval`` of one sample from one set of partitions."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    qs = np.asarray(qs, dtype=np.float64)
    if n < 2 or qs.ndim != 1 or np.isnan(x).any():
        return quantiles(x, qs), quantile_interval(x, qs)
    lo, hi, gamma = _quantile_ranks(n, qs)
    lows, highs = _interval_ranks(n, qs)
    q = qs.size
    v = order_statistics(x, np.concatenate([lo, hi, lows, highs]))
    return _lerp(v[:q], v[q:2 * q], gamma), v[2 * q:].reshape(2, q)


def mean_se(x: np.ndarray) -> tuple[float, float, float]:
    """(mean, standard error of the mean, standard deviation)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    m = float(x.mean())
    sd = float(x.std(ddof=1)) if n > 1 else math.nan
    return m, sd / math.sqrt(n) if n > 1 else math.nan, sd


def es_influence(pnl: np.ndarray, level: float) -> tuple[np.ndarray, float]:
    """Per-path influence values of ES (as a loss) and the ES estimate.

    ES = VaR + E[(L - VaR)+] / (1 - level); phi_i = VaR + (L_i - VaR)+ / (1 - level) has
    mean ES, so the SE of a difference of two ES on the same paths is sd(phi_a - phi_b)/sqrt(n).
    """
    phi = np.negative(np.asarray(pnl, dtype=np.float64))  # losses, turned into phi in place
    n = phi.size
    k = min(n, tail_count(n, level))
    top = np.partition(phi, n - k)[n - k:]
    var = top.min()
    es = float(top.mean())
    del top
    phi -= var
    np.maximum(phi, 0.0, out=phi)
    phi /= 1.0 - level
    phi += var
    return phi, es


# --------------------------------------------------------------------------- weighted (importance sampling)


def weighted_proportion(flags: np.ndarray, w: np.ndarray) -> tuple[float, float, float, float]:
    """Importance-sampling estimate of P(flag): mean of w 1{flag}, its SE, and a normal
    95 % interval clipped to [0, 1]."""
    x = np.asarray(w, dtype=np.float64) * np.asarray(flags, dtype=np.float64)
    n = x.size
    p = float(x.mean())
    se = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return p, se, max(0.0, p - Z95 * se), min(1.0, p + Z95 * se)


def effective_sample_size(w: np.ndarray) -> float:
    w = np.asarray(w, dtype=np.float64)
    s2 = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / s2 if s2 > 0 else math.nan


def weighted_quantiles(x: np.ndarray, w: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """Quantiles of the self-normalised weighted sample (inverse of the weighted CDF)."""
    order = np.argsort(x, kind="stable")
    xs = np.asarray(x, dtype=np.float64)[order]
    cw = np.cumsum(np.asarray(w, dtype=np.float64)[order])
    cw /= cw[-1]
    idx = np.minimum(np.searchsorted(cw, qs, side="left"), xs.size - 1)
    return xs[idx]


def es_influence_at(pnl: np.ndarray, var: float, es: float, level: float) -> np.ndarray:
    """Centred per-path influence values of an ES (as a loss) whose VaR and ES are given:
    VaR + (L_i - VaR)+ / (1 - level) - ES. With importance-sampling weights w, the delta-
    method SE of the weighted ES is sd(w / mean(w) * phi) / sqrt(n)."""
    return var + np.maximum(-np.asarray(pnl, dtype=np.float64) - var, 0.0) / (1.0 - level) - es


def weighted_var_es(pnl: np.ndarray, w: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """VaR and ES (positive losses) of the self-normalised weighted PnL sample."""
    losses = -np.asarray(pnl, dtype=np.float64)
    order = np.argsort(losses)[::-1]
    ls = losses[order]
    ws = np.asarray(w, dtype=np.float64)[order]
    ws = ws / ws.sum()
    cw = np.cumsum(ws)
    var = np.empty(len(levels))
    es = np.empty(len(levels))
    for j, a in enumerate(levels):
        tail = 1.0 - a
        k = min(int(np.searchsorted(cw, tail, side="left")), ls.size - 1)
        var[j] = ls[k]
        # ES: the weighted mean of the worst outcomes holding exactly (1 - a) of the weight
        inner = float(np.sum(ws[:k] * ls[:k]))
        rest = tail - (cw[k - 1] if k > 0 else 0.0)
        es[j] = (inner + rest * ls[k]) / tail
    return var, es


def hedge_effectiveness_batch_se(h: np.ndarray, u: np.ndarray, batches: int = 20) -> float:
    """SE of 1 - Var(h)/Var(u) from its spread over consecutive batches of paths."""
    n = h.size // batches
    if n < 2:
        return np.nan
    vals = []
    for b in range(batches):
        vu = u[b * n:(b + 1) * n].var(ddof=1)
        if vu <= 0:
            return np.nan
        vals.append(1.0 - h[b * n:(b + 1) * n].var(ddof=1) / vu)
    return float(np.std(vals, ddof=1) / np.sqrt(batches))
