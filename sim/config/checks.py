"""Validation rules: one value against its field, tier tables, sweeps, stress scenarios,
and the rules that involve several fields. Each failure is one ``ConfigError`` line that
names the field, the value given and what is allowed."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.config.durations import YEAR_SECONDS, format_duration, parse_delay, parse_duration, show_value
from sim.config.schema import MAX_STEPS, Field, split_dotted
from sim.errors import ConfigError
from sim.market.registry import log_return_moments

if TYPE_CHECKING:
    from sim.config.core import Config

def check_field(section: str, key: str, field: Field, value: Any) -> Any:
    name = f"{section}.{key}"
    if value is None:
        return None
    kind = field.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name} = {show_value(value)}: expected true or false")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{name} = {show_value(value)}: expected a string" + (
                f", {field.range_text()}" if field.choices else ""))
        if field.choices and value not in field.choices:
            raise ConfigError(f"{name} = {show_value(value)}: unknown value; allowed: {field.range_text()}")
        return value
    if kind == "time":  # a date or time (UTC): TOML dates and datetimes, or ISO text
        if isinstance(value, (datetime.date, datetime.time)):
            return value.isoformat()
        if not isinstance(value, str):
            raise ConfigError(f'{name} = {show_value(value)}: expected a date or time such as "2021-01-01" or '
                              '"2021-01-01T08:00" (UTC)')
        return value.strip()
    if kind == "duration":
        seconds = parse_duration(value, name)
        check_range(name, value, seconds, field)
        return value.strip()
    if kind == "delay":  # a duration that may be zero
        seconds = parse_delay(value, name)
        check_range(name, value, seconds, field)
        return value.strip() if isinstance(value, str) else "0s"
    if kind == "tiers":
        return check_tiers(name, value)
    if kind == "tilt":
        if isinstance(value, str) and value in ("off", "auto"):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not (-20.0 <= value <= 20.0):
            raise ConfigError(f'{name} = {show_value(value)}: expected "off", "auto" or a number in [-20, 20]')
        return float(value)
    if kind == "target_se":
        if isinstance(value, str) and value.strip().endswith("%"):
            try:
                x = float(value.strip()[:-1])
            except ValueError:
                x = -1.0
            if not (0.0 < x < 100.0):
                raise ConfigError(f'{name} = {show_value(value)}: a relative target must be in (0%, 100%), e.g. "5%"')
            return value.strip()
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0.0 < value < 0.5):
            raise ConfigError(f'{name} = {show_value(value)}: expected an absolute SE in (0, 0.5) or a relative one '
                              'such as "5%"')
        return float(value)
    if kind == "durations":
        if not isinstance(value, list) or not value:
            raise ConfigError(f'{name} = {show_value(value)}: expected a list of durations such as ["1d", "7d", "30d"]')
        out = []
        for i, item in enumerate(value):
            seconds = parse_duration(item, f"{name}[{i}]")
            check_range(f"{name}[{i}]", item, seconds, field)
            out.append(item.strip())
        return out
    if kind == "int":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise ConfigError(f"{name} = {show_value(value)}: expected a whole number in {field.range_text()}")
        value = int(value)
        check_range(name, value, value, field)
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} = {show_value(value)}: expected a number in {field.range_text()}")
        given = value
        try:
            value = float(value)
        except OverflowError:  # an integer beyond float range (TOML integers have no limit)
            value = math.inf if given > 0 else -math.inf
        if not math.isfinite(value):
            raise ConfigError(f"{name} = {show_value(value)}: must be a finite number in {field.range_text()}")
        check_range(name, given, value, field)
        return value
    raise AssertionError(kind)


def check_range(name: str, shown: Any, x: float, field: Field) -> None:
    bad = (
        (field.lo is not None and (x < field.lo or (field.lo_open and x == field.lo)))
        or (field.hi is not None and (x > field.hi or (field.hi_open and x == field.hi)))
    )
    if bad:
        unit = f" {field.unit}" if field.unit and field.kind not in ("duration", "durations") else ""
        rng = field.range_text()
        if field.kind in ("duration", "durations"):
            rng = f"[{format_duration(field.lo)}, {format_duration(field.hi)}]"
        raise ConfigError(f"{name} = {show_value(shown)}: out of range; allowed {rng}{unit}")


def check_tiers(name: str, value: Any) -> list[dict[str, float]]:
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
                raise ConfigError(f"{where}.{k} = {show_value(v)}: expected a number")
        if not (0.0 <= rate < 0.5):
            raise ConfigError(f"{where}.rate = {show_value(rate)}: out of range; allowed [0, 0.5)")
        if not (limit > prev_limit):
            raise ConfigError(f"{where}.limit = {show_value(limit)}: tier limits must increase (previous {prev_limit:g})")
        if rate < prev_rate:
            raise ConfigError(f"{where}.rate = {show_value(rate)}: tier rates must not decrease")
        if not (0.0 <= ded) or not math.isfinite(ded):
            raise ConfigError(f"{where}.deduction = {show_value(ded)}: must be >= 0")
        if rate * prev_limit - ded < -1e-12 * max(1.0, ded):
            raise ConfigError(f"{where}.deduction = {show_value(ded)}: makes the maintenance margin negative at the "
                              f"tier's lower edge ({rate:g} x {prev_limit:g} - {ded:g} < 0)")
        out.append({"limit": float(limit), "rate": float(rate), "deduction": float(ded)})
        prev_limit, prev_rate = limit, rate
    if math.isfinite(out[-1]["limit"]):
        # beyond the last published tier the last rate applies
        pass
    return out




SWEEPABLE_SECTIONS = ("position", "exchange", "policy")
SWEEPABLE_KEYS = ("funding.cap",)
MAX_VARIANTS = 10_000  # combinations of a sweep (validating one takes a few ms)


def sweep_dim_name(dotted: str) -> str:
    """Dataset dimension of a swept key: its last part (exchange.preset -> exchange)."""
    return "exchange" if dotted == "exchange.preset" else dotted.split(".")[1]


def check_sweep(value: Any) -> dict[str, list]:
    if not isinstance(value, dict):
        raise ConfigError('[sweep]: expected a table of "section.key" = [values]')
    out: dict[str, list] = {}
    dims = set()
    for dotted, values in value.items():
        section, key = split_dotted(dotted, option=f"sweep.{dotted}")
        if section not in SWEEPABLE_SECTIONS and dotted not in SWEEPABLE_KEYS:
            raise ConfigError(f'sweep."{dotted}": changes the simulated market; only position.*, exchange.* and '
                              "funding.cap can be swept on common random numbers (run separate configs instead)")
        if key in ("tiers", "name"):
            raise ConfigError(f'sweep."{dotted}": cannot be swept; sweep exchange.preset instead')
        if not isinstance(values, list) or not values:
            raise ConfigError(f'sweep."{dotted}" = {show_value(values)}: expected a non-empty list of values')
        for v in values:
            if not isinstance(v, (bool, int, float, str)):
                raise ConfigError(f'sweep."{dotted}": value {show_value(v)} is not a number, string or boolean')
        if len({(type(v).__name__, v) for v in values}) != len(values):
            raise ConfigError(f'sweep."{dotted}": values repeat')
        dim = sweep_dim_name(dotted)
        if dim in dims:
            raise ConfigError(f'sweep."{dotted}": two swept keys would share the dimension "{dim}"')
        dims.add(dim)
        out[dotted] = list(values)
    n = math.prod(len(v) for v in out.values())
    if n > MAX_VARIANTS:
        sizes = " x ".join(str(len(v)) for v in out.values())
        raise ConfigError(f"[sweep]: {n:,} variants ({sizes}); at most {MAX_VARIANTS:,} (each is validated and "
                          "simulated on every path): sweep fewer values, or split the sweep into several runs")
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


def check_stress(value: Any, source: str) -> list[dict]:
    if not isinstance(value, list):
        raise ConfigError("[[stress]]: expected an array of tables, each with a type")
    out = []
    for n, item in enumerate(value):
        where = f"stress[{n}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a table")
        kind = item.get("type")
        if kind not in STRESS_TYPES:
            raise ConfigError(f"{where}.type = {show_value(kind)}: unknown; allowed: " + ", ".join(STRESS_TYPES))
        allowed = set(STRESS_TYPES[kind]) | {"type", "name"}
        for key in item:
            if key not in allowed:
                raise ConfigError(f"{where}.{key}: unknown key for type {show_value(kind)}; keys are " + ", ".join(sorted(allowed)))
        for key in STRESS_REQUIRED[kind]:
            if key not in item:
                raise ConfigError(f"{where}.{key}: missing (needed by type {show_value(kind)})")
        entry = {"type": kind, "name": str(item.get("name", f"{kind} #{n + 1}"))}
        for key, bounds in STRESS_TYPES[kind].items():
            if key not in item:
                continue
            v = item[key]
            if key in ("at", "start", "end"):
                parse_duration(v, f"{where}.{key}")
            elif key == "file":
                if not isinstance(v, str) or not v:
                    raise ConfigError(f"{where}.file = {show_value(v)}: expected a CSV path")
                p = Path(v)
                if not p.is_absolute() and source not in ("<dict>", "<defaults>"):
                    p = Path(source).parent / p
                v = str(p)
            else:
                lo, hi = bounds
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not (lo < v <= hi):
                    raise ConfigError(f"{where}.{key} = {show_value(v)}: out of range; allowed ({lo:g}, {hi:g}]")
                v = float(v)
            entry[key] = v
        out.append(entry)
    return out


def check_stress_times(cfg: Config) -> None:
    horizon = cfg.steps * cfg.dt_seconds
    for n, st in enumerate(cfg.stress):
        for key in ("at", "start", "end"):
            if key in st:
                t = parse_duration(st[key])
                if t > horizon + 1e-9 or (key == "at" and t < cfg.dt_seconds - 1e-9):
                    raise ConfigError(f"stress[{n}].{key} = {show_value(st[key])}: outside the simulated time "
                                      f"(one step to simulation.horizon = {show_value(cfg.simulation.horizon)})")
        if "start" in st and "end" in st and parse_duration(st["end"]) <= parse_duration(st["start"]):
            raise ConfigError(f"stress[{n}].end = {show_value(st['end'])}: must be after start = {show_value(st['start'])}")




def check_cross(cfg: Config) -> None:
    """Rules that involve more than one field."""
    sim = cfg.simulation
    dt = parse_duration(sim.dt)
    horizon = parse_duration(sim.horizon)
    if horizon < dt:
        raise ConfigError(f"simulation.horizon = {show_value(sim.horizon)}: shorter than one step "
                          f"(simulation.dt = {show_value(sim.dt)}); the horizon must be at least one step")
    steps = horizon / dt
    if abs(steps - round(steps)) > 1e-9 * steps:
        raise ConfigError(f"simulation.horizon = {show_value(sim.horizon)}: not a whole number of steps of "
                          f"simulation.dt = {show_value(sim.dt)} ({steps:.4g} steps)")
    if round(steps) > MAX_STEPS:
        raise ConfigError(f"simulation.horizon / simulation.dt = {round(steps)} steps: at most {MAX_STEPS} allowed")
    interval = parse_duration(cfg.funding.interval)
    k = interval / dt
    if k < 1 - 1e-9 or abs(k - round(k)) > 1e-9 * k:
        raise ConfigError(f"funding.interval = {show_value(cfg.funding.interval)}: not a whole number of steps of "
                          f"simulation.dt = {show_value(sim.dt)}")
    if sim.save_every is not None:
        s = parse_duration(sim.save_every) / dt
        if s < 1 - 1e-9 or abs(s - round(s)) > 1e-9 * s:
            raise ConfigError(f"simulation.save_every = {show_value(sim.save_every)}: not a whole number of steps of "
                              f"simulation.dt = {show_value(sim.dt)}")
    for i, item in enumerate(sim.report_at or []):
        t = parse_duration(item)
        k = t / dt
        if t > horizon * (1 + 1e-9) or abs(k - round(k)) > 1e-9 * k:
            raise ConfigError(f"simulation.report_at[{i}] = {show_value(item)}: must be a whole number of steps of "
                              f"simulation.dt = {show_value(sim.dt)}, within simulation.horizon = {show_value(sim.horizon)}")
    if sim.save_paths > sim.paths:
        raise ConfigError(f"simulation.save_paths = {sim.save_paths}: more than simulation.paths = {sim.paths}")

    m = cfg.market
    if m.model == "gbm":
        for key in ("jump_intensity", "jump_std", "jump_mean"):
            if f"market.{key}" in cfg.explicit and m[key] != 0.0:
                raise ConfigError(f'market.{key} = {show_value(m[key])}: jumps need market.model = "merton" or "kou" '
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
        n_contracts = target / cfg.contract_size
        unit = "USD" if pos.contract == "inverse" else "BTC"
        if not n_contracts <= MAX_CONTRACTS:  # also inf (a subnormal contract size) and NaN
            raise ConfigError(f"position.contract_size = {cfg.contract_size:g} {unit}: the hedge ({target:.6g} {unit}) "
                              f"would be {n_contracts:.3g} contracts; at most {MAX_CONTRACTS:g} contracts are allowed "
                              "(a larger contract size, or a smaller position.stack or hedge_ratio)")
        if math.floor(n_contracts + 1e-9) < 1:
            raise ConfigError(f"position.hedge_ratio = {pos.hedge_ratio:g}: the hedge ({target:.6g} {unit}) is "
                              f"smaller than one contract (position.contract_size = {cfg.contract_size:g} {unit})")
    check_price_range(cfg)
    check_policy(cfg)
    ex = cfg.exchange
    if ex.maintenance_margin is not None and 0.0 < ex.maintenance_margin < MIN_RATE:
        raise ConfigError(f"exchange.maintenance_margin = {show_value(ex.maintenance_margin)}: use 0 or a rate of at "
                          f"least {MIN_RATE:g}")
    if ex.tiers is not None and ex.maintenance_margin is not None:
        raise ConfigError("exchange.maintenance_margin and exchange.tiers are both set; give one "
                          "(a flat rate, or a tier table)")
    if ex.tiers is None and ex.maintenance_margin is None:
        cfg._values["exchange"]["maintenance_margin"] = DEFAULT_MMR


MIN_RATE = 1e-6  # smallest non-zero maintenance margin rate
MAX_CONTRACTS = 1e12  # contracts in the hedge: counts stay exact in float64 and int64 (2^53 ~ 9e15)
DEFAULT_MMR = 0.005  # flat maintenance margin when neither a rate nor tiers are given
MAX_LOG_RANGE = 200.0  # |E log(S_T/S_0)| + 8 sd(log(S_T/S_0)) must stay below this


def check_price_range(cfg: Config) -> None:
    """Keep the index within floating-point range: exp(+-200) leaves room for products and
    squares of USD and BTC amounts (a 10-year horizon at sigma 5 is far beyond it)."""
    m = cfg.market
    t = cfg.steps * cfg.dt_seconds / YEAR_SECONDS
    mean, var = log_return_moments(m, t)
    sd = math.sqrt(var)
    if abs(mean) + 8.0 * sd > MAX_LOG_RANGE:
        raise ConfigError(
            f"market: over simulation.horizon = {show_value(cfg.simulation.horizon)} the log index would move by "
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


def check_policy(cfg: Config) -> None:
    """The [policy] rules and the exchange's margin mode: levels in a sensible order, and
    the defaults that depend on other keys (top_up_to = 2 x trigger, withdraw_to = half of
    withdraw_above)."""
    p, ex = cfg.policy, cfg.exchange
    values = cfg._values["policy"]
    if p.top_up_trigger is None:
        if p.top_up_to is not None:
            raise ConfigError(f"policy.top_up_to = {show_value(p.top_up_to)}: needs policy.top_up_trigger")
    else:
        if p.top_up_to is None:
            values["top_up_to"] = 2.0 * p.top_up_trigger
        elif p.top_up_to <= p.top_up_trigger:
            raise ConfigError(f"policy.top_up_to = {show_value(p.top_up_to)}: must be above policy.top_up_trigger "
                              f"= {show_value(p.top_up_trigger)}")
        if p.top_up_reserve == 0.0 and not p.rehedge:
            cfg.notes.append("policy.top_up_trigger is set but policy.top_up_reserve = 0: no top-up can be sent")
    if p.withdraw_above is None:
        if p.withdraw_to is not None:
            raise ConfigError(f"policy.withdraw_to = {show_value(p.withdraw_to)}: needs policy.withdraw_above")
    else:
        if p.withdraw_to is None:
            values["withdraw_to"] = max(p.withdraw_above / 2.0, 1.0 + 0.5 * (p.withdraw_above - 1.0))
        elif p.withdraw_to >= p.withdraw_above:
            raise ConfigError(f"policy.withdraw_to = {show_value(p.withdraw_to)}: must be below policy.withdraw_above "
                              f"= {show_value(p.withdraw_above)}")
        if p.top_up_trigger is not None and cfg.policy.withdraw_to <= cfg.policy.top_up_to:
            raise ConfigError(f"policy.withdraw_to = {show_value(cfg.policy.withdraw_to)}: must be above "
                              f"policy.top_up_to = {show_value(cfg.policy.top_up_to)} (else every top-up is "
                              "withdrawn again)")
    if ex.margin_mode in ("isolated_auto_add", "cross") and ex.wallet == 0.0:
        cfg.notes.append(f'exchange.margin_mode = "{ex.margin_mode}" with exchange.wallet = 0: the same as isolated')
    if p.rebalance_every is not None or p.rebalance_band is not None:
        if cfg.position.contract == "linear":
            cfg.notes.append("policy.rebalance_*: a linear hedge of the stack (q BTC short, USD collateral) keeps a "
                             "constant BTC exposure, so its size drifts from the target only after a partial liquidation")
        elif cfg.position.hedge_collateral and cfg.position.hedge_ratio == 1.0:
            cfg.notes.append("policy.rebalance_*: a full inverse hedge of stack and collateral only drifts by the "
                             "funding and fees its account accrues (see docs/policies.md)")
    if ex.partial_liquidation and len(ex.tiers or []) < ex.partial_liquidation_tier:
        cfg.notes.append(f"exchange.partial_liquidation = true with {len(ex.tiers or []) or 'a single'} maintenance-"
                         f"margin tier(s), below exchange.partial_liquidation_tier = {ex.partial_liquidation_tier}: "
                         "liquidations close the position")
    if p.rehedge and p.top_up_reserve == 0.0:
        cfg.notes.append("policy.rehedge = true with policy.top_up_reserve = 0: the reserve cannot pay a re-opened "
                         "hedge's collateral")
