"""Exchange presets (configs/exchanges/*.toml): loading and merging under the user's keys."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from sim.config.durations import show_value
from sim.config.schema import SCHEMA, unknown_key_message
from sim.errors import ConfigError

PRESET_DIR = Path(__file__).resolve().parents[2] / "configs" / "exchanges"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(name: str) -> dict[str, dict[str, Any]]:
    """The tables of an exchange preset: a name in configs/exchanges/ or a path."""
    if not isinstance(name, str) or "\x00" in name:
        raise ConfigError(f"exchange.preset = {show_value(name)}: expected a preset name such as \"bybit-btcusd\" "
                          "or a path to a .toml file")
    p = Path(name)
    if p.suffix != ".toml":
        p = PRESET_DIR / f"{name}.toml"
    try:
        found = p.is_file()
    except OSError:  # e.g. a name too long for a file name
        found = False
    if not found:
        raise ConfigError(f"exchange.preset = {show_value(name)}: unknown preset; available: " + ", ".join(preset_names()))
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"exchange.preset = {show_value(name)}: preset file {p} cannot be read ({exc})") from None
    except RecursionError:
        raise ConfigError(f"exchange.preset = {show_value(name)}: preset file {p}: arrays or tables nested "
                          "too deeply") from None
    for section, body in data.items():
        if section not in SCHEMA or not isinstance(body, dict):
            raise ConfigError(f"exchange.preset = {show_value(name)}: preset file {p} has an unknown table [{section}]")
        for key in body:
            if key not in SCHEMA[section] or key == "preset":
                raise ConfigError(f"exchange.preset = {show_value(name)}: preset file {p}: " + unknown_key_message(section, key))
    return data


def merge_preset(raw: dict[str, Any], explicit: set[str], notes: list[str]) -> dict[str, Any]:
    """Fill the keys the user did not give from the preset; a user's flat rate replaces the
    preset's tiers and a user's tiers replace the preset's flat rate. Remarks for the user
    are appended to ``notes``."""
    name = raw.get("exchange", {}).get("preset") if isinstance(raw.get("exchange"), dict) else None
    if not name:
        return raw
    if not isinstance(name, str):
        raise ConfigError(f"exchange.preset = {show_value(name)}: expected a preset name such as \"bybit-btcusd\"")
    preset = load_preset(name)
    raw = copy.deepcopy(dict(raw))
    shadowed = sorted(f"{sec}.{key}" for sec, body in preset.items() for key in body if f"{sec}.{key}" in explicit)
    if shadowed:
        notes.append(f"exchange.preset = {show_value(name)}: the config's own " + ", ".join(shadowed)
                      + " override the preset's values")
    user_rate = "exchange.maintenance_margin" in explicit
    user_tiers = "exchange.tiers" in explicit
    for section, body in preset.items():
        for key, value in body.items():
            if f"{section}.{key}" in explicit:
                continue
            if section == "exchange" and ((key == "tiers" and user_rate) or (key == "maintenance_margin" and user_tiers)):
                continue
            raw.setdefault(section, {})[key] = value
    return raw
