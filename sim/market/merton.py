"""Merton jump-diffusion: GBM plus Poisson jumps with normal log sizes.

dS/S = (mu - lam k) dt + sigma dW + (J - 1) dN, N ~ Poisson(lam per year),
log J ~ N(jump_mean, jump_std^2), k = E[J - 1] = exp(jump_mean + jump_std^2/2) - 1,
so E[dS/S] = mu dt (the compensated drift).
"""

from __future__ import annotations

import math

from numba import njit

NAME = "merton"
CODE = 1  # market_args.model
JUMPS = True


def merton_compensator(jump_intensity: float, jump_mean: float, jump_std: float) -> float:
    """lam * k with k = E[J - 1] = exp(m + s^2/2) - 1: keeps E[dS/S] = mu dt."""
    return jump_intensity * math.expm1(jump_mean + 0.5 * jump_std**2)


def compensator(m) -> float:
    """lam k of the [market] section ``m``."""
    return merton_compensator(m.jump_intensity, m.jump_mean, m.jump_std)


def log_moments(m, horizon_years: float) -> tuple[float, float]:
    """(mean, variance) of log(S_T/S_0) for the [market] section ``m``."""
    return log_return_moments(m.mu, m.sigma, horizon_years, m.jump_intensity, m.jump_mean, m.jump_std)


def log_return_moments(mu: float, sigma: float, horizon_years: float, jump_intensity: float = 0.0,
                       jump_mean: float = 0.0, jump_std: float = 0.0) -> tuple[float, float]:
    """Mean and variance of log(S_T/S_0) under Merton (compensated drift)."""
    lam = jump_intensity
    comp = merton_compensator(lam, jump_mean, jump_std) if lam > 0 else 0.0
    mean = (mu - comp - 0.5 * sigma**2) * horizon_years + lam * horizon_years * jump_mean
    var = sigma**2 * horizon_years + lam * horizon_years * (jump_mean**2 + jump_std**2)
    return mean, var


@njit(cache=True, inline="always")
def draw_jump(gen, mk):
    """One log jump size: normal(jump_mean, jump_std)."""
    return mk.jump_mean + mk.jump_std * gen.standard_normal()


@njit(cache=True, inline="always")
def jump_of(u, z, e, mk):
    """One log jump size from given variates (u uniform, z normal, e exponential; the
    counter-based generator): jump_mean + jump_std z."""
    return mk.jump_mean + mk.jump_std * z
