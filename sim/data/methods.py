"""The forecast models of the walk-forward backtest, by name: the one place that lists
them (``--models``). A backtest method is a model x a calibration choice
(``sim.data.choices``).

Each entry says how the forecast's ``[market]`` values are made at a window start s from
what was known at s:

* ``gbm``, ``merton`` (``fitted``): maximum likelihood on the choice's look-back
  (``sim.data.calibrate``), the choice's factor on the scale of log returns;
* ``kou``: a price model of the simulator that ``calibrate`` does not fit yet (refused,
  with that reason);
* ``bootstrap``: historical simulation (``sim.market.bootstrap``), a block bootstrap of
  the bars that ended by s within the choice's look-back, handed to the engine in memory
  (``history_slice``); blocks of ``market.block`` as the config sets it (default 24 h),
  drift as the other models (``--drift``); it takes no factor, so it pairs only with
  choices without a stress weight, floor or buffer. Funding and basis as fitted on the
  look-back.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass

import pandas as pd

from sim.data.calibrate import Calibration
from sim.data.choices import CalibrationChoice
from sim.data.load import PriceData
from sim.errors import DataError


@dataclass(frozen=True)
class ForecastModel:
    name: str
    fitted: bool  # fitted by sim.data.calibrate (takes a choice's factor)
    adjustable: bool  # a choice's stress weight / floor / buffer applies to it
    unavailable: str = ""  # why it cannot be used (empty: it can)


def _bootstrap_unavailable() -> str:
    if importlib.util.find_spec("sim.market.bootstrap") is None:
        return "the bootstrap price model (sim.market.bootstrap) is not available in this version"
    return ""


MODELS: dict[str, ForecastModel] = {
    "gbm": ForecastModel("gbm", fitted=True, adjustable=True),
    "merton": ForecastModel("merton", fitted=True, adjustable=True),
    "kou": ForecastModel("kou", fitted=False, adjustable=True,
                         unavailable="hedgesim calibrate does not fit Kou yet (no likelihood): use gbm or merton"),
    "bootstrap": ForecastModel("bootstrap", fitted=False, adjustable=False, unavailable=_bootstrap_unavailable()),
}


def check_models(models) -> tuple[str, ...]:
    """The model names, checked: each known and available (DataError naming --models)."""
    models = tuple(models)
    if not models:
        raise DataError("--models: give at least one of " + ", ".join(MODELS))
    for m in models:
        if m not in MODELS:
            raise DataError(f"--models {','.join(models)!r}: {m!r} is not one of {', '.join(MODELS)}")
        if MODELS[m].unavailable:
            raise DataError(f"--models {m}: not available: {MODELS[m].unavailable}")
    if len(set(models)) < len(models):
        raise DataError(f"--models {','.join(models)!r}: a model given twice")
    return models


def fitted_models(models) -> tuple[str, ...]:
    return tuple(m for m in models if MODELS[m].fitted)


def applies(model: str, choice: CalibrationChoice) -> bool:
    """Whether the method model x choice exists (a model that takes no factor has no
    stress-weighted, floored or buffered variant)."""
    return MODELS[model].adjustable or not choice.adjusted


def market_values(model: str, cal: Calibration, factor: float, drift: str) -> dict[str, object]:
    """{"section.key": value} of the forecast (funding and basis from ``cal``)."""
    if MODELS[model].fitted:
        return dataclasses.replace(cal, vol_factor=factor, notes=[]).config_values(model, drift)
    if model == "bootstrap":
        vals = dataclasses.replace(cal, vol_factor=1.0, notes=[]).config_values("gbm", drift)
        vals["market.model"] = "bootstrap"
        vals["market.demean"] = True
        return vals
    raise DataError(f"--models {model}: not available: {MODELS[model].unavailable}")


def history_slice(model: str, prices: PriceData, cal: Calibration) -> pd.DataFrame | None:
    """The bars a model resamples: those whose end is in [cal.start, cal.end] (the
    look-back, ended by the forecast time); None for a model that resamples nothing."""
    if model != "bootstrap":
        return None
    return prices.between(cal.start, cal.end)
