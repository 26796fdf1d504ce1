"""Maximum-likelihood calibration of the market model to history (scipy.optimize).

Price models, from the log-returns of consecutive closes r_i over Delta_i (years; a
return across a gap simply has a longer Delta_i, no bar is invented):

* ``gbm``: r_i ~ N((mu - sigma^2/2) Delta_i, sigma^2 Delta_i);
* ``merton``: r_i = (mu - lam k - sigma^2/2) Delta_i + sum_{j<=N_i} Y_j + sigma sqrt(Delta_i) Z,
  N_i ~ Poisson(lam Delta_i), Y ~ N(jump_mean, jump_std^2), k = exp(jump_mean +
  jump_std^2/2) - 1 (SPEC §3). The density is the exact Poisson mixture of normals,
  truncated where the Poisson tail left out is below 1e-12; its gradient is analytic.

Funding f and basis b (SPEC §3): exact OU transitions between observations,
x' = m + (x - m) a + s sqrt(1 - a^2) e, a = exp(-kappa Delta), kappa = ln 2 / half-life,
fitted jointly with the price return r over the same interval as a bivariate normal
(e, r) with correlation rho. rho is the correlation of the *interval* innovations;
the config wants the correlation of the continuous-time shocks, which is larger by the
factor 1 / c with c = ((1 - a)/kappa) / sqrt(Delta (1 - a^2)/(2 kappa)) (the OU innovation
weights the shocks of the interval by exp(-kappa (Delta - s))).

Standard errors: the observed information, i.e. the numerical Hessian of the
log-likelihood at the optimum in the optimiser's parameters (logs of positive
parameters), inverted, and carried to the reported parameters by the delta method
(numerical Jacobian). Goodness of fit: the KS statistic of the probability-integral
transforms u_i = F(r_i) of the fitted model (standardised returns for GBM), against
the uniform; with estimated parameters its p-value is only indicative (too large).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from sim.config.core import SCHEMA, YEAR_SECONDS, format_duration
from sim.data.load import DataError, FundingData, PriceData, asof, describe_period, fmt_td, to_utc

LN2 = math.log(2.0)
HOUR_YEARS = 3600.0 / YEAR_SECONDS


@dataclass
class Fit:
    """One fitted model: reported parameters (config names), their SEs, likelihood."""

    name: str
    params: dict[str, float]
    se: dict[str, float]
    loglik: float
    n: int
    k: int
    theta: np.ndarray
    ks: float = math.nan
    ks_pvalue: float = math.nan
    notes: list[str] = field(default_factory=list)

    @property
    def aic(self) -> float:
        return 2.0 * self.k - 2.0 * self.loglik


# --------------------------------------------------------------------------- numerics


def _minimize(nll: Callable, starts: list[np.ndarray], bounds, jac: bool = False):
    from scipy import optimize

    best = None
    for x0 in starts:
        x0 = np.clip(np.asarray(x0, dtype=float), [b[0] for b in bounds], [b[1] for b in bounds])
        try:
            res = optimize.minimize(nll, x0, jac=jac, method="L-BFGS-B", bounds=bounds,
                                    options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-8})
        except (ValueError, FloatingPointError):
            continue
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    if best is None:
        raise DataError("the likelihood could not be evaluated at any starting point (too few or degenerate data)")
    return best


def _hessian(f: Callable, x: np.ndarray, grad: Callable | None = None) -> np.ndarray:
    """Numerical Hessian of f at x (central differences; of the gradient when given)."""
    x = np.asarray(x, dtype=float)
    k = x.size
    h = 1e-4 * np.maximum(1.0, np.abs(x))
    H = np.empty((k, k))
    if grad is not None:
        for i in range(k):
            e = np.zeros(k)
            e[i] = h[i]
            H[:, i] = (grad(x + e) - grad(x - e)) / (2 * h[i])
        return 0.5 * (H + H.T)
    f0 = f(x)
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
        for j in range(i):
            ej = np.zeros(k)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h[i] * h[j])
    return H


def _delta_se(g: Callable, theta: np.ndarray, H: np.ndarray, at_bound: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """SEs of g(theta) from the inverse observed information H^-1 (delta method).
    Parameters stuck at an optimiser bound are held fixed (their SE is NaN)."""
    notes = []
    k = theta.size
    free = ~at_bound
    cov = np.full((k, k), np.nan)
    try:
        sub = np.linalg.inv(H[np.ix_(free, free)])
        if np.any(np.diag(sub) <= 0):
            raise np.linalg.LinAlgError
        cov_f = np.zeros((k, k))
        cov_f[np.ix_(free, free)] = sub
        cov = cov_f
    except np.linalg.LinAlgError:
        notes.append("observed information not positive definite at the optimum: standard errors unavailable")
        g0 = np.asarray(g(theta))
        return np.full(g0.size, np.nan), notes
    g0 = np.asarray(g(theta), dtype=float)
    J = np.empty((g0.size, k))
    for i in range(k):
        h = 1e-6 * max(1.0, abs(theta[i]))
        e = np.zeros(k)
        e[i] = h
        J[:, i] = (np.asarray(g(theta + e)) - np.asarray(g(theta - e))) / (2 * h)
    var = np.einsum("ij,jk,ik->i", J, cov, J)
    se = np.sqrt(np.maximum(var, 0.0))
    # a parameter at a bound is held fixed: its own SE is not available, the others are
    # conditional on its value
    own = (np.abs(J[:, at_bound]) > 0).any(axis=1) & ~(np.abs(J[:, free]) > 0).any(axis=1) if at_bound.any() \
        else np.zeros(g0.size, bool)
    se[own] = np.nan
    if at_bound.any():
        notes.append("standard errors are conditional on the parameter(s) at the bound")
    return se, notes


def _at_bound(x, bounds) -> np.ndarray:
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    tol = 1e-6 * np.maximum(1.0, np.abs(x))
    return (x - lo < tol) | (hi - x < tol)


# --------------------------------------------------------------------------- returns


def log_returns(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(log-returns of consecutive closes, their time spans in years)."""
    c = bars["close"].to_numpy(dtype=float)
    t = pd.DatetimeIndex(bars.index).as_unit("ns").asi8 / 1e9
    return np.diff(np.log(c)), np.diff(t) / YEAR_SECONDS


# --------------------------------------------------------------------------- GBM


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
    if r.size < 10:
        raise DataError(f"only {r.size} price returns in the sample: too few to fit a model")
    s0 = max(float(np.sqrt(np.sum(r * r) / np.sum(dt))), 1e-3)
    m0 = float(np.sum(r) / np.sum(dt))
    f = lambda th: _gbm_nll(th, r, dt)  # noqa: E731
    res = _minimize(f, [np.array([m0, math.log(s0)])], GBM_BOUNDS)
    th = res.x
    p = _gbm_report(th)
    out = Fit("gbm", {"mu": p[0], "sigma": p[1]}, {"mu": math.nan, "sigma": math.nan}, -float(res.fun), r.size, 2, th)
    if se:
        sev, notes = _delta_se(_gbm_report, th, _hessian(f, th), _at_bound(th, GBM_BOUNDS))
        out.se = {"mu": sev[0], "sigma": sev[1]}
        out.notes += notes
    z = (r - th[0] * dt) / (math.exp(th[1]) * np.sqrt(dt))
    out.ks, out.ks_pvalue = _ks(0.5 * _erfc(-z / math.sqrt(2.0)))
    return out


def _ks(u: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    res = stats.kstest(u, "uniform")
    return float(res.statistic), float(res.pvalue)


# --------------------------------------------------------------------------- Merton

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


def _merton_nll_grad(theta, r, dt):
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
    f = lambda th: _merton_nll_grad(th, r, dt)  # noqa: E731
    res = _minimize(f, starts, MERTON_BOUNDS, jac=True)
    th = res.x
    p = _merton_report(th)
    out = Fit("merton", dict(zip(MERTON_NAMES, p)), {n: math.nan for n in MERTON_NAMES}, -float(res.fun), r.size,
              5, th)
    bound = _at_bound(th, MERTON_BOUNDS)
    if bound.any():
        names = ["log drift", "sigma", "jump_intensity", "jump_mean", "jump_std"]
        out.notes.append("at the optimiser's bound: " + ", ".join(n for n, b in zip(names, bound) if b))
    if se:
        grad = lambda th_: f(th_)[1]  # noqa: E731
        sev, notes = _delta_se(_merton_report, th, _hessian(lambda th_: f(th_)[0], th, grad), bound)
        out.se = dict(zip(MERTON_NAMES, sev))
        out.notes += notes
    out.ks, out.ks_pvalue = _ks(_merton_cdf(th, r, dt))
    return out


# --------------------------------------------------------------------------- OU


def interval_factor(kappa: float, delta: float) -> float:
    """corr(OU innovation over delta, Brownian increment over delta) / rho."""
    a = math.exp(-kappa * delta)
    return ((1 - a) / kappa) / math.sqrt(delta * (-math.expm1(-2 * kappa * delta)) / (2 * kappa))


def cross_factor(k1: float, k2: float, delta: float) -> float:
    """corr(OU innovation 1, OU innovation 2 over delta) / rho of their shocks."""
    num = -math.expm1(-(k1 + k2) * delta) / (k1 + k2)
    d1 = -math.expm1(-2 * k1 * delta) / (2 * k1)
    d2 = -math.expm1(-2 * k2 * delta) / (2 * k2)
    return num / math.sqrt(d1 * d2)


OU_BOUNDS_BASE = [(-50.0, 50.0), (math.log(60.0 / YEAR_SECONDS), math.log(3650 / 365.0)), (math.log(1e-6), math.log(1e3))]
OU_BOUNDS_R = [(-1e4, 1e4), (math.log(1e-6), math.log(1e4)), (-5.0, 5.0)]


def _ou_nll(theta, x0, x1, dt, r=None):
    m, lhl, ls = theta[:3]
    kappa = LN2 / math.exp(lhl)
    a = np.exp(-kappa * dt)
    sd = math.exp(ls) * np.sqrt(-np.expm1(-2 * kappa * dt))
    z1 = (x1 - m - (x0 - m) * a) / sd
    if r is None:
        return float(np.sum(np.log(sd) + 0.5 * z1 * z1)) + 0.5 * math.log(2 * math.pi) * x0.size
    mr, lsr, arho = theta[3:]
    rho = math.tanh(arho)
    sdr = math.exp(lsr) * np.sqrt(dt)
    z2 = (r - mr * dt) / sdr
    one = 1.0 - rho * rho
    return float(np.sum(np.log(sd) + np.log(sdr) + 0.5 * math.log(one)
                        + (z1 * z1 - 2 * rho * z1 * z2 + z2 * z2) / (2 * one))) + math.log(2 * math.pi) * x0.size


def fit_ou(name: str, x: pd.Series, r: np.ndarray | None = None, se: bool = True, warm=None) -> Fit:
    """OU by exact-transition maximum likelihood, jointly with the price return r over the
    same intervals when given (-> correlation). Reported: mean, half_life (hours),
    stationary_std, and corr_price (continuous-time shocks) when r is given."""
    vals = x.to_numpy(dtype=float)
    t = pd.DatetimeIndex(x.index).as_unit("ns").asi8 / 1e9
    x0, x1 = vals[:-1], vals[1:]
    dt = np.diff(t) / YEAR_SECONDS
    use = np.isfinite(x0) & np.isfinite(x1) & (dt > 0)
    if r is not None:
        use &= np.isfinite(r)
    x0, x1, dt = x0[use], x1[use], dt[use]
    rr = r[use] if r is not None else None
    if x0.size < 20:
        raise DataError(f"{name}: only {x0.size} usable observation pairs: too few to fit an OU process")
    sx = float(np.std(vals[np.isfinite(vals)])) or 1e-6
    loc = float(np.mean(x1))
    y0, y1 = (x0 - loc) / sx, (x1 - loc) / sx
    dbar = float(np.median(dt))
    c = np.corrcoef(y0, y1)[0, 1] if np.std(y0) > 0 and np.std(y1) > 0 else 0.5
    a0 = min(max(c, 0.05), 0.995)
    hl0 = LN2 * dbar / -math.log(a0)
    th0 = [0.0, math.log(hl0), 0.0]
    bounds = [(-50.0, 50.0), OU_BOUNDS_BASE[1], (math.log(1e-6 / sx), math.log(1e3))]
    sr = 1.0
    if rr is not None:
        sr = float(np.std(rr) / math.sqrt(dbar)) or 1.0
        rs = rr / (sr * math.sqrt(dbar))
        th0 += [float(np.mean(rs) / dbar), 0.0 - 0.5 * math.log(dbar), 0.0]
        bounds += [(-1e6, 1e6), (math.log(1e-3) - 0.5 * math.log(dbar), math.log(1e3) - 0.5 * math.log(dbar)),
                   OU_BOUNDS_R[2]]
        f = lambda th: _ou_nll(th, y0, y1, dt, rs)  # noqa: E731
    else:
        f = lambda th: _ou_nll(th, y0, y1, dt)  # noqa: E731
    starts = [np.array(th0)]
    if warm is not None and len(warm) == len(th0):
        starts.insert(0, np.asarray(warm, dtype=float))
    res = _minimize(f, starts, bounds)
    th = res.x

    def report(th_):
        hl = math.exp(th_[1])
        out = [loc + th_[0] * sx, hl / HOUR_YEARS, math.exp(th_[2]) * sx]
        if rr is not None:
            out.append(math.tanh(th_[5]) / interval_factor(LN2 / hl, dbar))
        return np.array(out)

    p = report(th)
    names = ["mean", "half_life_hours", "stationary_std"] + (["corr_price"] if rr is not None else [])
    # log-likelihood in the original units (the scaling adds a constant)
    loglik = -float(res.fun) - x0.size * math.log(sx) - (0.0 if rr is None else x0.size * math.log(sr * math.sqrt(dbar)))
    fit = Fit(name, dict(zip(names, p)), {n: math.nan for n in names}, loglik, int(x0.size), len(th), th)
    bound = _at_bound(th, bounds)
    if bound[1]:
        fit.notes.append(f"{name}: half-life at the optimiser's bound ({p[1]:.4g} h)")
    if se:
        sev, notes = _delta_se(report, th, _hessian(f, th), bound)
        fit.se = dict(zip(names, sev))
        fit.notes += notes
    # residuals (standardised innovations) for cross-correlations
    kappa = LN2 / (p[1] * HOUR_YEARS)
    a = np.exp(-kappa * dt)
    resid = (x1 - p[0] - (x0 - p[0]) * a) / (p[2] * np.sqrt(-np.expm1(-2 * kappa * dt)))
    fit.resid = pd.Series(resid, index=x.index[1:][use])  # type: ignore[attr-defined]
    fit.kappa = kappa  # type: ignore[attr-defined]
    fit.delta = dbar  # type: ignore[attr-defined]
    if rr is not None:
        fit.params["corr_interval"] = math.tanh(th[5])
    return fit


def _interval_returns(times: pd.DatetimeIndex, prices: PriceData | None, spot: pd.Series | None) -> np.ndarray | None:
    """log S(t_{k+1}) - log S(t_k) for consecutive times: the file's own spot when given,
    else the price bars as of each time (only when a bar ends within one bar of it)."""
    if spot is not None:
        return np.diff(np.log(spot.to_numpy(dtype=float)))
    if prices is None:
        return None
    vals, when = asof(prices.bars["close"], times)
    stale = (pd.DatetimeIndex(times).as_unit("ns").asi8 - when) > prices.bar.value
    vals = np.where(stale, np.nan, vals)
    return np.diff(np.log(vals))


# --------------------------------------------------------------------------- all together


@dataclass
class Calibration:
    """Everything fitted on one sample period."""

    start: pd.Timestamp
    end: pd.Timestamp
    price_source: str
    bar: pd.Timedelta
    n_returns: int
    fits: dict[str, Fit]  # "gbm", "merton"
    funding: Fit | None
    basis: Fit | None
    corr_basis_funding: float = math.nan
    corr_basis_funding_se: float = math.nan
    last_close: float = math.nan
    last_close_time: pd.Timestamp | None = None
    last_funding: float = math.nan
    last_funding_time: pd.Timestamp | None = None
    last_basis: float = math.nan
    funding_source: str = ""
    funding_spacing: pd.Timedelta | None = None
    funding_rate_interval: pd.Timedelta = pd.Timedelta("8h")
    notes: list[str] = field(default_factory=list)

    def preferred(self) -> str:
        return min(self.fits, key=lambda k: self.fits[k].aic)

    def config_values(self, model: str = "merton", drift: str = "fitted") -> dict[str, object]:
        """{"section.key": value} for ``Config.replace``, clipped to the schema's ranges
        (clipping is noted in ``notes``). ``drift="zero"`` sets mu = 0."""
        if model not in self.fits:
            raise DataError(f"model {model!r} was not fitted; fitted: {', '.join(self.fits)}")
        fit = self.fits[model]
        out: dict[str, object] = {"market.model": model, "market.spot": self.last_close}
        out["market.mu"] = 0.0 if drift == "zero" else fit.params["mu"]
        out["market.sigma"] = fit.params["sigma"]
        if model == "merton":
            for k in ("jump_intensity", "jump_mean", "jump_std"):
                out[f"market.{k}"] = fit.params[k]
        else:
            for k in ("jump_intensity", "jump_mean", "jump_std"):
                out[f"market.{k}"] = 0.0
        if self.funding is not None:
            f = self.funding.params
            out["funding.interval"] = format_duration(self.funding_rate_interval.total_seconds())
            out["funding.initial"] = self.last_funding
            out["funding.mean"] = f["mean"]
            out["funding.half_life"] = _duration(f["half_life_hours"])
            out["funding.stationary_std"] = f["stationary_std"]
            if "corr_price" in f:
                out["funding.corr_price"] = f["corr_price"]
        if self.basis is not None:
            b = self.basis.params
            out["basis.initial"] = self.last_basis
            out["basis.mean"] = b["mean"]
            out["basis.half_life"] = _duration(b["half_life_hours"])
            out["basis.stationary_std"] = b["stationary_std"]
            if "corr_price" in b:
                out["basis.corr_price"] = b["corr_price"]
            if np.isfinite(self.corr_basis_funding):
                out["basis.corr_funding"] = self.corr_basis_funding
        return _clip_to_schema(out, self.notes)


def _duration(hours: float) -> str:
    hours = min(max(hours, 1.0 / 60.0), 3650 * 24.0)
    if abs(hours - round(hours)) < 1e-9:
        return format_duration(round(hours) * 3600.0)
    if hours < 1.0:
        return f"{hours * 60:.2f}min"
    if hours < 72:
        return f"{hours:.3f}h"
    return f"{hours / 24:.3f}d"


def _clip_to_schema(values: dict, notes: list[str]) -> dict:
    out = {}
    for dotted, v in values.items():
        sec, key = dotted.split(".")
        fld = SCHEMA[sec][key]
        if isinstance(v, float) and fld.kind == "float":
            if not math.isfinite(v):
                notes.append(f"{dotted}: not estimable (NaN); the config default is used")
                continue
            lo = fld.lo if fld.lo is not None else -math.inf
            hi = fld.hi if fld.hi is not None else math.inf
            if fld.lo_open and v <= lo:
                v2 = lo + 1e-12
            elif fld.hi_open and v >= hi:
                v2 = hi - 1e-12
            else:
                v2 = min(max(v, lo), hi)
            if v2 != v:
                notes.append(f"{dotted} = {v:.6g} is outside the config range {fld.range_text()}: clipped to {v2:.6g}")
            v = float(v2)
        out[dotted] = v
    # correlation matrix must be positive definite
    fp = float(out.get("funding.corr_price", 0.0))
    bp = float(out.get("basis.corr_price", 0.0))
    bf = float(out.get("basis.corr_funding", 0.0))
    shrink = 1.0
    for _ in range(60):
        c = np.array([[1, fp * shrink, bp * shrink], [fp * shrink, 1, bf * shrink], [bp * shrink, bf * shrink, 1]])
        if np.linalg.eigvalsh(c).min() > 1e-6:
            break
        shrink *= 0.95
    if shrink < 1.0:
        notes.append(f"the fitted correlations do not form a positive-definite matrix: shrunk by {shrink:.3f}")
        for k, v in (("funding.corr_price", fp), ("basis.corr_price", bp), ("basis.corr_funding", bf)):
            if k in out:
                out[k] = v * shrink
    return out


def calibrate(prices: PriceData, funding: FundingData | None = None, start=None, end=None, *,
              models: tuple[str, ...] = ("gbm", "merton"), se: bool = True, warm: dict | None = None,
              quick: bool = False, log: Callable[[str], None] | None = None) -> Calibration:
    """Fit the price models to the closes with bar end in [start, end], and the funding
    and basis OU processes to the funding data of the same period."""
    start = to_utc(start) if start is not None else prices.bars.index[0]
    end = to_utc(end) if end is not None else prices.bars.index[-1]
    if end <= start:
        raise DataError(f"calibration period: end {end} is not after start {start}")
    bars = prices.between(start, end)
    if len(bars) < 12:
        raise DataError(f"prices {prices.source!r}: only {len(bars)} bars in {describe_period(start, end)} "
                        f"(data cover {describe_period(prices.bars.index[0], prices.bars.index[-1])})")
    r, dt = log_returns(bars)
    warm = warm or {}
    fits: dict[str, Fit] = {}
    gbm = fit_gbm(r, dt, se=se)
    if "gbm" in models:
        fits["gbm"] = gbm
    if "merton" in models:
        fits["merton"] = fit_merton(r, dt, se=se, warm=warm.get("merton"), gbm=gbm, quick=quick)
    cal = Calibration(start=start, end=end, price_source=prices.source, bar=prices.bar, n_returns=int(r.size),
                      fits=fits, funding=None, basis=None, last_close=float(bars["close"].iloc[-1]),
                      last_close_time=bars.index[-1])
    n_gap = int(np.count_nonzero(dt > prices.bar.total_seconds() / YEAR_SECONDS * 1.5))
    if n_gap:
        cal.notes.append(f"{n_gap} return(s) span a gap in the bars: each is modelled over its actual length")
    if funding is not None:
        fr = funding.rate[(funding.rate.index >= start) & (funding.rate.index <= end)]
        if len(fr) >= 21:
            cal.funding_source = funding.source
            cal.funding_spacing = funding.spacing
            cal.funding_rate_interval = funding.rate_interval
            spot = None
            if funding.has_basis:
                spot = funding.spot[(funding.spot.index >= start) & (funding.spot.index <= end)]
            rr = _interval_returns(fr.index, prices, spot)
            cal.funding = fit_ou("funding", fr, rr, se=se, warm=warm.get("funding"))
            cal.last_funding = float(fr.iloc[-1])
            cal.last_funding_time = fr.index[-1]
            if funding.has_basis:
                b = funding.basis[(funding.basis.index >= start) & (funding.basis.index <= end)]
                cal.basis = fit_ou("basis", b, rr, se=se, warm=warm.get("basis"))
                cal.last_basis = float(b.iloc[-1])
                rf, rb = cal.funding.resid, cal.basis.resid  # type: ignore[attr-defined]
                common = rf.index.intersection(rb.index)
                if len(common) > 10:
                    rho = float(np.corrcoef(rf.loc[common], rb.loc[common])[0, 1])
                    cf = cross_factor(cal.funding.kappa, cal.basis.kappa, cal.funding.delta)  # type: ignore[attr-defined]
                    cal.corr_basis_funding = rho / cf
                    cal.corr_basis_funding_se = (1 - rho * rho) / math.sqrt(len(common)) / cf
        else:
            cal.notes.append(f"funding {funding.source!r}: only {len(fr)} rates in the period: funding and basis "
                             "not fitted")
    if cal.basis is None and prices.has_perp:
        b = (bars["perp_close"] / bars["close"] - 1.0).rename("basis")
        rr = np.diff(np.log(bars["close"].to_numpy(dtype=float)))
        cal.basis = fit_ou("basis", b, rr, se=se, warm=warm.get("basis"))
        cal.last_basis = float(b.iloc[-1])
    for f in list(fits.values()) + [x for x in (cal.funding, cal.basis) if x is not None]:
        cal.notes += [f"{f.name}: {n}" for n in f.notes]
    if log:
        for n in cal.notes:
            log(f"calibrate: {n}")
    return cal


# --------------------------------------------------------------------------- TOML output


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "nan"
    return f"{x:.6g}" if abs(x) >= 1e-4 or x == 0 else f"{x:.6e}"


def _se_text(x: float, unit: str = "") -> str:
    if not math.isfinite(x):
        return "SE n/a"
    return f"SE {_num(x)}{(' ' + unit) if unit else ''}"


def to_toml(cal: Calibration, model: str = "merton", drift: str = "fitted", command: str = "") -> str:
    """The calibrated config fragment ([market], [funding], [basis]) with every value's SE
    as a comment, the sample, the log-likelihood and AIC of each model, and the KS line."""
    from sim import __version__

    vals = cal.config_values(model, drift)
    f = cal.fits
    lines = [f"# hedgesim {__version__} calibrate: maximum-likelihood fit to market data"]
    if command:
        lines.append(f"# command: {command}")
    lines += [
        f"# prices:  {cal.price_source} (bars of {fmt_td(cal.bar)})",
        f"# sample:  {describe_period(cal.start, cal.end)}; {cal.n_returns:,} log-returns of "
        f"{fmt_td(cal.bar)} closes",
    ]
    if cal.funding is not None:
        lines.append(f"# funding: {cal.funding_source} ({cal.funding.n:,} intervals of {fmt_td(cal.funding_spacing)}"
                     f"{'; basis = perp close / spot close - 1' if cal.basis is not None else ''})")
    lines.append("# SE = standard error from the observed information (inverse numerical Hessian of the")
    lines.append("#      log-likelihood at the optimum; delta method to these parameters)")
    lines.append("# model comparison (log-likelihood in nats; AIC = 2 k - 2 logL, lower is better):")
    pref = cal.preferred()
    for name, fit in f.items():
        mark = "   <- lowest AIC" if name == pref and len(f) > 1 else ""
        lines.append(f"#   {name:<7} k = {fit.k}  logL = {fit.loglik:,.1f}  AIC = {fit.aic:,.1f}{mark}")
    ks = "; ".join(f"{n} D = {fit.ks:.4f} (p = {fit.ks_pvalue:.2g})" for n, fit in f.items())
    lines.append(f"# goodness of fit: KS statistic of the probability-integral transforms of the returns "
                 f"(uniform if the model is right; p-values ignore estimation): {ks}")
    for ofit in (cal.funding, cal.basis):
        if ofit is not None:
            lines.append(f"# {ofit.name} OU (joint with price returns): logL = {ofit.loglik:,.1f}, "
                         f"AIC = {ofit.aic:,.1f}, {ofit.n:,} intervals")
    lines.append("")
    fit = f[model]
    lines.append("[market]")
    lines.append(f'model = "{model}"')
    lines.append(f"spot = {_num(vals['market.spot'])}".ljust(34) +
                 f"# USD: last close of the sample ({cal.last_close_time:%Y-%m-%d %H:%M} UTC)")
    if drift == "zero":
        lines.append("mu = 0.0".ljust(34) + f"# 1/yr: set to 0 (fitted {_num(fit.params['mu'])}, "
                     f"{_se_text(fit.se['mu'])}: not distinguishable from 0)")
    else:
        lines.append(f"mu = {_num(vals['market.mu'])}".ljust(34) + f"# 1/yr, {_se_text(fit.se['mu'])} "
                     "(drift of dS/S: poorly determined by any sample)")
    lines.append(f"sigma = {_num(vals['market.sigma'])}".ljust(34) + f"# 1/sqrt(yr), {_se_text(fit.se['sigma'])}")
    if model == "merton":
        lines.append(f"jump_intensity = {_num(vals['market.jump_intensity'])}".ljust(34) +
                     f"# jumps per year, {_se_text(fit.se['jump_intensity'])}")
        lines.append(f"jump_mean = {_num(vals['market.jump_mean'])}".ljust(34) +
                     f"# log jump size, {_se_text(fit.se['jump_mean'])}")
        lines.append(f"jump_std = {_num(vals['market.jump_std'])}".ljust(34) +
                     f"# log jump size, {_se_text(fit.se['jump_std'])}")
        tot = math.sqrt(fit.params["sigma"] ** 2 + fit.params["jump_intensity"] *
                        (fit.params["jump_mean"] ** 2 + fit.params["jump_std"] ** 2))
        lines.append(f"# total volatility of log returns sqrt(sigma^2 + lam (m^2 + s^2)) = {tot:.4f} 1/sqrt(yr)")
    if cal.funding is not None:
        fp, fs = cal.funding.params, cal.funding.se
        lines += ["", "[funding]"]
        if "funding.interval" in vals:
            lines.append(f'interval = "{vals["funding.interval"]}"'.ljust(34) + "# the rates are per this interval")
        lines.append(f"initial = {_num(vals['funding.initial'])}".ljust(34) +
                     f"# per interval: last rate of the sample ({cal.last_funding_time:%Y-%m-%d %H:%M} UTC)")
        lines.append(f"mean = {_num(vals['funding.mean'])}".ljust(34) + f"# per interval, {_se_text(fs['mean'])}")
        lines.append(f'half_life = "{vals["funding.half_life"]}"'.ljust(34) +
                     f"# = {fp['half_life_hours']:.4g} h, {_se_text(fs['half_life_hours'], 'h')}")
        lines.append(f"stationary_std = {_num(vals['funding.stationary_std'])}".ljust(34) +
                     f"# per interval, {_se_text(fs['stationary_std'])}")
        if "funding.corr_price" in vals:
            lines.append(f"corr_price = {_num(vals['funding.corr_price'])}".ljust(34) +
                         f"# {_se_text(fs['corr_price'])}; interval correlation {fp['corr_interval']:.4f}, "
                         "scaled to the continuous-time shocks")
    if cal.basis is not None:
        bp, bs = cal.basis.params, cal.basis.se
        lines += ["", "[basis]"]
        lines.append(f"initial = {_num(vals['basis.initial'])}".ljust(34) + "# fraction: last basis of the sample")
        lines.append(f"mean = {_num(vals['basis.mean'])}".ljust(34) + f"# fraction, {_se_text(bs['mean'])}")
        lines.append(f'half_life = "{vals["basis.half_life"]}"'.ljust(34) +
                     f"# = {bp['half_life_hours']:.4g} h, {_se_text(bs['half_life_hours'], 'h')}")
        lines.append(f"stationary_std = {_num(vals['basis.stationary_std'])}".ljust(34) +
                     f"# fraction, {_se_text(bs['stationary_std'])}")
        if "basis.corr_price" in vals:
            lines.append(f"corr_price = {_num(vals['basis.corr_price'])}".ljust(34) +
                         f"# {_se_text(bs['corr_price'])}; interval correlation {bp['corr_interval']:.4f}")
        if "basis.corr_funding" in vals:
            lines.append(f"corr_funding = {_num(vals['basis.corr_funding'])}".ljust(34) +
                         f"# {_se_text(cal.corr_basis_funding_se)} (asymptotic (1 - rho^2)/sqrt(n), scaled)")
    if cal.notes:
        lines += ["", "# notes:"] + [f"#   {n}" for n in cal.notes]
    return "\n".join(lines) + "\n"
