"""Rules of the bootstrap model's keys (``market.model = "bootstrap"``) that the config can
check without reading the history: the file's path (resolved against the config's folder
and required to exist), the slice times, the block against the step, and the features
that do not apply to resampled bars. The bar length, the sample's size and its price range
are checked when the history is read (``sim.market.history``)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sim.config.durations import parse_duration, show_value
from sim.errors import ConfigError

if TYPE_CHECKING:
    from sim.config.core import Config

BOOTSTRAP = "bootstrap"
UNUSED = ("sigma", "jump_intensity", "jump_mean", "jump_std")  # parameters the sample replaces


def resolve_history_path(value: str, source: str) -> str:
    """``market.history`` relative to the config file's folder (as stress replay files)."""
    p = Path(value).expanduser()
    if not p.is_absolute() and source not in ("<dict>", "<defaults>", ""):
        p = Path(source).parent / p
    return str(p)


def parse_time(value: str, name: str) -> datetime | None:
    """An ISO date or time (UTC unless it says otherwise) as a naive UTC datetime, or None
    for empty."""
    if not value:
        return None
    text = value.strip()
    try:
        t = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ConfigError(f"{name} = {show_value(value)}: not a date or time (use e.g. \"2021-01-01\" or "
                          "\"2021-01-01T08:00\", UTC)") from None
    return t.astimezone(timezone.utc).replace(tzinfo=None) if t.tzinfo else t


def check_bootstrap(cfg: Config) -> None:
    """The [market] keys of the bootstrap model, after the field checks."""
    m = cfg.market
    values = cfg._values["market"]
    if m.history:
        values["history"] = resolve_history_path(m.history, cfg.source)
    start = parse_time(m.history_start, "market.history_start")
    end = parse_time(m.history_end, "market.history_end")
    if m.model != BOOTSTRAP:
        return
    if start is not None and end is not None:
        if end <= start:
            raise ConfigError(f"market.history_end = {show_value(m.history_end)}: must be after "
                              f"market.history_start = {show_value(m.history_start)}")
    if m.history:
        p = Path(values["history"])
        if not p.exists():
            raise ConfigError(f"market.history = {show_value(m.history)}: file not found ({p})")
        if p.is_dir():
            raise ConfigError(f"market.history = {show_value(m.history)}: is a folder, expected a price file")
    sim = cfg.simulation
    dt = parse_duration(sim.dt)
    k = parse_duration(m.block) / dt
    if k < 1 - 1e-9 or abs(k - round(k)) > 1e-9 * k:
        raise ConfigError(f"market.block = {show_value(m.block)}: not a whole number of steps of simulation.dt = "
                          f"{show_value(sim.dt)} (each step is one recorded bar); allowed: {show_value(sim.dt)}, "
                          f"2 x {show_value(sim.dt)}, ...")
    if sim.importance != "off":
        raise ConfigError(f"simulation.importance = {show_value(sim.importance)}: not available with "
                          'market.model = "bootstrap" (importance sampling tilts normal price shocks, and the '
                          'bootstrap draws none); allowed: "off"')
    if sim.antithetic:
        raise ConfigError('simulation.antithetic = true: not available with market.model = "bootstrap" (a path '
                          "of resampled bars has no negated partner in the sample); allowed: false")
    if not m.demean and m.mu != 0.0:
        raise ConfigError(f"market.mu = {show_value(m.mu)}: market.demean = false keeps the sample's own drift; "
                          "set market.demean = true to use market.mu as the drift instead (allowed with demean = "
                          "false: 0)")
    given = [f"market.{key}" for key in UNUSED if f"market.{key}" in cfg.explicit]
    if given:
        cfg.notes.append(", ".join(given) + ' not used by market.model = "bootstrap" (the recorded bars carry the '
                         "volatility and the jumps)")
