"""Price models fitted by maximum likelihood to the log-returns of consecutive closes.

r_i over Delta_i (years; a return across a gap simply has a longer Delta_i, no bar is
invented); the models are those of docs/model.md (price dynamics):

* ``gbm``: r_i ~ N((mu - sigma^2/2) Delta_i, sigma^2 Delta_i);
* ``merton``: r_i = (mu - lam k - sigma^2/2) Delta_i + sum_{j<=N_i} Y_j + sigma sqrt(Delta_i) Z,
  N_i ~ Poisson(lam Delta_i), Y ~ N(jump_mean, jump_std^2), k = exp(jump_mean +
  jump_std^2/2) - 1. The density is the exact Poisson mixture of normals, truncated
  where the Poisson tail left out is below 1e-12; its gradient is analytic.

The KS statistic is that of the standardised returns for GBM, of the mixture's CDF for Merton.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.config import YEAR_SECONDS
from sim.data.mle import Fit, at_bound, delta_se, hessian, ks_uniform, minimize
from sim.errors import DataError


def log_returns(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(log-returns of consecutive closes, their time spans in years)."""
    c = bars["close"].to_numpy(dtype=float)
    t = pd.DatetimeIndex(bars.index).as_unit("ns").asi8 / 1e9
    return np.diff(np.log(c)), np.diff(t) / YEAR_SECONDS


GBM_BOUNDS = [(-100.0, 100.0), (math.log(1e-4), math.log(5.0))]


def _gbm_nll(theta, r, dt):
    m, ls = theta
    v = math.exp(2 * ls) * dt
    z = r - m * dt
    return 0.5 * float(np.sum(np.log(2 * math.pi * v) + z * z / v))


def _gbm_report(theta):
    m, ls = theta
    s = math.exp(ls)
    return np.array([m + 0.5 * s * s, s])


def fit_gbm(r: np.ndarray, dt: np.ndarray, se: bool = True) -> Fit:
    """GBM by exact maximum likelihood (``se``: with standard errors)."""
    if r.size < 10:
        raise DataError(f"only {r.size} price returns in the sample: too few to fit a model")
    s0 = max(float(np.sqrt(np.sum(r * r) / np.sum(dt))), 1e-3)
    m0 = float(np.sum(r) / np.sum(dt))
    f = lambda th: _gbm_nll(th, r, dt)  # noqa: E731
    res = minimize(f, [np.array([m0, math.log(s0)])], GBM_BOUNDS)
    th = res.x
    p = _gbm_report(th)
    out = Fit("gbm", {"mu": p[0], "sigma": p[1]}, {"mu": math.nan, "sigma": math.nan}, -float(res.fun), r.size, 2, th)
    if se:
        sev, notes = delta_se(_gbm_report, th, hessian(f, th), at_bound(th, GBM_BOUNDS))
        out.se = {"mu": sev[0], "sigma": sev[1]}
        out.notes += notes
    z = (r - th[0] * dt) / (math.exp(th[1]) * np.sqrt(dt))
    out.ks, out.ks_pvalue = ks_uniform(0.5 * _erfc(-z / math.sqrt(2.0)))
    return out


MERTON_BOUNDS = [(-100.0, 100.0), (math.log(1e-4), math.log(5.0)), (math.log(0.01), math.log(1000.0)),
                 (-1.0, 1.0), (math.log(1e-4), math.log(2.0))]
MERTON_NAMES = ["mu", "sigma", "jump_intensity", "jump_mean", "jump_std"]


def _n_terms(lt_max: float) -> int:
    """Poisson terms so that P(N > n) < 1e-12 at the largest lam * Delta."""
    n, term, cdf = 0, math.exp(-lt_max), math.exp(-lt_max)
    while 1.0 - cdf > 1e-12 and n < 400:
        n += 1
        term *= lt_max / n
        cdf += term
    return max(4, n + 1)


def _erfc(x: np.ndarray) -> np.ndarray:
    from scipy import special

    return special.erfc(x)


_KERNEL = []


def _merton_kernel(*args):
    """numba-compiled on first use (keeps ``import sim.data`` light for the CLI)."""
    if not _KERNEL:
        from numba import njit

        _KERNEL.append(njit(cache=True)(_merton_kernel_py))
    return _KERNEL[0](*args)


def _merton_kernel_py(m, s2, lam, mj, sj2, r, dt, n_terms, out_grad, want_cdf, cdf):
    """Sum of log densities of the Poisson mixture and its gradient in
    (m, log sigma, log lam, jump_mean, log jump_std); or the CDF at each r."""
    total = 0.0
    g0 = g1 = g2 = g3 = g4 = 0.0
    K = n_terms + 1
    a = np.empty(K)
    vs = np.empty(K)
    zs = np.empty(K)
    lfact = np.empty(K)
    for k in range(K):
        lfact[k] = math.lgamma(k + 1.0)
    log2pi = math.log(2.0 * math.pi)
    for i in range(r.size):
        d = dt[i]
        lt = lam * d
        llt = math.log(lt)
        mx = -np.inf
        for k in range(K):
            v = s2 * d + k * sj2
            z = r[i] - m * d - k * mj
            vs[k] = v
            zs[k] = z
            a[k] = -lt + k * llt - lfact[k] - 0.5 * (log2pi + math.log(v) + z * z / v)
            if a[k] > mx:
                mx = a[k]
        ssum = 0.0
        for k in range(K):
            a[k] = math.exp(a[k] - mx)
            ssum += a[k]
        total += mx + math.log(ssum)
        if want_cdf:
            c = 0.0
            for k in range(K):
                w = math.exp(-lt + k * llt - lfact[k])
                c += w * 0.5 * math.erfc(-zs[k] / math.sqrt(2.0 * vs[k]))
            cdf[i] = c
            continue
        for k in range(K):
            p = a[k] / ssum
            v = vs[k]
            zv = zs[k] / v
            q = 0.5 * (zv * zv - 1.0 / v)
            g0 += p * zv * d
            g1 += p * q * 2.0 * s2 * d
            g2 += p * (k - lt)
            g3 += p * zv * k
            g4 += p * q * 2.0 * sj2 * k
    out_grad[0] = g0
    out_grad[1] = g1
    out_grad[2] = g2
    out_grad[3] = g3
    out_grad[4] = g4
    return total


def merton_nll_grad(theta, r, dt):
    """Negative log-likelihood of the Merton returns and its gradient in the optimiser's
    parameters (m, log sigma, log lam, jump_mean, log jump_std)."""
    m, ls, ll, mj, lsj = (float(x) for x in theta)
    lam = math.exp(ll)
    g = np.empty(5)
    tot = _merton_kernel(m, math.exp(2 * ls), lam, mj, math.exp(2 * lsj), r, dt, _n_terms(lam * float(dt.max())),
                         g, False, np.empty(0))
    return -tot, -g


def _merton_cdf(theta, r, dt):
    m, ls, ll, mj, lsj = (float(x) for x in theta)
    lam = math.exp(ll)
    out = np.empty(r.size)
    _merton_kernel(m, math.exp(2 * ls), lam, mj, math.exp(2 * lsj), r, dt, _n_terms(lam * float(dt.max())),
                   np.empty(5), True, out)
    return out


def _merton_report(theta):
    m, ls, ll, mj, lsj = theta
    s, lam, sj = math.exp(ls), math.exp(ll), math.exp(lsj)
    comp = lam * math.expm1(mj + 0.5 * sj * sj)
    return np.array([m + 0.5 * s * s + comp, s, lam, mj, sj])


def fit_merton(r: np.ndarray, dt: np.ndarray, se: bool = True, warm: np.ndarray | None = None,
               gbm: Fit | None = None, quick: bool = False) -> Fit:
    """Merton jump-diffusion by exact (truncated Poisson-mixture) maximum likelihood.
    ``warm``: optimiser parameters of an earlier fit to start from; ``quick``: one
    standard start besides ``warm`` (walk-forward backtests)."""
    gbm = gbm or fit_gbm(r, dt, se=False)
    s0 = gbm.params["sigma"]
    m0 = gbm.theta[0]
    dbar = float(np.median(dt))
    step_sd = s0 * math.sqrt(dbar)
    starts = []
    if warm is not None:
        starts.append(np.asarray(warm, dtype=float))
    starts.append(np.array([m0, math.log(0.8 * s0), math.log(100.0), 0.0, math.log(max(4 * step_sd, 1e-3))]))
    if not quick or warm is None:
        starts += [np.array([m0, math.log(0.9 * s0), math.log(10.0), 0.0, math.log(max(10 * step_sd, 2e-3))]),
                   np.array([m0, math.log(0.6 * s0), math.log(800.0), 0.0, math.log(max(2.5 * step_sd, 1e-3))])]
    f = lambda th: merton_nll_grad(th, r, dt)  # noqa: E731
    res = minimize(f, starts, MERTON_BOUNDS, jac=True)
    th = res.x
    p = _merton_report(th)
    out = Fit("merton", dict(zip(MERTON_NAMES, p)), {n: math.nan for n in MERTON_NAMES}, -float(res.fun), r.size,
              5, th)
    bound = at_bound(th, MERTON_BOUNDS)
    if bound.any():
        names = ["log drift", "sigma", "jump_intensity", "jump_mean", "jump_std"]
        out.notes.append("at the optimiser's bound: " + ", ".join(n for n, b in zip(names, bound) if b))
    if se:
        grad = lambda th_: f(th_)[1]  # noqa: E731
        sev, notes = delta_se(_merton_report, th, hessian(lambda th_: f(th_)[0], th, grad), bound)
        out.se = dict(zip(MERTON_NAMES, sev))
        out.notes += notes
    out.ks, out.ks_pvalue = ks_uniform(_merton_cdf(th, r, dt))
    return out
