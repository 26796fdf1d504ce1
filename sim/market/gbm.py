"""Geometric Brownian motion: dS/S = mu dt + sigma dW.

The diffusion part of every price model. Closed forms: moments of log S_T, the
barrier-hitting (first-passage) probability with continuous monitoring, and the
Broadie-Glasserman-Kou shift that maps discrete monitoring onto it.
"""

from __future__ import annotations

import math

from scipy.stats import norm

NAME = "gbm"
CODE = 0  # market_args.model: the kernel's branch for this model's jumps (none)
JUMPS = False


def compensator(m) -> float:
    """lam k of the [market] section: no jumps, no compensator."""
    return 0.0


def log_moments(m, horizon_years: float) -> tuple[float, float]:
    """(mean, variance) of log(S_T/S_0) for the [market] section ``m``."""
    return log_return_moments(m.mu, m.sigma, horizon_years)


def log_return_moments(mu: float, sigma: float, horizon_years: float) -> tuple[float, float]:
    """Mean and variance of log(S_T/S_0) under GBM."""
    return (mu - 0.5 * sigma**2) * horizon_years, sigma**2 * horizon_years


def gbm_hit_probability(spot: float, barrier: float, mu: float, sigma: float, horizon_years: float) -> float:
    """P(max_{t<=T} S_t >= barrier) for GBM dS/S = mu dt + sigma dW, barrier above spot
    (or P(min S_t <= barrier) for a barrier below spot). Continuous monitoring."""
    if sigma <= 0 or horizon_years <= 0:
        nu = mu - 0.5 * sigma**2
        end = math.log(spot) + nu * max(horizon_years, 0.0)
        return float(end >= math.log(barrier)) if barrier >= spot else float(end <= math.log(barrier))
    nu = mu - 0.5 * sigma**2
    b = math.log(barrier / spot)
    s = sigma * math.sqrt(horizon_years)
    if b >= 0:
        return float(norm.cdf((-b + nu * horizon_years) / s)
                     + math.exp(2.0 * nu * b / sigma**2) * norm.cdf((-b - nu * horizon_years) / s))
    return float(norm.cdf((b - nu * horizon_years) / s)
                 + math.exp(2.0 * nu * b / sigma**2) * norm.cdf((b + nu * horizon_years) / s))


BGK_BETA = 0.5825971579390106  # -zeta(1/2)/sqrt(2*pi)


def bgk_shifted_barrier(barrier: float, spot: float, sigma: float, dt_years: float) -> float:
    """Broadie-Glasserman-Kou (1997): a discretely monitored barrier behaves like a
    continuous one shifted away from the spot by exp(+-beta sigma sqrt(dt))."""
    shift = BGK_BETA * sigma * math.sqrt(dt_years)
    return barrier * math.exp(shift if barrier >= spot else -shift)
