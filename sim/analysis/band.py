"""The model band: a run's key figures under the configured model and under a stated set of
alternative models, so a user sees how much the answer depends on the model (docs/band.md).

The alternatives:

* ``vol p10``, ``vol p50``, ``vol p90``: the configured model with its total volatility set
  to the 10th, 50th and 90th percentile of BTC's 30-day realised volatility over the last
  ten years of daily closes shipped in ``data/`` (the diffusion sigma is set so that sigma^2
  plus the jumps' variance rate gives that volatility; a bootstrap config takes GBM);
* ``bootstrap``: historical simulation, a stationary block bootstrap (24 h mean blocks, drift
  removed) of the hourly BTC bars shipped in ``data/`` (2019-11 to 2025-05), when the
  config's step is one hour and its model is not already the bootstrap.

Every alternative runs on the configured seed with ``paths`` paths (common random numbers
where the models share streams); the configured row is the run itself. Figures: the
liquidation probability, the hedged 99 % expected shortfall and, for ``hedgesim margin``, the
minimum collateral per target, each with its standard error or interval.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from sim import engine, results
from sim.analysis.margin import min_collateral, paths_needed
from sim.config import Config
from sim.errors import ConfigError, DataError
from sim.data.load import load_prices
from sim.market.registry import log_return_moments

DATA = Path(__file__).resolve().parents[2] / "data"
VOL_HISTORY = DATA / "btc_usd_1d_close_2015-01_2026-02.csv"
HOURLY_HISTORY = DATA / "btc_usd_1h_cryptocompare_2019-11_2025-05.csv.gz"
PERCENTILES = (10, 50, 90)
WINDOW_DAYS = 30
LOOKBACK_YEARS = 10
BAND_PATHS = 50_000  # paths per alternative (at most the run's own; margin: enough for its targets)
ES_LEVEL = 0.99
MIN_SIGMA = 0.01  # floor of the diffusion sigma when the jumps alone exceed a percentile's variance


@dataclass(frozen=True)
class Alternative:
    label: str
    description: str
    overrides: dict


@functools.lru_cache(maxsize=4)
def realised_vol_percentiles(path: str = str(VOL_HISTORY), window: int = WINDOW_DAYS,
                             years: int = LOOKBACK_YEARS) -> tuple[dict[int, float], str]:
    """Percentiles of the annualised realised volatility sqrt(365/n sum r^2) of every
    window of ``window`` consecutive daily log returns in the last ``years`` years of the
    file; and the span used, as text."""
    bars = load_prices(path, log=None).bars
    close = bars["close"]
    close = close[close.index > close.index[-1] - np.timedelta64(365 * years, "D")]
    r2 = np.diff(np.log(close.to_numpy(dtype=np.float64))) ** 2
    csum = np.concatenate([[0.0], np.cumsum(r2)])
    rv = np.sqrt(365.0 / window * (csum[window:] - csum[:-window]))
    days = close.index - np.timedelta64(1, "D")  # bar ends at midnight after each day's close
    span = f"{days[0]:%Y-%m-%d} to {days[-1]:%Y-%m-%d}"
    return {p: float(np.percentile(rv, p)) for p in PERCENTILES}, span


def alternatives(cfg: Config) -> tuple[list[Alternative], list[str]]:
    """The alternative models for ``cfg``, and notes on any left out."""
    m = cfg.market
    notes: list[str] = []
    pct, span = realised_vol_percentiles()
    out = []
    base = "gbm" if m.model == "bootstrap" else m.model
    jump_var = 0.0
    if base != "gbm":
        jump_var = max(log_return_moments(m, 1.0)[1] - m.sigma ** 2, 0.0)
    for p, vol in pct.items():
        sigma = math.sqrt(max(vol * vol - jump_var, MIN_SIGMA ** 2))
        over = {"market.sigma": round(sigma, 6)}
        if base != m.model:  # a bootstrap config: GBM, without any jump keys it may carry
            over.update({"market.model": base, "market.jump_intensity": 0.0, "market.jump_mean": 0.0,
                         "market.jump_std": 0.0})
        out.append(Alternative(f"vol p{p}", f"{base}, total volatility {vol:.2f}/yr: the {p}th percentile of BTC's "
                                            f"{WINDOW_DAYS}-day realised volatility, daily closes {span}", over))
    if m.model == "bootstrap":
        notes.append("bootstrap: the configured model already")
    elif abs(cfg.dt_seconds - 3600.0) > 1e-9:
        notes.append("bootstrap: left out (the shipped history has 1 h bars; simulation.dt is not 1h)")
    else:
        over = {"market.model": "bootstrap", "market.history": str(HOURLY_HISTORY), "market.block": "24h",
                "market.bootstrap": "stationary", "market.demean": True, "simulation.importance": "off"}
        out.append(Alternative("bootstrap", "historical simulation: stationary block bootstrap (24 h blocks, drift "
                                            "removed) of BTC hourly bars 2019-11 to 2025-05", over))
    return out, notes


def key_figures(ds: xr.Dataset, targets: list[float] | None = None) -> dict[str, np.ndarray]:
    """The band's figures of one single-variant run Dataset."""
    sel = {"portfolio": "hedged", "level": ES_LEVEL}
    es, es_se = ds["expected_shortfall"].sel(sel), ds["expected_shortfall_se"].sel(sel)
    if "time" in es.dims:  # report_at: the band shows the horizon
        es, es_se = es.isel(time=-1), es_se.isel(time=-1)
    f = {"liquidation_probability": float(ds["liquidation_probability"]),
         "liquidation_probability_se": float(ds["liquidation_probability_se"]),
         "expected_shortfall": float(es), "expected_shortfall_se": float(es_se)}
    if targets:
        r = ds["required_collateral"].values
        mins = np.array([min_collateral(r, t) for t in targets])
        f["min_collateral"], f["min_collateral_low"], f["min_collateral_high"] = mins[:, 0], mins[:, 1], mins[:, 2]
    return f


def _bar(label: str, total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="path", unit_scale=True, file=sys.stderr, desc=f"model band: {label}",
                dynamic_ncols=True, leave=False)


def band_applies(cfg: Config) -> str | None:
    """Why a config gets no band (None: it does): a sweep compares variants, not models."""
    if cfg.sweep:
        return "a sweep (run its variants one at a time for a band)"
    return None


def margin_row(curve: xr.Dataset) -> dict[str, np.ndarray | float]:
    """The configured row of a margin band: the curve's own minimum collateral."""
    nan = math.nan
    return {"liquidation_probability": nan, "liquidation_probability_se": nan, "expected_shortfall": nan,
            "expected_shortfall_se": nan, **{k: curve[k].values for k in
                                             ("min_collateral", "min_collateral_low", "min_collateral_high")}}


def model_band(cfg: Config, configured: dict, targets: list[float] | None = None, *,
               paths: int | None = None, progress: bool = False, threads: int | None = None) -> xr.Dataset:
    """The band as a Dataset over ``model_band`` (the configured model first), from the
    configured run's figures (``key_figures`` of its Dataset, or ``margin_row``) and one
    run per alternative of ``paths`` paths."""
    alts, notes = alternatives(cfg)
    if paths is None:  # enough for 100 liquidations beyond the smallest target, within the run's own
        paths = min(cfg.simulation.paths, max([BAND_PATHS] + [paths_needed(t) for t in targets or []]))
    n = int(paths)
    rows = [("configured", f"{cfg.market.model} as configured", configured)]
    t0 = time.perf_counter()
    for alt in alts:
        bar = _bar(alt.label, n) if progress else None
        try:
            raw = engine.simulate(cfg.replace(alt.overrides), paths=n, seed=cfg.simulation.seed, threads=threads,
                                  progress=(lambda done, total, b=bar: b.update(done - b.n)) if bar else False)
        except (ConfigError, DataError) as exc:  # e.g. a horizon longer than the shipped history
            notes.append(f"{alt.label}: left out ({exc})")
            continue
        finally:
            if bar is not None:
                bar.close()
        rows.append((alt.label, alt.description, key_figures(results.build_dataset(raw), targets)))
    unit = "BTC" if cfg.position.contract == "inverse" else "USD"
    labels = [r[0] for r in rows]
    data = {}
    meaning = {"liquidation_probability": ("1", "P(liquidated within the horizon)"),
               "liquidation_probability_se": ("1", "its standard error"),
               "expected_shortfall": ("USD", f"hedged expected shortfall at {ES_LEVEL:.0%}, a loss"),
               "expected_shortfall_se": ("USD", "its standard error")}
    for k, (u, ln) in meaning.items():
        data[f"band_{k}"] = ("model_band", np.array([r[2][k] for r in rows]), {"units": u, "long_name": ln})
    coords = {"model_band": ("model_band", np.array(labels, dtype=str), {"long_name": "model of the band row"}),
              "model_band_description": ("model_band", np.array([r[1] for r in rows], dtype=str))}
    if targets:
        for k, ln in (("min_collateral", "smallest collateral with P(liq) <= target"),
                      ("min_collateral_low", "95 % interval, lower"), ("min_collateral_high", "95 % interval, upper")):
            data[f"band_{k}"] = (("model_band", "target"), np.array([r[2][k] for r in rows]),
                                 {"units": unit, "long_name": ln})
        coords["target"] = ("target", np.asarray(targets, dtype=float))
    band = xr.Dataset(data, coords=coords)
    band.attrs["band_paths"] = n
    band.attrs["band_wall_time_s"] = time.perf_counter() - t0
    band.attrs["band_notes"] = "; ".join(notes)
    return band


def conservative(band: xr.Dataset) -> xr.Dataset:
    """Per target, the band row with the largest minimum collateral: the recommendation."""
    mc = band["band_min_collateral"]
    idx = mc.fillna(-np.inf).argmax("model_band")
    return xr.Dataset({"recommended_collateral": mc.isel(model_band=idx),
                       "recommended_model": band["model_band"].isel(model_band=idx)})
