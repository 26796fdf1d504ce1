"""Maximum-likelihood numerics shared by the fits of ``sim.data.calibrate``.

Standard errors: the observed information, i.e. the numerical Hessian of the
log-likelihood at the optimum in the optimiser's parameters (logs of positive
parameters), inverted, and carried to the reported parameters by the delta method
(numerical Jacobian). Goodness of fit: the KS statistic of the probability-integral
transforms u_i = F(r_i) of the fitted model against the uniform; with estimated
parameters its p-value is only indicative (too large).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from sim.errors import DataError


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
    # OU fits only: standardised innovations, mean reversion rate (1/yr), median interval (yr)
    resid: pd.Series | None = None
    kappa: float = math.nan
    delta: float = math.nan

    @property
    def aic(self) -> float:
        return 2.0 * self.k - 2.0 * self.loglik


def minimize(nll: Callable, starts: list[np.ndarray], bounds, jac: bool = False):
    """The best L-BFGS-B optimum of ``nll`` over the starting points (clipped to the bounds)."""
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


def hessian(f: Callable, x: np.ndarray, grad: Callable | None = None) -> np.ndarray:
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


def delta_se(g: Callable, theta: np.ndarray, H: np.ndarray, at_bound: np.ndarray) -> tuple[np.ndarray, list[str]]:
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


def at_bound(x, bounds) -> np.ndarray:
    """Which parameters of ``x`` sit at (within 1e-6 of) an optimiser bound."""
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    tol = 1e-6 * np.maximum(1.0, np.abs(x))
    return (x - lo < tol) | (hi - x < tol)


def ks_uniform(u: np.ndarray) -> tuple[float, float]:
    """(KS statistic, p-value) of the probability-integral transforms ``u`` against U(0, 1)."""
    from scipy import stats

    res = stats.kstest(u, "uniform")
    return float(res.statistic), float(res.pvalue)
