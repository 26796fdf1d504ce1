"""TOML scenario -> validated, unit-converted configuration.

One schema (``SCHEMA``) names every section and key with its type, default, allowed
range, unit and meaning. Validation, ``--set`` overrides and the README's config
reference are all driven from it, so they cannot drift apart.

Every failure raises :class:`ConfigError` with one line that names the field, the value
that was given and what is allowed.
"""

from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

YEAR_SECONDS = 365.0 * 86400.0  # SPEC §2: a year is 365 days


from sim.errors import ConfigError  # noqa: E402  (re-exported: sim.config.ConfigError)


# --------------------------------------------------------------------------- durations

_DURATION_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|sec|min|h|d|w)\s*$")
_DURATION_UNIT = {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_duration(text: Any, field: str = "duration") -> float:
    """Parse ``"15min"``, ``"1h"``, ``"8h"``, ``"3d"``, ``"2w"`` or ``"30s"`` into seconds."""
    if isinstance(text, bool) or not isinstance(text, str):
        raise ConfigError(
            f'{field} = {_show(text)}: expected a duration string such as "15min", "1h", "8h" or "30d"'
        )
    m = _DURATION_RE.match(text)
    if not m:
        hint = ' (use "min" for minutes; months are ambiguous, use days)' if re.search(r"\dm(o|onth)?s?\s*$", text) else ""
        raise ConfigError(
            f'{field} = {_show(text)}: not a duration; use a number and one of s, min, h, d, w, '
            f'e.g. "15min", "8h", "30d"{hint}'
        )
    seconds = float(m.group(1)) * _DURATION_UNIT[m.group(2)]
    if seconds <= 0:
        raise ConfigError(f"{field} = {_show(text)}: must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """Shortest exact human form of a duration in seconds (inverse of parse_duration)."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size and abs(seconds / size - round(seconds / size)) < 1e-9:
            return f"{int(round(seconds / size))}{unit}"
    return f"{seconds:g}s"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class Field:
    kind: str  # "float" | "int" | "bool" | "str" | "duration" | "tiers"
    default: Any
    unit: str
    doc: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # True: value must be > lo
    hi_open: bool = False  # True: value must be < hi
    choices: tuple[str, ...] | None = None

    def range_text(self) -> str:
        if self.choices:
            return "one of " + ", ".join(json.dumps(c) for c in self.choices)
        if self.lo is None and self.hi is None:
            return ""
        lo = "(" if self.lo_open else "["
        hi = ")" if self.hi_open else "]"
        return f"{lo}{_fmt_bound(self.lo)}, {_fmt_bound(self.hi)}{hi}"


def _fmt_bound(x: float | None) -> str:
    if x is None:
        return "inf"
    return f"{x:g}"


F = Field
SCHEMA: dict[str, dict[str, Field]] = {
    "market": {
        "model": F("str", "gbm", "", "price model of the spot index", choices=("gbm", "merton", "kou")),
        "spot": F("float", 60_000.0, "USD", "index price at t=0", 0.0, 1e9, lo_open=True),
        "mu": F("float", 0.0, "1/yr", "drift of dS/S (annualised; log drift is mu - sigma^2/2)", -5.0, 5.0),
        "sigma": F("float", 0.6, "1/sqrt(yr)", "diffusion volatility (annualised)", 0.0, 5.0),
        "jump_intensity": F("float", 0.0, "1/yr", "expected number of jumps per year (merton)", 0.0, 1000.0),
        "jump_mean": F("float", 0.0, "log", "mean of the log jump size (merton)", -2.0, 2.0),
        "jump_std": F("float", 0.0, "log", "std of the log jump size (merton)", 0.0, 2.0),
        "jump_up_prob": F("float", 0.5, "", "probability that a jump is upward (kou)", 0.0, 1.0),
        "jump_up_mean": F("float", 0.02, "log", "mean size of an upward log jump, 1/eta_up (kou; < 1)", 0.0, 1.0,
                          lo_open=True, hi_open=True),
        "jump_down_mean": F("float", 0.02, "log", "mean size of a downward log jump, 1/eta_down (kou)", 0.0, 2.0,
                            lo_open=True),
    },
    "funding": {
        "interval": F("duration", "8h", "duration", "time between funding payments", 60.0, 30 * 86400.0),
        "initial": F("float", 0.0001, "per interval", "funding rate at t=0", -0.1, 0.1),
        "mean": F("float", 0.0001, "per interval", "long-run mean of the funding OU process", -0.05, 0.05),
        "half_life": F("duration", "3d", "duration", "half-life of funding deviations (OU)", 60.0, 3650 * 86400.0),
        "stationary_std": F("float", 0.0, "per interval", "stationary std of the funding rate", 0.0, 0.05),
        "corr_price": F("float", 0.0, "", "correlation of funding shocks with price shocks", -1.0, 1.0),
        "cap": F("float", 0.00375, "per interval", "applied rate is clamped to [-cap, +cap]", 0.0, 0.1),
    },
    "basis": {
        "initial": F("float", 0.0, "fraction", "basis b at t=0 (mark = index * (1 + b))", -0.2, 0.2),
        "mean": F("float", 0.0, "fraction", "long-run mean of the basis OU process", -0.1, 0.1),
        "half_life": F("duration", "8h", "duration", "half-life of basis deviations (OU)", 60.0, 3650 * 86400.0),
        "stationary_std": F("float", 0.0, "fraction", "stationary std of the basis", 0.0, 0.05),
        "corr_price": F("float", 0.0, "", "correlation of basis shocks with price shocks", -1.0, 1.0),
        "corr_funding": F("float", 0.0, "", "correlation of basis shocks with funding shocks", -1.0, 1.0),
    },
    "position": {
        "stack": F("float", 1.0, "BTC", "BTC held (the exposure being hedged)", 0.0, 1e7),
        "collateral": F("float", 0.1, "BTC (inverse) / USD (linear)", "isolated margin posted for the hedge", 0.0, 1e12),
        "collateral_usd": F("float", None, "USD", "the collateral as a USD amount instead (converted to BTC at "
                            "the spot for inverse); lets one config sweep inverse vs linear", 0.0, 1e15),
        "hedge_ratio": F("float", 1.0, "", "short notional as a multiple of the stack's value", 0.0, 10.0),
        "hedge_collateral": F("bool", False, "", "also hedge the BTC collateral (inverse only)"),
        "contract": F("str", "inverse", "", "contract type", choices=("inverse", "linear")),
        "contract_size": F("float", None, "USD (inverse) / BTC (linear)",
                           "size of one contract; default 1 USD (inverse) or 0.001 BTC (linear)", 0.0, 1e6, lo_open=True),
    },
    "exchange": {
        "preset": F("str", "", "", 'exchange preset from configs/exchanges/ (e.g. "bybit-btcusd"), or a path '
                    "to a preset file; keys given in the config override the preset's"),
        "name": F("str", "generic", "", "label for reports"),
        "maintenance_margin": F("float", None, "fraction",
                                "flat maintenance margin rate (mmr); default 0.005 unless tiers are given",
                                0.0, 0.5, hi_open=True),
        "tiers": F("tiers", None, "", "risk-limit tiers: [{limit, rate, deduction}] by position value in the margin currency"),
        "taker_fee": F("float", 0.0005, "fraction", "taker fee rate on traded notional (open and close)", 0.0, 0.01),
    },
    "simulation": {
        "paths": F("int", 100_000, "paths", "number of simulated paths", 1, 1e9),
        "horizon": F("duration", "30d", "duration", "simulated horizon T", 60.0, 10 * 365 * 86400.0),
        "dt": F("duration", "1h", "duration", "monitoring step (liquidation checked at every step)", 1.0, 30 * 86400.0),
        "seed": F("int", 1, "", "random seed (same config + seed = bitwise-identical result)", 0, 2**63 - 1),
        "save_paths": F("int", 0, "paths", "number of sample trajectories to store (first K paths)", 0, 10_000),
        "save_every": F("duration", None, "duration", "time grid of stored trajectories; default horizon/240 rounded to steps", 1.0, 10 * 365 * 86400.0),
        "report_at": F("durations", None, "durations",
                       'times at which PnL, VaR and ES are also reported, e.g. ["1d", "7d", "30d"] '
                       "(the horizon is always included)", 1.0, 10 * 365 * 86400.0),
        "value_threshold": F("float", None, "USD",
                             "report P(hedged value at the horizon < this threshold)", 0.0, 1e15),
        "monitoring": F("str", "continuous", "", "liquidation between steps: Brownian-bridge maximum of the "
                        "mark within each step (continuous) or only at the steps (discrete)",
                        choices=("continuous", "discrete")),
        "antithetic": F("bool", False, "", "pair path 2k+1 with path 2k using the negated normal shocks"),
        "importance": F("tilt", "off", "", 'importance sampling of the price shocks: "off", "auto", or the '
                        "drift shift over the horizon in units of sigma sqrt(T)"),
        "target_se": F("target_se", None, "", 'add paths until the liquidation probability SE reaches this '
                       '(absolute, e.g. 0.0005, or relative, e.g. "5%")'),
        "max_paths": F("int", 10_000_000, "paths", "path budget of the adaptive mode (target_se)", 1, 1e9),
    },
    "output": {
        "path": F("str", "", "", 'result file (".zarr" or ".nc"); empty: results/<config name>.zarr on the CLI'),
    },
}
del F

MAX_STEPS = 2_000_000


# --------------------------------------------------------------------------- Config


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
            section, key = _split_dotted(dotted)
            raw.setdefault(section, {})[key] = value
            explicit.add(f"{section}.{key}")
        return _validate(raw, self.source, explicit, given=raw)

    def __repr__(self) -> str:
        return f"Config(source={self.source!r}, model={self.market.model!r}, paths={self.simulation.paths})"


# --------------------------------------------------------------------------- loading


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
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {source}: not valid TOML ({exc})") from None
    explicit = set()
    for section, body in raw.items():
        if isinstance(body, dict):
            explicit.update(f"{section}.{k}" for k in body)
    for dotted, value in (overrides or {}).items():
        section, key = _split_dotted(dotted)
        if section in raw and not isinstance(raw[section], dict):
            raise ConfigError(f"{section}: expected a table")
        raw.setdefault(section, {})[key] = parse_override_value(value) if isinstance(value, str) else value
        explicit.add(f"{section}.{key}")
    return _validate(raw, source, explicit, given=raw)


def from_dict(raw: Mapping[str, Any]) -> Config:
    """Validate a nested dict (e.g. the ``config`` attr of a saved result)."""
    return Config.from_user(raw)


def parse_override_value(text: str) -> Any:
    """``--set`` values are TOML values (``1.2``, ``true``, ``"8h"``, ``[...]``); a bare
    word that is not valid TOML is taken as a string (``--set market.model=merton``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def parse_set_option(item: str) -> tuple[str, Any]:
    """``"section.key=value"`` -> ``("section.key", value)``."""
    if "=" not in item:
        raise ConfigError(f"--set {item}: expected section.key=value, e.g. --set market.sigma=0.8")
    key, value = item.split("=", 1)
    key = key.strip()
    _split_dotted(key, option=f"--set {item}")
    return key, parse_override_value(value)


def parse_sweep_option(item: str) -> tuple[str, list]:
    """``"section.key=v1,v2,..."`` -> ``("section.key", [v1, v2, ...])`` (TOML values)."""
    if "=" not in item:
        raise ConfigError(f"--sweep {item}: expected section.key=v1,v2,..., e.g. --sweep position.collateral=0.1,0.5")
    key, value = item.split("=", 1)
    key = key.strip()
    _split_dotted(key, option=f"--sweep {item}")
    values = [parse_override_value(v) for v in value.split(",") if v.strip()]
    if not values:
        raise ConfigError(f"--sweep {item}: no values")
    return key, values


def _split_dotted(dotted: str, option: str | None = None) -> tuple[str, str]:
    parts = dotted.split(".")
    where = option or dotted
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"{where}: expected section.key, e.g. market.sigma")
    section, key = parts
    if section not in SCHEMA:
        raise ConfigError(f"{where}: unknown section [{section}]; sections are " + ", ".join(SCHEMA))
    if key not in SCHEMA[section]:
        raise ConfigError(_unknown_key_message(section, key))
    return section, key


def _unknown_key_message(section: str, key: str) -> str:
    import difflib

    known = list(SCHEMA[section])
    close = difflib.get_close_matches(key, known, n=1)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    return f"{section}.{key}: unknown key{hint}; keys of [{section}] are " + ", ".join(known)


# --------------------------------------------------------------------------- validation


def _check_field(section: str, key: str, field: Field, value: Any) -> Any:
    name = f"{section}.{key}"
    if value is None:
        return None
    kind = field.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name} = {_show(value)}: expected true or false")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{name} = {_show(value)}: expected a string" + (
                f", {field.range_text()}" if field.choices else ""))
        if field.choices and value not in field.choices:
            raise ConfigError(f"{name} = {_show(value)}: unknown value; allowed: {field.range_text()}")
        return value
    if kind == "duration":
        seconds = parse_duration(value, name)
        _check_range(name, value, seconds, field)
        return value.strip()
    if kind == "tiers":
        return _check_tiers(name, value)
    if kind == "tilt":
        if isinstance(value, str) and value in ("off", "auto"):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not (-20.0 <= value <= 20.0):
            raise ConfigError(f'{name} = {_show(value)}: expected "off", "auto" or a number in [-20, 20]')
        return float(value)
    if kind == "target_se":
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                x = float(value.strip()[:-1])
            except ValueError:
                x = -1.0
            if not (0.0 < x < 100.0):
                raise ConfigError(f'{name} = {_show(value)}: a relative target must be in (0%, 100%), e.g. "5%"')
            return value.strip()
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 < value < 0.5):
            raise ConfigError(f'{name} = {_show(value)}: expected an absolute SE in (0, 0.5) or a relative one '
                              'such as "5%"')
        return float(value)
    if kind == "durations":
        if not isinstance(value, list) or not value:
            raise ConfigError(f'{name} = {_show(value)}: expected a list of durations such as ["1d", "7d", "30d"]')
        out = []
        for i, item in enumerate(value):
            seconds = parse_duration(item, f"{name}[{i}]")
            _check_range(f"{name}[{i}]", item, seconds, field)
            out.append(item.strip())
        return out
    if kind == "int":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ConfigError(f"{name} = {_show(value)}: expected a whole number in {field.range_text()}")
        value = int(value)
        _check_range(name, value, value, field)
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} = {_show(value)}: expected a number in {field.range_text()}")
        given = value
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{name} = {_show(value)}: must be a finite number in {field.range_text()}")
        _check_range(name, given, value, field)
        return value
    raise AssertionError(kind)


def _check_range(name: str, shown: Any, x: float, field: Field) -> None:
    bad = (
        (field.lo is not None and (x < field.lo or (field.lo_open and x == field.lo)))
        or (field.hi is not None and (x > field.hi or (field.hi_open and x == field.hi)))
    )
    if bad:
        unit = f" {field.unit}" if field.unit and field.kind not in ("duration", "durations") else ""
        rng = field.range_text()
        if field.kind in ("duration", "durations"):
            rng = f"[{format_duration(field.lo)}, {format_duration(field.hi)}]"
        raise ConfigError(f"{name} = {_show(shown)}: out of range; allowed {rng}{unit}")


def _check_tiers(name: str, value: Any) -> list[dict[str, float]]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{name}: expected a non-empty array of tables "
                          "[{limit = ..., rate = ..., deduction = ...}, ...]")
    out = []
    prev_limit = 0.0
    prev_rate = -1.0
    for i, tier in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(tier, dict):
            raise ConfigError(f"{where}: expected a table {{limit, rate, deduction}}")
        unknown = set(tier) - {"limit", "rate", "deduction"}
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key; tier keys are limit, rate, deduction")
        if "rate" not in tier:
            raise ConfigError(f"{where}.rate: missing (maintenance margin rate of the tier)")
        limit = tier.get("limit", math.inf)
        rate = tier["rate"]
        ded = tier.get("deduction", 0.0)
        for k, v in (("limit", limit), ("rate", rate), ("deduction", ded)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
                raise ConfigError(f"{where}.{k} = {_show(v)}: expected a number")
        if not (0.0 <= rate < 0.5):
            raise ConfigError(f"{where}.rate = {_show(rate)}: out of range; allowed [0, 0.5)")
        if not (limit > prev_limit):
            raise ConfigError(f"{where}.limit = {_show(limit)}: tier limits must increase (previous {prev_limit:g})")
        if rate < prev_rate:
            raise ConfigError(f"{where}.rate = {_show(rate)}: tier rates must not decrease")
        if not (0.0 <= ded) or not math.isfinite(ded):
            raise ConfigError(f"{where}.deduction = {_show(ded)}: must be >= 0")
        if rate * prev_limit - ded < -1e-12 * max(1.0, ded):
            raise ConfigError(f"{where}.deduction = {_show(ded)}: makes the maintenance margin negative at the "
                              f"tier's lower edge ({rate:g} x {prev_limit:g} - {ded:g} < 0)")
        out.append({"limit": float(limit), "rate": float(rate), "deduction": float(ded)})
        prev_limit, prev_rate = limit, rate
    if math.isfinite(out[-1]["limit"]):
        # beyond the last published tier the last rate applies
        pass
    return out


PRESET_DIR = Path(__file__).resolve().parents[2] / "configs" / "exchanges"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(name: str) -> dict[str, dict[str, Any]]:
    """The tables of an exchange preset: a name in configs/exchanges/ or a path."""
    p = Path(name)
    if p.suffix != ".toml":
        p = PRESET_DIR / f"{name}.toml"
    if not p.is_file():
        raise ConfigError(f"exchange.preset = {_show(name)}: unknown preset; available: " + ", ".join(preset_names()))
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"exchange.preset = {_show(name)}: preset file {p} cannot be read ({exc})") from None
    for section, body in data.items():
        if section not in SCHEMA or not isinstance(body, dict):
            raise ConfigError(f"exchange.preset = {_show(name)}: preset file {p} has an unknown table [{section}]")
        for key in body:
            if key not in SCHEMA[section] or key == "preset":
                raise ConfigError(f"exchange.preset = {_show(name)}: preset file {p}: " + _unknown_key_message(section, key))
    return data


def _merge_preset(raw: dict[str, Any], explicit: set[str]) -> dict[str, Any]:
    """Fill the keys the user did not give from the preset; a user's flat rate replaces the
    preset's tiers and a user's tiers replace the preset's flat rate."""
    name = raw.get("exchange", {}).get("preset") if isinstance(raw.get("exchange"), dict) else None
    if not name:
        return raw
    if not isinstance(name, str):
        raise ConfigError(f"exchange.preset = {_show(name)}: expected a preset name such as \"bybit-btcusd\"")
    preset = load_preset(name)
    raw = copy.deepcopy(dict(raw))
    shadowed = sorted(f"{sec}.{key}" for sec, body in preset.items() for key in body if f"{sec}.{key}" in explicit)
    if shadowed:
        _NOTES.append(f"exchange.preset = {_show(name)}: the config's own " + ", ".join(shadowed)
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


SWEEPABLE_SECTIONS = ("position", "exchange")
SWEEPABLE_KEYS = ("funding.cap",)


def sweep_dim_name(dotted: str) -> str:
    """Dataset dimension of a swept key: its last part (exchange.preset -> exchange)."""
    return "exchange" if dotted == "exchange.preset" else dotted.split(".")[1]


def _check_sweep(value: Any) -> dict[str, list]:
    if not isinstance(value, dict):
        raise ConfigError('[sweep]: expected a table of "section.key" = [values]')
    out: dict[str, list] = {}
    dims = set()
    for dotted, values in value.items():
        section, key = _split_dotted(dotted, option=f"sweep.{dotted}")
        if section not in SWEEPABLE_SECTIONS and dotted not in SWEEPABLE_KEYS:
            raise ConfigError(f'sweep."{dotted}": changes the simulated market; only position.*, exchange.* and '
                              "funding.cap can be swept on common random numbers (run separate configs instead)")
        if key in ("tiers", "name"):
            raise ConfigError(f'sweep."{dotted}": cannot be swept; sweep exchange.preset instead')
        if not isinstance(values, list) or not values:
            raise ConfigError(f'sweep."{dotted}" = {_show(values)}: expected a non-empty list of values')
        if len({json.dumps(v) for v in values}) != len(values):
            raise ConfigError(f'sweep."{dotted}": values repeat')
        dim = sweep_dim_name(dotted)
        if dim in dims:
            raise ConfigError(f'sweep."{dotted}": two swept keys would share the dimension "{dim}"')
        dims.add(dim)
        out[dotted] = list(values)
    return out


STRESS_TYPES = {
    "jump": {"size": (-0.99, 10.0), "at": None},
    "vol": {"multiplier": (0.0, 20.0), "start": None, "end": None},
    "funding": {"value": (-0.1, 0.1), "start": None, "end": None},
    "basis": {"size": (-0.5, 0.5), "at": None},
    "replay": {"file": None},
}
STRESS_REQUIRED = {"jump": ("size", "at"), "vol": ("multiplier",), "funding": ("value",),
                   "basis": ("size", "at"), "replay": ("file",)}


def _check_stress(value: Any, source: str) -> list[dict]:
    if not isinstance(value, list):
        raise ConfigError("[[stress]]: expected an array of tables, each with a type")
    out = []
    for n, item in enumerate(value):
        where = f"stress[{n}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a table")
        kind = item.get("type")
        if kind not in STRESS_TYPES:
            raise ConfigError(f"{where}.type = {_show(kind)}: unknown; allowed: " + ", ".join(STRESS_TYPES))
        allowed = set(STRESS_TYPES[kind]) | {"type", "name"}
        for key in item:
            if key not in allowed:
                raise ConfigError(f"{where}.{key}: unknown key for type {_show(kind)}; keys are " + ", ".join(sorted(allowed)))
        for key in STRESS_REQUIRED[kind]:
            if key not in item:
                raise ConfigError(f"{where}.{key}: missing (needed by type {_show(kind)})")
        entry = {"type": kind, "name": str(item.get("name", f"{kind} #{n + 1}"))}
        for key, bounds in STRESS_TYPES[kind].items():
            if key not in item:
                continue
            v = item[key]
            if key in ("at", "start", "end"):
                parse_duration(v, f"{where}.{key}")
            elif key == "file":
                if not isinstance(v, str) or not v:
                    raise ConfigError(f"{where}.file = {_show(v)}: expected a CSV path")
                p = Path(v)
                if not p.is_absolute() and source not in ("<dict>", "<defaults>"):
                    p = Path(source).parent / p
                v = str(p)
            else:
                lo, hi = bounds
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not (lo < v <= hi):
                    raise ConfigError(f"{where}.{key} = {_show(v)}: out of range; allowed ({lo:g}, {hi:g}]")
                v = float(v)
            entry[key] = v
        out.append(entry)
    return out


def _check_stress_times(cfg: Config) -> None:
    horizon = cfg.steps * cfg.dt_seconds
    for n, st in enumerate(cfg.stress):
        for key in ("at", "start", "end"):
            if key in st:
                t = parse_duration(st[key])
                if t > horizon + 1e-9 or (key == "at" and t < cfg.dt_seconds - 1e-9):
                    raise ConfigError(f"stress[{n}].{key} = {_show(st[key])}: outside the simulated time "
                                      f"(one step to simulation.horizon = {_show(cfg.simulation.horizon)})")
        if "start" in st and "end" in st and parse_duration(st["end"]) <= parse_duration(st["start"]):
            raise ConfigError(f"stress[{n}].end = {_show(st['end'])}: must be after start = {_show(st['start'])}")


_NOTES: list[str] = []


def _validate(raw: Mapping[str, Any], source: str, explicit: set[str], given: Mapping[str, Any]) -> Config:
    _NOTES.clear()
    values: dict[str, Any] = {}
    raw = dict(raw)
    sweep = _check_sweep(raw.pop("sweep")) if "sweep" in raw else {}
    stress = _check_stress(raw.pop("stress"), source) if "stress" in raw else []
    for section, body in raw.items():
        if section not in SCHEMA:
            raise ConfigError(f"[{section}]: unknown section; sections are " + ", ".join(SCHEMA))
        if not isinstance(body, dict):
            raise ConfigError(f"{section}: expected a table [{section}], got {_show(body)}")
        for key in body:
            if key not in SCHEMA[section]:
                raise ConfigError(_unknown_key_message(section, key))
    raw = _merge_preset(dict(raw), explicit)
    for section, fields in SCHEMA.items():
        body = raw.get(section, {})
        values[section] = {}
        for key, field in fields.items():
            value = body.get(key, copy.deepcopy(field.default))
            values[section][key] = _check_field(section, key, field, value)
    if sweep:
        values["sweep"] = sweep
    if stress:
        values["stress"] = stress
    cfg = Config(values, source, frozenset(explicit), user=given)
    cfg.notes = list(_NOTES)
    _check_cross(cfg)
    _check_stress_times(cfg)
    return cfg


def _check_cross(cfg: Config) -> None:
    """Rules that involve more than one field."""
    sim = cfg.simulation
    dt = parse_duration(sim.dt)
    horizon = parse_duration(sim.horizon)
    if horizon < dt:
        raise ConfigError(f"simulation.horizon = {_show(sim.horizon)}: shorter than one step "
                          f"(simulation.dt = {_show(sim.dt)}); the horizon must be at least one step")
    steps = horizon / dt
    if abs(steps - round(steps)) > 1e-9 * steps:
        raise ConfigError(f"simulation.horizon = {_show(sim.horizon)}: not a whole number of steps of "
                          f"simulation.dt = {_show(sim.dt)} ({steps:.4g} steps)")
    if round(steps) > MAX_STEPS:
        raise ConfigError(f"simulation.horizon / simulation.dt = {round(steps)} steps: at most {MAX_STEPS} allowed")
    interval = parse_duration(cfg.funding.interval)
    k = interval / dt
    if k < 1 - 1e-9 or abs(k - round(k)) > 1e-9 * k:
        raise ConfigError(f"funding.interval = {_show(cfg.funding.interval)}: not a whole number of steps of "
                          f"simulation.dt = {_show(sim.dt)}")
    if sim.save_every is not None:
        s = parse_duration(sim.save_every) / dt
        if s < 1 - 1e-9 or abs(s - round(s)) > 1e-9 * s:
            raise ConfigError(f"simulation.save_every = {_show(sim.save_every)}: not a whole number of steps of "
                              f"simulation.dt = {_show(sim.dt)}")
    for i, item in enumerate(sim.report_at or []):
        t = parse_duration(item)
        k = t / dt
        if t > horizon * (1 + 1e-9) or abs(k - round(k)) > 1e-9 * k:
            raise ConfigError(f"simulation.report_at[{i}] = {_show(item)}: must be a whole number of steps of "
                              f"simulation.dt = {_show(sim.dt)}, within simulation.horizon = {_show(sim.horizon)}")
    if sim.save_paths > sim.paths:
        raise ConfigError(f"simulation.save_paths = {sim.save_paths}: more than simulation.paths = {sim.paths}")

    m = cfg.market
    if m.model == "gbm":
        for key in ("jump_intensity", "jump_std", "jump_mean"):
            if f"market.{key}" in cfg.explicit and m[key] != 0.0:
                raise ConfigError(f'market.{key} = {_show(m[key])}: jumps need market.model = "merton" or "kou" '
                                  f'(model is "gbm"); set the model or remove the key')
    if cfg.funding.stationary_std == 0.0 and "funding.corr_price" in cfg.explicit and cfg.funding.corr_price != 0:
        pass  # harmless: a constant funding rate has no shocks to correlate
    correlation_matrix(cfg)  # raises if not positive definite

    pos = cfg.position
    if pos.collateral_usd is not None and "position.collateral" in cfg.explicit:
        raise ConfigError("position.collateral and position.collateral_usd are both set; give one")
    if pos.hedge_collateral and pos.contract == "linear":
        raise ConfigError("position.hedge_collateral = true: only meaningful for inverse contracts "
                          "(linear collateral is USD and carries no BTC exposure)")
    if pos.hedge_ratio > 0:
        target = hedge_target(cfg)
        if math.floor(target / cfg.contract_size + 1e-9) < 1:
            unit = "USD" if pos.contract == "inverse" else "BTC"
            raise ConfigError(f"position.hedge_ratio = {pos.hedge_ratio:g}: the hedge ({target:.6g} {unit}) is "
                              f"smaller than one contract (position.contract_size = {cfg.contract_size:g} {unit})")
    _check_price_range(cfg)
    ex = cfg.exchange
    if ex.maintenance_margin is not None and 0.0 < ex.maintenance_margin < MIN_RATE:
        raise ConfigError(f"exchange.maintenance_margin = {_show(ex.maintenance_margin)}: use 0 or a rate of at "
                          f"least {MIN_RATE:g}")
    if ex.tiers is not None and ex.maintenance_margin is not None:
        raise ConfigError("exchange.maintenance_margin and exchange.tiers are both set; give one "
                          "(a flat rate, or a tier table)")
    if ex.tiers is None and ex.maintenance_margin is None:
        cfg._values["exchange"]["maintenance_margin"] = DEFAULT_MMR


MIN_RATE = 1e-6  # smallest non-zero maintenance margin rate
DEFAULT_MMR = 0.005  # flat maintenance margin when neither a rate nor tiers are given
MAX_LOG_RANGE = 200.0  # |E log(S_T/S_0)| + 8 sd(log(S_T/S_0)) must stay below this


def _check_price_range(cfg: Config) -> None:
    """Keep the index within floating-point range: exp(+-200) leaves room for products and
    squares of USD and BTC amounts (a 10-year horizon at sigma 5 is far beyond it)."""
    m = cfg.market
    t = cfg.steps * cfg.dt_seconds / YEAR_SECONDS
    lam = m.jump_intensity if m.model in ("merton", "kou") else 0.0
    if m.model == "kou":
        p, u, d = m.jump_up_prob, m.jump_up_mean, m.jump_down_mean
        k = p / (1.0 - u) + (1.0 - p) / (1.0 + d) - 1.0
        j1, j2 = p * u - (1.0 - p) * d, 2.0 * (p * u * u + (1.0 - p) * d * d)
    else:
        k = math.expm1(m.jump_mean + 0.5 * m.jump_std**2) if lam > 0 else 0.0
        j1, j2 = m.jump_mean, m.jump_mean**2 + m.jump_std**2
    mean = (m.mu - lam * k - 0.5 * m.sigma**2 + lam * j1) * t
    sd = math.sqrt((m.sigma**2 + lam * j2) * t)
    if abs(mean) + 8.0 * sd > MAX_LOG_RANGE:
        raise ConfigError(
            f"market: over simulation.horizon = {_show(cfg.simulation.horizon)} the log index would move by "
            f"{mean:+.3g} +- {sd:.3g} (mean +- sd), beyond the representable range "
            f"(|mean| + 8 sd must be <= {MAX_LOG_RANGE:g}); lower sigma, mu or the jump parameters, or shorten "
            "the horizon")


def correlation_matrix(cfg: Config) -> np.ndarray:
    """3x3 correlation of (price, funding, basis) shocks; raises if not positive definite."""
    f, b = cfg.funding, cfg.basis
    c = np.array(
        [[1.0, f.corr_price, b.corr_price],
         [f.corr_price, 1.0, b.corr_funding],
         [b.corr_price, b.corr_funding, 1.0]]
    )
    active = [0] + ([1] if f.stationary_std > 0 else []) + ([2] if b.stationary_std > 0 else [])
    sub = c[np.ix_(active, active)]
    eig = np.linalg.eigvalsh(sub)
    if eig.min() <= 1e-10:
        raise ConfigError(
            "correlation matrix of (price, funding, basis) shocks is not positive definite "
            f"(funding.corr_price = {f.corr_price:g}, basis.corr_price = {b.corr_price:g}, "
            f"basis.corr_funding = {b.corr_funding:g}; smallest eigenvalue {eig.min():.3g}); "
            "the three correlations must be consistent, e.g. |corr| < 1 and "
            "1 - a^2 - b^2 - c^2 + 2abc > 0"
        )
    return c


def hedge_target(cfg: Config) -> float:
    """Hedge size before rounding to contracts: USD for inverse, BTC for linear."""
    pos = cfg.position
    if pos.contract == "inverse":
        held = pos.stack + (cfg.collateral if pos.hedge_collateral else 0.0)
        return pos.hedge_ratio * held * cfg.market.spot
    return pos.hedge_ratio * pos.stack
