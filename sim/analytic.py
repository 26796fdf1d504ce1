"""Closed forms: test oracles that users can call too.

* Inverse/linear liquidation prices (SPEC §4).
* GBM first-passage (barrier-hitting) probability, with the Broadie-Glasserman-Kou
  shift for discrete monitoring.
* Moments of log S_T under GBM and Merton; OU transition and stationary moments.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from .models import merton_compensator

__all__ = [
    "inverse_liquidation_price",
    "linear_liquidation_price",
    "gbm_hit_probability",
    "bgk_shifted_barrier",
    "log_return_moments",
    "ou_moments",
]


def inverse_liquidation_price(notional_usd: float, entry: float, collateral_btc: float, mmr: float) -> float:
    """Liquidation price of a short inverse position, no funding or fees (SPEC §4):
    L = Q (1 - mmr) / (Q/E - C) for C < Q/E, else never (NaN)."""
    q_btc = notional_usd / entry
    if collateral_btc >= q_btc:
        return math.nan
    return notional_usd * (1.0 - mmr) / (q_btc - collateral_btc)


def linear_liquidation_price(qty_btc: float, entry: float, collateral_usd: float, mmr: float) -> float:
    """Liquidation price of a short linear position: C + q(E - L) = mmr q L."""
    return (collateral_usd + qty_btc * entry) / (qty_btc * (1.0 + mmr))


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


def log_return_moments(model: str, mu: float, sigma: float, horizon_years: float,
                       jump_intensity: float = 0.0, jump_mean: float = 0.0,
                       jump_std: float = 0.0) -> tuple[float, float]:
    """Mean and variance of log(S_T/S_0) for GBM or Merton (compensated drift, SPEC §3)."""
    lam = jump_intensity if model == "merton" else 0.0
    comp = merton_compensator(lam, jump_mean, jump_std) if lam > 0 else 0.0
    mean = (mu - comp - 0.5 * sigma**2) * horizon_years + lam * horizon_years * jump_mean
    var = sigma**2 * horizon_years + lam * horizon_years * (jump_mean**2 + jump_std**2)
    return mean, var


def ou_moments(x0: float, mean: float, half_life_years: float, stationary_std: float,
               t_years: float) -> tuple[float, float]:
    """Mean and variance of an OU process at time t given x(0) = x0."""
    kappa = math.log(2.0) / half_life_years
    a = math.exp(-kappa * t_years)
    return mean + (x0 - mean) * a, stationary_std**2 * (1.0 - a * a)
