"""Robust calibration choices for the parametric price models (docs/data.md, "Robust
calibration choices"): how long a look-back, and which anti-procyclicality tool.

A choice is written ``WINDOW[+key=value...]``:

* ``WINDOW``: the calibration look-back ending at the forecast time: a duration (``365d``,
  ``52w``, ``3y`` = 1,095 days) or ``all`` (every bar of the data before that time);
* ``stress_weight=W`` (0 <= W < 1): the variance is (1 - W) x that of the look-back + W x
  that of the most stressed 30 days (``STRESS_PERIOD``) of all history before the forecast
  time (Commission Delegated Regulation (EU) No 153/2013, Art. 28(1)(b): at least 25 %
  weight on stressed observations);
* ``vol_floor=L`` (a duration or ``all``): the volatility is at least that of the last L
  of data (Art. 28(1)(c): margins not below those from a ten-year look-back; ``10y``);
* ``vol_buffer=B`` (B >= 0): the volatility is multiplied by 1 + B (Art. 28(1)(a): a
  buffer of at least 25 % of the margin; margins of a volatility model scale with the
  volatility, so the buffer is put on it).

Each tool is one multiplicative factor k on the scale of log returns, applied to the
fitted parameters (``Calibration.config_values``): GBM sigma x k; Merton sigma, jump_mean
and jump_std x k (the return distribution scaled by k, the jump intensity unchanged).
k = max(k_stress, k_floor) x (1 + B), with k_stress = sqrt((1 - W) + W v_stress / v) and
k_floor = sqrt(max(1, v_floor / v)), where v, v_stress and v_floor are realised variances
per year (sum of squared log returns over the sum of their time spans) of the look-back,
the stressed 30 days and the floor's look-back. Every one uses only returns whose bar
ended by the forecast time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.config import ConfigError, YEAR_SECONDS, format_duration, parse_duration
from sim.data.load import PriceData
from sim.errors import DataError

STRESS_PERIOD = 30 * 86400.0  # the span whose realised variance is the "stressed" one
DAY = 86400.0
_YEARS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*y\s*$")
KEYS = ("stress_weight", "vol_floor", "vol_buffer")


def parse_lookback(text: str, what: str) -> float:
    """Seconds of a look-back: a duration, ``Ny`` (N x 365 days) or ``all`` (math.inf)."""
    t = str(text).strip()
    if t == "all":
        return math.inf
    m = _YEARS.match(t)
    if m:
        v = float(m.group(1)) * 365 * DAY
        if v <= 0:
            raise DataError(f"{what} {text!r}: must be longer than zero")
        return v
    try:
        return parse_duration(t, what)
    except ConfigError as exc:
        raise DataError(f"{exc} (or Ny for years of 365 days, or all)") from None


def lookback_text(seconds: float) -> str:
    return "all" if math.isinf(seconds) else format_duration(seconds)


@dataclass(frozen=True)
class CalibrationChoice:
    """A look-back and the anti-procyclicality tools applied to it (module docstring)."""

    window_s: float  # math.inf: all history before the forecast time
    stress_weight: float = 0.0
    vol_floor_s: float | None = None  # math.inf: all history
    vol_buffer: float = 0.0

    @property
    def label(self) -> str:
        """The canonical text (``parse_choice`` reads it back)."""
        parts = [lookback_text(self.window_s)]
        if self.stress_weight:
            parts.append(f"stress_weight={self.stress_weight:g}")
        if self.vol_floor_s is not None:
            parts.append(f"vol_floor={lookback_text(self.vol_floor_s)}")
        if self.vol_buffer:
            parts.append(f"vol_buffer={self.vol_buffer:g}")
        return "+".join(parts)

    @property
    def adjusted(self) -> bool:
        return bool(self.stress_weight or self.vol_floor_s is not None or self.vol_buffer)


def _fraction(text: str, what: str, hi: float) -> float:
    try:
        v = float(text)
    except ValueError:
        raise DataError(f"{what} {text!r}: not a number") from None
    if not (0.0 <= v < hi):
        raise DataError(f"{what} {text!r}: must be in [0, {hi:g})")
    return v


def parse_choice(text: str, stress_weight: float | None = None, vol_floor: str | None = None,
                 vol_buffer: float | None = None, what: str = "--calibration-window") -> CalibrationChoice:
    """``WINDOW[+key=value...]`` (module docstring); the keyword arguments are defaults
    for keys the text does not set (the ``--stress-weight``, ``--vol-floor``,
    ``--vol-buffer`` options)."""
    parts = [p.strip() for p in str(text).split("+")]
    if not parts[0]:
        raise DataError(f"{what} {text!r}: give a look-back first, e.g. 365d, 3y or all")
    window = parse_lookback(parts[0], f"{what} {text!r}:")
    vals: dict[str, str] = {}
    for p in parts[1:]:
        key, eq, val = p.partition("=")
        key = key.strip()
        if not eq or key not in KEYS:
            raise DataError(f"{what} {text!r}: {p!r} is not one of " + ", ".join(f"{k}=..." for k in KEYS))
        if key in vals:
            raise DataError(f"{what} {text!r}: {key} given twice")
        vals[key] = val.strip()
    sw = _fraction(vals["stress_weight"], f"{what} {text!r}: stress_weight", 1.0) if "stress_weight" in vals \
        else _fraction(str(stress_weight or 0.0), "--stress-weight", 1.0)
    vb = _fraction(vals["vol_buffer"], f"{what} {text!r}: vol_buffer", 10.0) if "vol_buffer" in vals \
        else _fraction(str(vol_buffer or 0.0), "--vol-buffer", 10.0)
    fl = vals.get("vol_floor", vol_floor)
    floor_s = parse_lookback(fl, f"{what} {text!r}: vol_floor") if fl is not None else None
    return CalibrationChoice(window, float(sw), floor_s, float(vb))


def parse_choices(text: str, **defaults) -> list[CalibrationChoice]:
    """A comma-separated list of choices (duplicates refused)."""
    out = [parse_choice(t, **defaults) for t in str(text).split(",") if t.strip()]
    if not out:
        raise DataError("--calibration-window: give at least one look-back, e.g. 365d")
    labels = [c.label for c in out]
    dup = {x for x in labels if labels.count(x) > 1}
    if dup:
        raise DataError(f"--calibration-window: {sorted(dup)[0]} given twice")
    return out


class VolHistory:
    """Realised variances of a price series' log returns, from cumulative sums: a return
    belongs to the time its later bar ended, so a span (a, b] uses no price after b."""

    def __init__(self, prices: PriceData):
        bars = prices.bars
        t = pd.DatetimeIndex(bars.index).as_unit("ns").asi8
        c = np.log(bars["close"].to_numpy(dtype=float))
        self.first = int(t[0])
        self.t = t[1:]
        r2 = np.diff(c) ** 2
        dt = np.diff(t) / 1e9 / YEAR_SECONDS
        self.c_r2 = np.concatenate([[0.0], np.cumsum(r2)])
        self.c_dt = np.concatenate([[0.0], np.cumsum(dt)])
        # realised variance of the STRESS_PERIOD ending at each return's time (only full periods), running max
        p_ns = int(STRESS_PERIOD * 1e9)
        j = np.searchsorted(self.t, self.t - p_ns, side="right")
        i = np.arange(self.t.size) + 1
        with np.errstate(invalid="ignore", divide="ignore"):
            rv = (self.c_r2[i] - self.c_r2[j]) / (self.c_dt[i] - self.c_dt[j])
        rv[(self.t - p_ns < self.first) | ~np.isfinite(rv)] = -np.inf
        self.stress_max = np.maximum.accumulate(rv) if rv.size else rv

    def _index(self, when: int) -> int:
        return int(np.searchsorted(self.t, when, side="right"))  # returns with time <= when

    def variance(self, a: int, b: int) -> float:
        """Realised variance per year of the returns with time in (a, b] (ns)."""
        i, j = self._index(a), self._index(b)
        dt = self.c_dt[j] - self.c_dt[i]
        return float((self.c_r2[j] - self.c_r2[i]) / dt) if dt > 0 else math.nan

    def stressed(self, b: int) -> float:
        """The largest realised variance of a STRESS_PERIOD ending by b (NaN if none)."""
        j = self._index(b)
        if j == 0 or not math.isfinite(self.stress_max[j - 1]):
            return math.nan
        return float(self.stress_max[j - 1])


@dataclass
class Adjustment:
    """The factor a choice puts on the fitted scale of log returns, and its parts."""

    factor: float = 1.0
    variance: float = math.nan  # realised, of the look-back
    stress_variance: float = math.nan
    floor_variance: float = math.nan
    floor_days: float = math.nan  # the floor's look-back as the data allow
    notes: tuple[str, ...] = ()


def adjustment(hist: VolHistory, choice: CalibrationChoice, start: pd.Timestamp, end: pd.Timestamp) -> Adjustment:
    """The factor k of the module docstring for the look-back (start, end]."""
    if not choice.adjusted:
        return Adjustment()
    a, b = int(start.value), int(end.value)
    v = hist.variance(a, b)
    out = Adjustment(variance=v)
    notes = []
    k_stress = k_floor = 1.0
    if choice.stress_weight:
        vs = hist.stressed(b)
        out.stress_variance = vs
        if math.isfinite(vs) and math.isfinite(v) and v > 0:
            k_stress = math.sqrt((1 - choice.stress_weight) + choice.stress_weight * vs / v)
        else:
            notes.append("stress_weight: no full 30-day period in the data before the end: not applied")
    if choice.vol_floor_s is not None:
        fa = max(hist.first, b - int(choice.vol_floor_s * 1e9)) if math.isfinite(choice.vol_floor_s) else hist.first
        out.floor_days = (b - fa) / 1e9 / DAY
        if math.isfinite(choice.vol_floor_s) and out.floor_days < choice.vol_floor_s / DAY - 1e-9:
            notes.append(f"vol_floor: the data hold {out.floor_days:,.0f} of the {choice.vol_floor_s / DAY:,.0f} "
                         "days before the end; the floor uses those")
        vf = hist.variance(fa, b)
        out.floor_variance = vf
        if math.isfinite(vf) and math.isfinite(v) and v > 0:
            k_floor = math.sqrt(max(1.0, vf / v))
    out.factor = max(k_stress, k_floor) * (1.0 + choice.vol_buffer)
    out.notes = tuple(notes)
    return out


def describe(choice: CalibrationChoice, adj: Adjustment) -> list[str]:
    """Lines for the calibrate output: what each tool did."""
    if not choice.adjusted:
        return []
    sd = lambda v: f"{math.sqrt(v):.4f}" if math.isfinite(v) else "n/a"  # noqa: E731
    tools = ", ".join(choice.label.split("+")[1:])
    out = [f"robust calibration ({tools}): log-return scale x {adj.factor:.4f} "
           f"(realised volatility of the look-back {sd(adj.variance)} 1/sqrt(yr))"]
    if choice.stress_weight:
        out.append(f"  stress_weight {choice.stress_weight:g}: most stressed 30 days before the end "
                   f"{sd(adj.stress_variance)} (EU 153/2013 Art. 28(1)(b))")
    if choice.vol_floor_s is not None:
        out.append(f"  vol_floor {lookback_text(choice.vol_floor_s)}: realised volatility over the last "
                   f"{adj.floor_days:,.0f} days {sd(adj.floor_variance)} (EU 153/2013 Art. 28(1)(c))")
    if choice.vol_buffer:
        out.append(f"  vol_buffer {choice.vol_buffer:g}: x {1 + choice.vol_buffer:g} (EU 153/2013 Art. 28(1)(a))")
    return out + [f"  {n}" for n in adj.notes]


def apply_choice(cal, hist: VolHistory, choice: CalibrationChoice) -> Adjustment:
    """Set a ``Calibration``'s ``vol_factor`` and its ``robust`` lines for ``choice``
    (its look-back is (cal.start, cal.end])."""
    adj = adjustment(hist, choice, cal.start, cal.end)
    cal.vol_factor = adj.factor
    cal.robust = describe(choice, adj)
    return adj
