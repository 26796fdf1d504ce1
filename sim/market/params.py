"""Market models (SPEC §3): parameters and exact one-step transitions.

Index S: GBM or Merton jump-diffusion, stepped exactly in log space.
Funding f and basis b: Ornstein-Uhlenbeck with the exact Gaussian transition
    x_{t+h} = m + (x_t - m) a + s_x sqrt(1 - a^2) Z,   a = exp(-kappa h)
where s_x is the stationary std and kappa = ln 2 / half_life. The basis moves the mark,
so it steps every dt. Funding is only used at funding times, so it takes one exact step
per funding interval, driven by the price shocks of the interval (weights from
``ou_interval_weights``) plus one independent normal for the rest of its variance.
Shocks of (price, funding, basis) are correlated through a lower Cholesky factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from sim.config.core import Config, YEAR_SECONDS, correlation_matrix, parse_duration

GBM = 0
MERTON = 1
KOU = 2
MODEL_CODES = {"gbm": GBM, "merton": MERTON, "kou": KOU}


def kou_compensator(jump_intensity: float, p_up: float, up_mean: float, down_mean: float) -> float:
    """lam * k with k = E[e^Y] - 1 for the asymmetric double-exponential log jump Y."""
    return jump_intensity * (p_up / (1.0 - up_mean) + (1.0 - p_up) / (1.0 + down_mean) - 1.0)


def merton_compensator(jump_intensity: float, jump_mean: float, jump_std: float) -> float:
    """lam * k with k = E[J - 1] = exp(m + s^2/2) - 1: keeps E[dS/S] = mu dt."""
    return jump_intensity * math.expm1(jump_mean + 0.5 * jump_std**2)


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
    jump_up_prob: float  # kou
    jump_up_mean: float
    jump_down_mean: float
    f0: float
    f_mean: float
    f_a: float  # OU decay over one funding interval
    f_w: np.ndarray  # per-step weights of the shocks within a funding interval
    f_sd: float  # std of the OU innovation over one funding interval
    b0: float
    b_mean: float
    b_a: float
    b_sd: float
    chol: np.ndarray  # 3x3 lower factor; rows (price, funding, basis)
    dt_years: float
    steps: int
    funding_every: int  # steps per funding interval

    @classmethod
    def from_config(cls, cfg: Config) -> "MarketParams":
        m, f, b = cfg.market, cfg.funding, cfg.basis
        dt = cfg.dt_years
        jumps = m.model in ("merton", "kou") and m.jump_intensity > 0
        lam = m.jump_intensity if jumps else 0.0
        if not jumps:
            comp = 0.0
        elif m.model == "kou":
            comp = kou_compensator(lam, m.jump_up_prob, m.jump_up_mean, m.jump_down_mean)
        else:
            comp = merton_compensator(lam, m.jump_mean, m.jump_std)
        f_a, f_w, f_sd = ou_interval_weights(parse_duration(f.half_life) / YEAR_SECONDS, f.stationary_std, dt,
                                             cfg.funding_every)
        b_a, b_sd = ou_coefficients(parse_duration(b.half_life) / YEAR_SECONDS, b.stationary_std, dt)
        return cls(
            model=MODEL_CODES[m.model],
            spot=m.spot,
            log_drift_dt=(m.mu - comp - 0.5 * m.sigma**2) * dt,
            vol_sqrt_dt=m.sigma * math.sqrt(dt),
            jump_rate_dt=lam * dt,
            jump_mean=m.jump_mean,
            jump_std=m.jump_std,
            jump_up_prob=m.jump_up_prob,
            jump_up_mean=m.jump_up_mean,
            jump_down_mean=m.jump_down_mean,
            f0=f.initial, f_mean=f.mean, f_a=f_a, f_w=f_w, f_sd=f_sd,
            b0=b.initial, b_mean=b.mean, b_a=b_a, b_sd=b_sd,
            chol=shock_cholesky(cfg),
            dt_years=dt,
            steps=cfg.steps,
            funding_every=cfg.funding_every,
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
