"""TOML scenario -> validated, unit-converted configuration (``Config``).

One schema (``sim.config.schema.SCHEMA``) names every section and key with its type,
default, allowed range, unit and meaning. Validation, ``--set`` overrides and the
configuration reference are all driven from it, so they cannot drift apart.

Every failure raises :class:`ConfigError` with one line that names the field, the value
that was given and what is allowed.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any, Mapping

from sim.config.bootstrap import check_bootstrap
from sim.config.checks import check_cross, check_field, check_stress, check_stress_times, check_sweep
from sim.config.durations import YEAR_SECONDS, parse_duration, show_value
from sim.config.presets import merge_preset
from sim.config.schema import SCHEMA, split_dotted, unknown_key_message
from sim.errors import ConfigError


class Section(Mapping):
    """Read-only view of one config section with attribute access (``cfg.market.sigma``)."""

    def __init__(self, name: str, values: dict[str, Any]):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_values", values)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):  # copy/pickle probe dunders before __init__ has run
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"{self._name}.{key}") from None

    def __reduce__(self):
        return (Section, (self._name, self._values))

    def __setattr__(self, key, value):
        raise AttributeError("Config sections are read-only; use load_config(..., overrides=...)")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Section({self._name}, {self._values!r})"


class Config:
    """A validated scenario. Values are as written in TOML (durations as strings);
    derived quantities in SI-like units (years, steps) are properties."""

    def __init__(self, values: dict[str, Any], source: str = "<dict>", explicit: frozenset = frozenset(),
                 user: Mapping[str, Any] | None = None):
        self._values = values
        # what the user wrote (before presets and defaults): replace() starts from it, so
        # switching a preset or contract re-derives everything that depends on it
        self._user = copy.deepcopy(dict(user)) if user is not None else copy.deepcopy(values)
        self.notes: list[str] = []  # non-fatal remarks for the user (printed by the CLI)
        self.sweep: dict[str, list] = values.get("sweep", {})  # "section.key" -> values
        self.stress: list[dict] = values.get("stress", [])  # [[stress]] scenarios
        self.source = source
        self.explicit = explicit  # "section.key" names given by the user (not defaults)
        for name in SCHEMA:
            setattr(self, name, Section(name, values[name]))

    # -- derived, unit-converted ---------------------------------------------------
    @property
    def dt_seconds(self) -> float:
        return parse_duration(self.simulation.dt)

    @property
    def dt_years(self) -> float:
        return self.dt_seconds / YEAR_SECONDS

    @property
    def report_steps(self) -> list[int]:
        """Steps of the report times (sorted, unique), always ending with the horizon."""
        out = {self.steps}
        for item in self.simulation.report_at or []:
            out.add(int(round(parse_duration(item) / self.dt_seconds)))
        return sorted(out)

    @property
    def steps(self) -> int:
        return int(round(parse_duration(self.simulation.horizon) / self.dt_seconds))

    @property
    def horizon_years(self) -> float:
        return self.steps * self.dt_years

    @property
    def funding_every(self) -> int:
        """Steps between funding payments."""
        return int(round(parse_duration(self.funding.interval) / self.dt_seconds))

    @property
    def save_every(self) -> int:
        """Steps between stored trajectory points."""
        if self.simulation.save_every is None:
            return max(1, self.steps // 240)
        return max(1, int(round(parse_duration(self.simulation.save_every) / self.dt_seconds)))

    @property
    def collateral(self) -> float:
        """Collateral in the margin currency: BTC for inverse, USD for linear."""
        pos = self.position
        if pos.collateral_usd is None:
            return pos.collateral
        return pos.collateral_usd / self.market.spot if pos.contract == "inverse" else pos.collateral_usd

    @property
    def contract_size(self) -> float:
        cs = self.position.contract_size
        if cs is None:
            return 1.0 if self.position.contract == "inverse" else 0.001
        return cs

    @property
    def name(self) -> str:
        return Path(self.source).stem if self.source not in ("<dict>", "") else "run"

    # -- serialisation -------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self._values)

    def to_json(self) -> str:
        return json.dumps(self._values, sort_keys=False)

    @classmethod
    def from_user(cls, raw: Mapping[str, Any], source: str = "<dict>",
                  explicit: "set[str] | frozenset | None" = None) -> "Config":
        """Validate what a user wrote (nested tables, before presets and defaults).
        ``explicit`` names the keys given by the user; default: every key of ``raw``."""
        check_depth(dict(raw), source)
        raw = copy.deepcopy(dict(raw))
        if explicit is None:
            explicit = {f"{s}.{k}" for s, b in raw.items() if isinstance(b, dict) for k in b}
        return _validate(raw, source, set(explicit), given=raw)

    def user_values(self) -> dict[str, Any]:
        """A copy of what the user wrote (before presets and defaults); with ``source`` and
        ``explicit`` it rebuilds this config: ``Config.from_user(c.user_values(), c.source, c.explicit)``."""
        return copy.deepcopy(self._user)

    def without(self, *tables: str) -> "Config":
        """This config without the given top-level tables (e.g. "stress", "sweep")."""
        raw = copy.deepcopy(self._user)
        for t in tables:
            raw.pop(t, None)
        return _validate(raw, self.source, set(self.explicit), given=raw)

    def effective(self, paths: int | None = None, seed: int | None = None) -> "Config":
        """The config as a result stores it: with the path count and seed actually used
        (``save_paths`` capped at the paths), so the stored config reproduces the result."""
        eff: dict[str, Any] = {}
        if paths is not None and int(paths) != self.simulation.paths:
            eff["simulation.paths"] = int(paths)
            if self.simulation.save_paths > int(paths):
                eff["simulation.save_paths"] = int(paths)
        if seed is not None and int(seed) != self.simulation.seed:
            eff["simulation.seed"] = int(seed)
        return self.replace(eff) if eff else self

    def with_sweep(self, sweep: Mapping[str, list]) -> "Config":
        """A new Config whose [sweep] also holds ``{"section.key": [values]}`` (replacing
        the same keys)."""
        raw = copy.deepcopy(self._user)
        raw["sweep"] = {**raw.get("sweep", {}), **dict(sweep)}
        return _validate(raw, self.source, set(self.explicit), given=raw)

    def without_sweep(self) -> "Config":
        return self.without("sweep")

    def replace(self, overrides: Mapping[str, Any]) -> "Config":
        """A new Config with ``{"section.key": value}`` overrides applied to what the user
        wrote, then re-validated (presets and defaults are re-applied)."""
        raw = copy.deepcopy(self._user)
        explicit = set(self.explicit)
        for dotted, value in overrides.items():
            section, key = split_dotted(dotted)
            raw.setdefault(section, {})[key] = value
            explicit.add(f"{section}.{key}")
        return _validate(raw, self.source, explicit, given=raw)

    def __repr__(self) -> str:
        return f"Config(source={self.source!r}, model={self.market.model!r}, paths={self.simulation.paths})"


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read a TOML scenario, apply ``{"section.key": value}`` overrides, validate.

    ``path=None`` starts from the defaults alone. Raises :class:`ConfigError`.
    """
    raw: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"config file {source}: not found") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {source}: is a directory, expected a .toml file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {source}: cannot be read ({exc})") from None
        raw = parse_toml(text, f"config file {source}")
    explicit = set()
    for section, body in raw.items():
        if isinstance(body, dict):
            explicit.update(f"{section}.{k}" for k in body)
    for dotted, value in (overrides or {}).items():
        section, key = split_dotted(dotted)
        if section in raw and not isinstance(raw[section], dict):
            raise ConfigError(f"{section}: expected a table")
        raw.setdefault(section, {})[key] = parse_override_value(value) if isinstance(value, str) else value
        explicit.add(f"{section}.{key}")
    return _validate(raw, source, explicit, given=raw)


def from_dict(raw: Mapping[str, Any]) -> Config:
    """Validate a nested dict (e.g. the ``config`` attr of a saved result)."""
    return Config.from_user(raw)


MAX_DEPTH = 16  # arrays and tables within each other; a scenario needs 3 ([[stress]], tiers)


def parse_toml(text: str, where: str) -> dict[str, Any]:
    """TOML text -> tables; ConfigError naming ``where`` if it is not TOML or is nested
    more than ``MAX_DEPTH`` levels (deeper nesting would exhaust Python's recursion)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML ({exc})") from None
    except ValueError:  # Python reads integers of at most 4300 digits
        raise ConfigError(f"{where}: an integer of more than 4300 digits") from None
    except RecursionError:
        raise ConfigError(f"{where}: arrays or tables nested too deeply (at most {MAX_DEPTH} levels)") from None
    check_depth(raw, where)
    return raw


def check_depth(value: Any, where: str) -> None:
    """ConfigError if ``value`` (tables and arrays) is nested more than ``MAX_DEPTH`` levels."""
    stack = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            items = v.values()
        elif isinstance(v, (list, tuple)):
            items = v
        else:
            continue
        if d >= MAX_DEPTH:
            raise ConfigError(f"{where}: arrays or tables nested too deeply (at most {MAX_DEPTH} levels)")
        stack.extend((x, d + 1) for x in items)


def parse_override_value(text: str) -> Any:
    """``--set`` values are TOML values (``1.2``, ``true``, ``"8h"``, ``[...]``); a bare
    word that is not valid TOML is taken as a string (``--set market.model=merton``)."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()
    except ValueError:  # Python reads integers of at most 4300 digits
        raise ConfigError(f"value {show_value(text)}: an integer of more than 4300 digits") from None
    except RecursionError:
        raise ConfigError(f"value {show_value(text)}: arrays or tables nested too deeply "
                          f"(at most {MAX_DEPTH} levels)") from None
    check_depth([value], f"value {show_value(text)}")
    return value


def _split_option(item: str, option: str, example: str) -> tuple[str, str]:
    """``"section.key=text"`` of ``--set``/``--sweep`` -> (checked "section.key", text)."""
    if "=" not in item:
        raise ConfigError(f"{option} {item}: expected {example}")
    key, value = item.split("=", 1)
    key = key.strip()
    split_dotted(key, option=f"{option} {item}")
    return key, value


def parse_set_option(item: str) -> tuple[str, Any]:
    """``"section.key=value"`` -> ``("section.key", value)``."""
    key, value = _split_option(item, "--set", "section.key=value, e.g. --set market.sigma=0.8")
    try:
        return key, parse_override_value(value)
    except ConfigError as exc:
        raise ConfigError(f"--set {key}: {exc}") from None


def parse_sweep_option(item: str) -> tuple[str, list]:
    """``"section.key=v1,v2,..."`` -> ``("section.key", [v1, v2, ...])`` (TOML values)."""
    key, value = _split_option(item, "--sweep",
                               "section.key=v1,v2,..., e.g. --sweep position.collateral=0.1,0.5")
    try:
        values = [parse_override_value(v) for v in value.split(",") if v.strip()]
    except ConfigError as exc:
        raise ConfigError(f"--sweep {key}: {exc}") from None
    if not values:
        raise ConfigError(f"--sweep {item}: no values")
    return key, values


def _validate(raw: Mapping[str, Any], source: str, explicit: set[str], given: Mapping[str, Any]) -> Config:
    notes: list[str] = []
    values: dict[str, Any] = {}
    raw = dict(raw)
    check_depth(raw, source)
    sweep = check_sweep(raw.pop("sweep")) if "sweep" in raw else {}
    stress = check_stress(raw.pop("stress"), source) if "stress" in raw else []
    for section, body in raw.items():
        if section not in SCHEMA:
            raise ConfigError(f"[{section}]: unknown section; sections are " + ", ".join(SCHEMA))
        if not isinstance(body, dict):
            raise ConfigError(f"{section}: expected a table [{section}], got {show_value(body)}")
        for key in body:
            if key not in SCHEMA[section]:
                raise ConfigError(unknown_key_message(section, key))
    raw = merge_preset(dict(raw), explicit, notes)
    for section, fields in SCHEMA.items():
        body = raw.get(section, {})
        values[section] = {}
        for key, field in fields.items():
            value = body.get(key, copy.deepcopy(field.default))
            values[section][key] = check_field(section, key, field, value)
    if sweep:
        values["sweep"] = sweep
    if stress:
        values["stress"] = stress
    cfg = Config(values, source, frozenset(explicit), user=given)
    cfg.notes = notes
    check_cross(cfg)
    check_bootstrap(cfg)
    check_stress_times(cfg)
    return cfg
