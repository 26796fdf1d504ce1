"""Funding and basis as OU processes (docs/model.md: funding, basis and mark), fitted by
exact-transition maximum likelihood.

x' = m + (x - m) a + s sqrt(1 - a^2) e, a = exp(-kappa Delta), kappa = ln 2 / half-life,
fitted jointly with the price return r over the same interval as a bivariate normal
(e, r) with correlation rho. rho is the correlation of the *interval* innovations;
the config wants the correlation of the continuous-time shocks, which is larger by the
factor 1 / c with c = ((1 - a)/kappa) / sqrt(Delta (1 - a^2)/(2 kappa)) (the OU innovation
weights the shocks of the interval by exp(-kappa (Delta - s))).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.config import YEAR_SECONDS
from sim.data.load import PriceData, asof
from sim.data.mle import Fit, at_bound, delta_se, hessian, minimize
from sim.errors import DataError

LN2 = math.log(2.0)
HOUR_YEARS = 3600.0 / YEAR_SECONDS


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
    res = minimize(f, starts, bounds)
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
    bound = at_bound(th, bounds)
    if bound[1]:
        fit.notes.append(f"{name}: half-life at the optimiser's bound ({p[1]:.4g} h)")
    if se:
        sev, notes = delta_se(report, th, hessian(f, th), bound)
        fit.se = dict(zip(names, sev))
        fit.notes += notes
    # residuals (standardised innovations) for cross-correlations
    kappa = LN2 / (p[1] * HOUR_YEARS)
    a = np.exp(-kappa * dt)
    resid = (x1 - p[0] - (x0 - p[0]) * a) / (p[2] * np.sqrt(-np.expm1(-2 * kappa * dt)))
    fit.resid = pd.Series(resid, index=x.index[1:][use])
    fit.kappa = kappa
    fit.delta = dbar
    if rr is not None:
        fit.params["corr_interval"] = math.tanh(th[5])
    return fit


def interval_returns(times: pd.DatetimeIndex, prices: PriceData | None, spot: pd.Series | None) -> np.ndarray | None:
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
