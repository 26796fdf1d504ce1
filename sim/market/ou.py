"""Ornstein-Uhlenbeck processes (funding rate and basis): exact transitions and moments.

    x_{t+h} = m + (x_t - m) a + s_x sqrt(1 - a^2) Z,   a = exp(-kappa h),  kappa = ln 2 / half_life

where s_x is the stationary std. The basis moves the mark, so it steps every dt. Funding
is only used at funding times, so it takes one exact step per funding interval, driven by
the price shocks of the interval (weights from ``ou_interval_weights``) plus one
independent normal for the rest of its variance.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


def ou_coefficients(half_life_years: float, stationary_std: float, dt_years: float) -> tuple[float, float]:
    """(a, sd) of the exact OU step x' = m + (x - m) a + sd Z."""
    kappa = math.log(2.0) / half_life_years
    a = math.exp(-kappa * dt_years)
    sd = stationary_std * math.sqrt(-math.expm1(-2.0 * kappa * dt_years))
    return a, sd


def ou_interval_weights(half_life_years: float, stationary_std: float, dt_years: float,
                        k: int) -> tuple[float, np.ndarray, float]:
    """Exact OU step over an interval of ``k`` steps driven by the per-step shocks.

    Over Delta = k dt the OU innovation is I = sigma int_0^Delta exp(-kappa (Delta - s)) dW(s)
    with sigma = stationary_std sqrt(2 kappa), Var(I) = stationary_std^2 (1 - a^2).
    Given the standard normal shock e_j of each step j (dW over the step = sqrt(dt) e_j),
    E[I | e] = sum_j w_j e_j with w_j = sigma sqrt(dt) (1/dt) int_step_j exp(-kappa (Delta - s)) ds,
    and the remainder is independent of all step shocks. Returns (a, w, total_sd) with
    a = exp(-kappa Delta) and total_sd = sqrt(Var(I)); the kernel adds the remainder
    sqrt(total_sd^2 - loading^2 sum w^2) Z with one fresh normal per interval.
    """
    kappa = math.log(2.0) / half_life_years
    a = math.exp(-kappa * k * dt_years)
    sigma = stationary_std * math.sqrt(2.0 * kappa)
    kd = kappa * dt_years
    avg = -math.expm1(-kd) / kd  # (1/dt) int over one step of exp(-kappa (end - s)) ds
    j = np.arange(k)
    w = sigma * math.sqrt(dt_years) * avg * np.exp(-kd * (k - 1 - j))
    total_sd = stationary_std * math.sqrt(-math.expm1(-2.0 * kappa * k * dt_years))
    return a, w, total_sd


@njit(cache=True, inline="always")
def ou_step(x, mean, a, sd, z):
    """Exact OU transition over one step."""
    return mean + (x - mean) * a + sd * z


def ou_moments(x0: float, mean: float, half_life_years: float, stationary_std: float,
               t_years: float) -> tuple[float, float]:
    """Mean and variance of an OU process at time t given x(0) = x0."""
    kappa = math.log(2.0) / half_life_years
    a = math.exp(-kappa * t_years)
    return mean + (x0 - mean) * a, stationary_std**2 * (1.0 - a * a)
