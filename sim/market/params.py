"""A validated config -> the market's unit-converted parameters (``MarketParams``).

Index S: the configured price model (``sim.market.registry``), stepped exactly in log
space with the compensated drift (or the bootstrap's recorded bars, ``sim.market.history``); funding and basis: exact OU steps (``sim.market.ou``).
Shocks of (price, funding, basis) are correlated through a lower Cholesky factor
(docs/model.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sim.config import YEAR_SECONDS, Config, correlation_matrix, parse_duration
from sim.market import bootstrap, registry
from sim.market.history import bootstrap_fields, resolve_history
from sim.market.ou import ou_coefficients, ou_interval_weights


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
    # the bootstrap's sample (sim.market.history; empty for the other models)
    hist_ret: np.ndarray  # centred log returns of the recorded bars
    hist_exc: np.ndarray  # their high excursions above the higher close (log, >= 0)
    block_bars: float  # block length in bars (the mean for stationary blocks)
    block_fixed: bool  # fixed-length blocks (else geometric lengths)
    hist_corr: np.ndarray  # (steps + 1,) extra drift correction per bar of a block of m bars

    @classmethod
    def from_config(cls, cfg: Config, history=None, *, with_sample: bool = True) -> "MarketParams":
        """The model's parameters; for the bootstrap model, its sample is ``history`` if
        given (see ``sim.market.history.resolve_history``), else read from market.history.
        ``with_sample=False``: no sample (a replay of a given path needs only the funding
        and basis parameters)."""
        m, f, b = cfg.market, cfg.funding, cfg.basis
        dt = cfg.dt_years
        model = registry.model(m.model)
        jumps = model.JUMPS and m.jump_intensity > 0
        lam = m.jump_intensity if jumps else 0.0
        comp = model.compensator(m) if jumps else 0.0
        f_a, f_w, f_sd = ou_interval_weights(parse_duration(f.half_life) / YEAR_SECONDS, f.stationary_std, dt,
                                             cfg.funding_every)
        b_a, b_sd = ou_coefficients(parse_duration(b.half_life) / YEAR_SECONDS, b.stationary_std, dt)
        sample = dict(log_drift_dt=(m.mu - comp - 0.5 * m.sigma**2) * dt, vol_sqrt_dt=m.sigma * math.sqrt(dt),
                      hist_ret=np.zeros(0), hist_exc=np.zeros(0), block_bars=1.0, block_fixed=False,
                      hist_corr=np.zeros(1))
        if model is bootstrap and with_sample:
            sample = bootstrap_fields(cfg, resolve_history(cfg, history))
        return cls(
            model=model.CODE,
            spot=m.spot,
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
            **sample,
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
