"""Stress scenarios composed with the stochastic model (``[[stress]]`` tables).

Each scenario turns into per-step arrays of the kernel's market arguments, so a stressed
run draws exactly the same random numbers as the baseline (common random numbers) and
the difference is the stress alone:

* ``jump``: the index moves by ``size`` (a fraction: -0.2 = a 20 % fall) at time ``at``,
  on top of that step's random move;
* ``vol``: the diffusion volatility is multiplied by ``multiplier`` over (start, end]; the
  log drift is compensated so that E[dS/S] stays mu dt;
* ``funding``: the funding rate is pinned at ``value`` (per interval) at every funding time
  in (start, end]; after the window it mean-reverts from there;
* ``basis``: the basis jumps by ``size`` (fraction of the index) at time ``at`` and then
  mean-reverts;
* ``replay``: no simulation: a given price path (CSV: a time column and a price column,
  optional funding column; read by ``sim.data.load.load_price_path``, format in
  docs/stress.md) goes through the same hedge account arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.config import Config, ConfigError, parse_duration
from sim.data.load import load_price_path
from sim.market.params import MarketParams


@dataclass(frozen=True)
class MarketArrays:
    """Per-step market arguments: the baseline, or a stressed version of it."""

    log_drift: np.ndarray  # (steps + 1,)
    vol: np.ndarray  # (steps + 1,)
    basis_add: np.ndarray  # (steps + 1,)
    f_pin: np.ndarray  # (n_funding + 1,)


def baseline_arrays(mp: MarketParams) -> MarketArrays:
    n = mp.steps + 1
    return MarketArrays(
        log_drift=np.full(n, mp.log_drift_dt), vol=np.full(n, mp.vol_sqrt_dt), basis_add=np.zeros(n),
        f_pin=np.full(mp.steps // mp.funding_every + 1, np.nan))


def _step_of(cfg: Config, text: str) -> int:
    return int(round(parse_duration(text) / cfg.dt_seconds))


def _window(cfg: Config, st: dict) -> tuple[int, int]:
    """Steps i with start < t_i <= end, as (first, last) inclusive."""
    start = _step_of(cfg, st["start"]) if "start" in st else 0
    end = _step_of(cfg, st["end"]) if "end" in st else cfg.steps
    return start + 1, end


def stressed_arrays(cfg: Config, mp: MarketParams, st: dict) -> MarketArrays:
    """Market arrays of one ``[[stress]]`` scenario (not ``replay``)."""
    a = baseline_arrays(mp)
    kind = st["type"]
    if kind == "jump":
        a.log_drift[_step_of(cfg, st["at"])] += math.log1p(st["size"])
    elif kind == "basis":
        a.basis_add[_step_of(cfg, st["at"])] += st["size"]
    elif kind == "vol":
        lo, hi = _window(cfg, st)
        m = st["multiplier"]
        sigma2_dt = mp.vol_sqrt_dt**2
        a.vol[lo:hi + 1] *= m
        a.log_drift[lo:hi + 1] -= 0.5 * sigma2_dt * (m * m - 1.0)
    elif kind == "funding":
        lo, hi = _window(cfg, st)
        k = np.arange(1, len(a.f_pin))
        t_step = k * mp.funding_every
        a.f_pin[1:][(t_step >= lo) & (t_step <= hi)] = st["value"]
    else:
        raise ValueError(kind)
    return a


# --------------------------------------------------------------------------- replay


def replay_paths(cfg: Config, mp: MarketParams, path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Index, mark and funding paths on the config's step grid from a price CSV.

    The price at t_i = t_0 + i dt is the last observation at or before it (no look-ahead);
    the path is as long as the file covers, up to the horizon. The CSV price is both index
    and mark (no basis). Funding: the file's column at each funding time if present, else
    the config's deterministic funding path (initial decaying to mean)."""
    t, s, f = load_price_path(path)
    dt = cfg.dt_seconds
    steps = min(cfg.steps, int(math.floor((t[-1] - t[0]) / dt + 1e-9)))
    if steps < 1:
        raise ConfigError(f"replay file {str(path)!r}: covers less than one step of simulation.dt")
    grid = t[0] + np.arange(steps + 1) * dt
    idx = np.searchsorted(t, grid + 1e-6, side="right") - 1
    s_path = s[idx]
    n_f = steps // mp.funding_every
    if f is not None:
        f_path = f[idx[np.arange(n_f + 1) * mp.funding_every]]
    else:
        k = np.arange(n_f + 1)
        f_path = mp.f_mean + (mp.f0 - mp.f_mean) * mp.f_a**k
    return s_path, s_path.copy(), np.asarray(f_path, dtype=np.float64), steps
