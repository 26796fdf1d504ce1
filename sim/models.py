"""Market models (SPEC §3): parameters and exact one-step transitions.

Index S: GBM or Merton jump-diffusion, stepped exactly in log space.
Funding f and basis b: Ornstein-Uhlenbeck, stepped with the exact Gaussian transition
    x_{t+dt} = m + (x_t - m) a + s_x sqrt(1 - a^2) Z,   a = exp(-kappa dt)
where s_x is the stationary std and kappa = ln 2 / half_life.
Shocks of (price, funding, basis) are correlated through a lower Cholesky factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from .config import Config, YEAR_SECONDS, correlation_matrix, parse_duration

GBM = 0
MERTON = 1
MODEL_CODES = {"gbm": GBM, "merton": MERTON}


def merton_compensator(jump_intensity: float, jump_mean: float, jump_std: float) -> float:
    """lam * k with k = E[J - 1] = exp(m + s^2/2) - 1: keeps E[dS/S] = mu dt."""
    return jump_intensity * math.expm1(jump_mean + 0.5 * jump_std**2)


def ou_coefficients(half_life_years: float, stationary_std: float, dt_years: float) -> tuple[float, float]:
    """(a, sd) of the exact OU step x' = m + (x - m) a + sd Z."""
    kappa = math.log(2.0) / half_life_years
    a = math.exp(-kappa * dt_years)
    sd = stationary_std * math.sqrt(-math.expm1(-2.0 * kappa * dt_years))
    return a, sd


@njit(cache=True, inline="always")
def ou_step(x, mean, a, sd, z):
    """Exact OU transition over one step."""
    return mean + (x - mean) * a + sd * z


@dataclass(frozen=True)
class MarketParams:
    """Unit-converted market parameters handed to the kernel as scalars/arrays."""

    model: int
    spot: float
    log_drift_dt: float  # (mu - lam k - sigma^2/2) dt
    vol_sqrt_dt: float  # sigma sqrt(dt)
    jump_rate_dt: float  # lam dt: expected jumps per step
    jump_mean: float
    jump_std: float
    f0: float
    f_mean: float
    f_a: float
    f_sd: float
    b0: float
    b_mean: float
    b_a: float
    b_sd: float
    chol: np.ndarray  # 3x3 lower factor; rows (price, funding, basis)
    dt_years: float
    steps: int

    @classmethod
    def from_config(cls, cfg: Config) -> "MarketParams":
        m, f, b = cfg.market, cfg.funding, cfg.basis
        dt = cfg.dt_years
        jumps = m.model == "merton" and m.jump_intensity > 0
        lam = m.jump_intensity if jumps else 0.0
        comp = merton_compensator(lam, m.jump_mean, m.jump_std) if jumps else 0.0
        f_a, f_sd = ou_coefficients(parse_duration(f.half_life) / YEAR_SECONDS, f.stationary_std, dt)
        b_a, b_sd = ou_coefficients(parse_duration(b.half_life) / YEAR_SECONDS, b.stationary_std, dt)
        return cls(
            model=MODEL_CODES[m.model],
            spot=m.spot,
            log_drift_dt=(m.mu - comp - 0.5 * m.sigma**2) * dt,
            vol_sqrt_dt=m.sigma * math.sqrt(dt),
            jump_rate_dt=lam * dt,
            jump_mean=m.jump_mean,
            jump_std=m.jump_std,
            f0=f.initial, f_mean=f.mean, f_a=f_a, f_sd=f_sd,
            b0=b.initial, b_mean=b.mean, b_a=b_a, b_sd=b_sd,
            chol=shock_cholesky(cfg),
            dt_years=dt,
            steps=cfg.steps,
        )


def shock_cholesky(cfg: Config) -> np.ndarray:
    """Lower Cholesky factor of the correlation of the *active* shocks, embedded in 3x3.

    A factor with zero volatility draws no shocks; its row and column are zero, so the
    remaining factors keep their exact marginal variance and pairwise correlation.
    """
    c = correlation_matrix(cfg)
    active = [0] + ([1] if cfg.funding.stationary_std > 0 else []) + ([2] if cfg.basis.stationary_std > 0 else [])
    sub = np.linalg.cholesky(c[np.ix_(active, active)])
    out = np.zeros((3, 3))
    out[np.ix_(active, active)] = sub
    return out
