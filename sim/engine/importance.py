"""Importance sampling of the price shocks: the tilt and where it stops."""

from __future__ import annotations

import math

import numpy as np

from sim.config import Config
from sim.engine.hedge import Hedge
from sim.market.params import MarketParams


def importance_tilt(cfg: Config, mp: MarketParams, hedge: Hedge) -> tuple[float, float]:
    """(shift of each price shock in its own std units, log mark level where the tilt stops).

    ``simulation.importance`` = a number x shifts the log index by x sigma sqrt(T) over the
    horizon (x / sqrt(steps) per step); "auto" picks x so that the shifted drift carries
    the index to the liquidation price of the first hedge variant by the horizon, so that
    about half the paths liquidate. The tilt applies until the checked mark of a step reaches the
    liquidation price (it then has done its job), so the likelihood ratio is that of the
    path up to liquidation (optional stopping; unbiased for every statistic)."""
    imp = cfg.simulation.importance
    if imp == "off" or mp.vol_sqrt_dt == 0.0:
        return 0.0, np.inf
    lp = hedge.liquidation_price
    log_h = math.log(lp) if math.isfinite(lp) else np.inf
    if imp == "auto":
        if not math.isfinite(log_h):
            return 0.0, np.inf
        distance = log_h - math.log(hedge.entry) - mp.log_drift_dt * mp.steps
        theta = max(distance, 0.0) / (mp.vol_sqrt_dt * mp.steps)
    else:
        theta = float(imp) / math.sqrt(mp.steps)
    return theta, log_h
