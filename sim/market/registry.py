"""Price models by name: the one place that lists them.

A price model is a module with ``NAME``, ``CODE`` (the kernel's branch for its jumps),
``JUMPS``, ``compensator(market)`` (lam k, the drift correction of its jumps),
``log_moments(market, horizon_years)`` (mean and variance of log S_T) and, when it has
jumps, an ``@njit draw_jump(gen, mk)`` (the sfc64 generator) and ``jump_of(u, z, e, mk)``
(one log jump from a given uniform, normal and exponential: the counter-based generator).
Adding a model: its module, one line here, one
branch in ``sim.kernel.market_pass.jump_size`` and ``jump_of`` if it has jumps, and its keys in
``sim.config.schema`` (docs/architecture.md).
"""

from __future__ import annotations

from types import ModuleType

from sim.market import bootstrap, gbm, kou, merton

MODELS: dict[str, ModuleType] = {m.NAME: m for m in (gbm, merton, kou, bootstrap)}
MODEL_NAMES: tuple[str, ...] = tuple(MODELS)
MODEL_CODES: dict[str, int] = {name: m.CODE for name, m in MODELS.items()}


def model(name: str) -> ModuleType:
    """The module of a price model (names are validated by the config schema)."""
    return MODELS[name]


def log_return_moments(m, horizon_years: float) -> tuple[float, float]:
    """(mean, variance) of log(S_T/S_0) for the [market] section ``m`` under its model."""
    return MODELS[m.model].log_moments(m, horizon_years)
