"""Maximum-likelihood calibration of the market model to history (docs/data.md).

``calibrate`` fits the price models (``sim.data.fit_price``: GBM, Merton) to the closes
of a sample period, and the funding and basis OU processes (``sim.data.fit_ou``) to the
funding data of the same period; standard errors and goodness of fit come from
``sim.data.mle``. The result, a :class:`Calibration`, gives config values clipped to the
schema's ranges (``config_values``) and the config fragment ``to_toml`` prints, every value
with its standard error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from sim.config import SCHEMA, YEAR_SECONDS, format_duration
from sim.data.fit_ou import cross_factor, fit_ou, interval_returns
from sim.data.fit_price import fit_gbm, fit_merton, log_returns
from sim.data.load import FundingData, PriceData
from sim.data.mle import Fit
from sim.data.times import describe_period, fmt_td, to_utc
from sim.errors import DataError
from sim.version import __version__


@dataclass
class Calibration:
    """Everything fitted on one sample period."""

    start: pd.Timestamp
    end: pd.Timestamp
    price_source: str
    bar: pd.Timedelta
    n_returns: int
    fits: dict[str, Fit]  # "gbm", "merton"
    funding: Fit | None
    basis: Fit | None
    corr_basis_funding: float = math.nan
    corr_basis_funding_se: float = math.nan
    last_close: float = math.nan
    last_close_time: pd.Timestamp | None = None
    last_funding: float = math.nan
    last_funding_time: pd.Timestamp | None = None
    last_basis: float = math.nan
    funding_source: str = ""
    funding_spacing: pd.Timedelta | None = None
    funding_rate_interval: pd.Timedelta = pd.Timedelta("8h")
    notes: list[str] = field(default_factory=list)
    # robust calibration (sim.data.choices): the factor on the scale of log returns and what it is made of
    vol_factor: float = 1.0
    robust: list[str] = field(default_factory=list)

    def preferred(self) -> str:
        return min(self.fits, key=lambda k: self.fits[k].aic)

    def config_values(self, model: str = "merton", drift: str = "fitted") -> dict[str, object]:
        """{"section.key": value} for ``Config.replace``, clipped to the schema's ranges
        (clipping is noted in ``notes``). ``drift="zero"`` sets mu = 0. ``vol_factor``
        (a robust calibration choice) scales sigma and Merton's jump mean and std."""
        if model not in self.fits:
            raise DataError(f"model {model!r} was not fitted; fitted: {', '.join(self.fits)}")
        fit = self.fits[model]
        k = self.vol_factor
        out: dict[str, object] = {"market.model": model, "market.spot": self.last_close}
        out["market.mu"] = 0.0 if drift == "zero" else fit.params["mu"]
        out["market.sigma"] = fit.params["sigma"] * k
        if model == "merton":
            out["market.jump_intensity"] = fit.params["jump_intensity"]
            for key in ("jump_mean", "jump_std"):
                out[f"market.{key}"] = fit.params[key] * k
        else:
            for k in ("jump_intensity", "jump_mean", "jump_std"):
                out[f"market.{k}"] = 0.0
        if self.funding is not None:
            out["funding.interval"] = format_duration(self.funding_rate_interval.total_seconds())
            out["funding.initial"] = self.last_funding
            out.update(_ou_values("funding", self.funding))
        if self.basis is not None:
            out["basis.initial"] = self.last_basis
            out.update(_ou_values("basis", self.basis))
            if np.isfinite(self.corr_basis_funding):
                out["basis.corr_funding"] = self.corr_basis_funding
        return _clip_to_schema(out, self.notes)


def _ou_values(section: str, fit: Fit) -> dict[str, object]:
    """mean, half_life, stationary_std (and corr_price) of an OU fit as config values."""
    p = fit.params
    out: dict[str, object] = {f"{section}.mean": p["mean"], f"{section}.half_life": _duration(p["half_life_hours"]),
                              f"{section}.stationary_std": p["stationary_std"]}
    if "corr_price" in p:
        out[f"{section}.corr_price"] = p["corr_price"]
    return out


def _duration(hours: float) -> str:
    hours = min(max(hours, 1.0 / 60.0), 3650 * 24.0)
    if abs(hours - round(hours)) < 1e-9:
        return format_duration(round(hours) * 3600.0)
    if hours < 1.0:
        return f"{hours * 60:.2f}min"
    if hours < 72:
        return f"{hours:.3f}h"
    return f"{hours / 24:.3f}d"


def _clip_to_schema(values: dict, notes: list[str]) -> dict:
    out = {}
    for dotted, v in values.items():
        sec, key = dotted.split(".")
        fld = SCHEMA[sec][key]
        if isinstance(v, float) and fld.kind == "float":
            if not math.isfinite(v):
                notes.append(f"{dotted}: not estimable (NaN); the config default is used")
                continue
            lo = fld.lo if fld.lo is not None else -math.inf
            hi = fld.hi if fld.hi is not None else math.inf
            if fld.lo_open and v <= lo:
                v2 = lo + 1e-12
            elif fld.hi_open and v >= hi:
                v2 = hi - 1e-12
            else:
                v2 = min(max(v, lo), hi)
            if v2 != v:
                notes.append(f"{dotted} = {v:.6g} is outside the config range {fld.range_text()}: clipped to {v2:.6g}")
            v = float(v2)
        out[dotted] = v
    # correlation matrix must be positive definite
    fp = float(out.get("funding.corr_price", 0.0))
    bp = float(out.get("basis.corr_price", 0.0))
    bf = float(out.get("basis.corr_funding", 0.0))
    shrink = 1.0
    for _ in range(60):
        c = np.array([[1, fp * shrink, bp * shrink], [fp * shrink, 1, bf * shrink], [bp * shrink, bf * shrink, 1]])
        if np.linalg.eigvalsh(c).min() > 1e-6:
            break
        shrink *= 0.95
    if shrink < 1.0:
        notes.append(f"the fitted correlations do not form a positive-definite matrix: shrunk by {shrink:.3f}")
        for k, v in (("funding.corr_price", fp), ("basis.corr_price", bp), ("basis.corr_funding", bf)):
            if k in out:
                out[k] = v * shrink
    return out


def calibrate(prices: PriceData, funding: FundingData | None = None, start=None, end=None, *,
              models: tuple[str, ...] = ("gbm", "merton"), se: bool = True, warm: dict | None = None,
              quick: bool = False, log: Callable[[str], None] | None = None) -> Calibration:
    """Fit the price models to the closes with bar end in [start, end], and the funding
    and basis OU processes to the funding data of the same period."""
    start = to_utc(start) if start is not None else prices.bars.index[0]
    end = to_utc(end) if end is not None else prices.bars.index[-1]
    if end <= start:
        raise DataError(f"calibration period: end {end} is not after start {start}")
    bars = prices.between(start, end)
    if len(bars) < 12:
        raise DataError(f"prices {prices.source!r}: only {len(bars)} bars in {describe_period(start, end)} "
                        f"(data cover {describe_period(prices.bars.index[0], prices.bars.index[-1])})")
    r, dt = log_returns(bars)
    warm = warm or {}
    fits: dict[str, Fit] = {}
    gbm = fit_gbm(r, dt, se=se)
    if "gbm" in models:
        fits["gbm"] = gbm
    if "merton" in models:
        fits["merton"] = fit_merton(r, dt, se=se, warm=warm.get("merton"), gbm=gbm, quick=quick)
    cal = Calibration(start=start, end=end, price_source=prices.source, bar=prices.bar, n_returns=int(r.size),
                      fits=fits, funding=None, basis=None, last_close=float(bars["close"].iloc[-1]),
                      last_close_time=bars.index[-1])
    n_gap = int(np.count_nonzero(dt > prices.bar.total_seconds() / YEAR_SECONDS * 1.5))
    if n_gap:
        cal.notes.append(f"{n_gap} return(s) span a gap in the bars: each is modelled over its actual length")
    if funding is not None:
        fr = funding.rate[(funding.rate.index >= start) & (funding.rate.index <= end)]
        if len(fr) >= 21:
            cal.funding_source = funding.source
            cal.funding_spacing = funding.spacing
            cal.funding_rate_interval = funding.rate_interval
            spot = None
            if funding.has_basis:
                spot = funding.spot[(funding.spot.index >= start) & (funding.spot.index <= end)]
            rr = interval_returns(fr.index, prices, spot)
            cal.funding = fit_ou("funding", fr, rr, se=se, warm=warm.get("funding"))
            cal.last_funding = float(fr.iloc[-1])
            cal.last_funding_time = fr.index[-1]
            if funding.has_basis:
                b = funding.basis[(funding.basis.index >= start) & (funding.basis.index <= end)]
                cal.basis = fit_ou("basis", b, rr, se=se, warm=warm.get("basis"))
                cal.last_basis = float(b.iloc[-1])
                rf, rb = cal.funding.resid, cal.basis.resid
                common = rf.index.intersection(rb.index)
                if len(common) > 10:
                    with np.errstate(invalid="ignore", divide="ignore"):  # a constant series: NaN, not estimable
                        rho = float(np.corrcoef(rf.loc[common], rb.loc[common])[0, 1])
                    cf = cross_factor(cal.funding.kappa, cal.basis.kappa, cal.funding.delta)
                    cal.corr_basis_funding = rho / cf
                    cal.corr_basis_funding_se = (1 - rho * rho) / math.sqrt(len(common)) / cf
        else:
            cal.notes.append(f"funding {funding.source!r}: only {len(fr)} rates in the period: funding and basis "
                             "not fitted")
    if cal.basis is None and prices.has_perp:
        b = (bars["perp_close"] / bars["close"] - 1.0).rename("basis")
        rr = np.diff(np.log(bars["close"].to_numpy(dtype=float)))
        cal.basis = fit_ou("basis", b, rr, se=se, warm=warm.get("basis"))
        cal.last_basis = float(b.iloc[-1])
    for f in list(fits.values()) + [x for x in (cal.funding, cal.basis) if x is not None]:
        cal.notes += [f"{f.name}: {n}" for n in f.notes]
    if log:
        for n in cal.notes:
            log(f"calibrate: {n}")
    return cal


# --------------------------------------------------------------------------- TOML output


def _num(x: float) -> str:
    if not math.isfinite(x):
        return "nan"
    return f"{x:.6g}" if abs(x) >= 1e-4 or x == 0 else f"{x:.6e}"


def _se_text(x: float, unit: str = "") -> str:
    if not math.isfinite(x):
        return "SE n/a"
    return f"SE {_num(x)}{(' ' + unit) if unit else ''}"


def _ou_lines(section: str, fit: Fit, vals: dict, unit: str, corr_note: str = "") -> list[str]:
    """mean, half_life, stationary_std (and corr_price) of an OU section, with their SEs."""
    p, se = fit.params, fit.se
    v = {k[len(section) + 1:]: x for k, x in vals.items() if k.startswith(section + ".")}
    lines = [f"mean = {_num(v['mean'])}".ljust(34) + f"# {unit}, {_se_text(se['mean'])}",
             f'half_life = "{v["half_life"]}"'.ljust(34) +
             f"# = {p['half_life_hours']:.4g} h, {_se_text(se['half_life_hours'], 'h')}",
             f"stationary_std = {_num(v['stationary_std'])}".ljust(34) + f"# {unit}, {_se_text(se['stationary_std'])}"]
    if "corr_price" in v:
        lines.append(f"corr_price = {_num(v['corr_price'])}".ljust(34) +
                     f"# {_se_text(se['corr_price'])}; interval correlation {p['corr_interval']:.4f}{corr_note}")
    return lines


def to_toml(cal: Calibration, model: str = "merton", drift: str = "fitted", command: str = "") -> str:
    """The calibrated config fragment ([market], [funding], [basis]) with every value's SE
    as a comment, the sample, the log-likelihood and AIC of each model, and the KS line."""
    vals = cal.config_values(model, drift)
    f = cal.fits
    lines = [f"# hedgesim {__version__} calibrate: maximum-likelihood fit to market data"]
    if command:
        lines.append(f"# command: {command}")
    lines += [
        f"# prices:  {cal.price_source} (bars of {fmt_td(cal.bar)})",
        f"# sample:  {describe_period(cal.start, cal.end)}; {cal.n_returns:,} log-returns of "
        f"{fmt_td(cal.bar)} closes",
    ]
    if cal.funding is not None:
        lines.append(f"# funding: {cal.funding_source} ({cal.funding.n:,} intervals of {fmt_td(cal.funding_spacing)}"
                     f"{'; basis = perp close / spot close - 1' if cal.basis is not None else ''})")
    lines.append("# SE = standard error from the observed information (inverse numerical Hessian of the")
    lines.append("#      log-likelihood at the optimum; delta method to these parameters)")
    lines.append("# model comparison (log-likelihood in nats; AIC = 2 k - 2 logL, lower is better):")
    pref = cal.preferred()
    for name, fit in f.items():
        mark = "   <- lowest AIC" if name == pref and len(f) > 1 else ""
        lines.append(f"#   {name:<7} k = {fit.k}  logL = {fit.loglik:,.1f}  AIC = {fit.aic:,.1f}{mark}")
    ks = "; ".join(f"{n} D = {fit.ks:.4f} (p = {fit.ks_pvalue:.2g})" for n, fit in f.items())
    lines.append(f"# goodness of fit: KS statistic of the probability-integral transforms of the returns "
                 f"(uniform if the model is right; p-values ignore estimation): {ks}")
    for ofit in (cal.funding, cal.basis):
        if ofit is not None:
            lines.append(f"# {ofit.name} OU (joint with price returns): logL = {ofit.loglik:,.1f}, "
                         f"AIC = {ofit.aic:,.1f}, {ofit.n:,} intervals")
    lines += [f"# {r}" for r in cal.robust]
    lines.append("")
    fit = f[model]
    lines.append("[market]")
    lines.append(f'model = "{model}"')
    lines.append(f"spot = {_num(vals['market.spot'])}".ljust(34) +
                 f"# USD: last close of the sample ({cal.last_close_time:%Y-%m-%d %H:%M} UTC)")
    if drift == "zero":
        lines.append("mu = 0.0".ljust(34) + f"# 1/yr: set to 0 (fitted {_num(fit.params['mu'])}, "
                     f"{_se_text(fit.se['mu'])}: not distinguishable from 0)")
    else:
        lines.append(f"mu = {_num(vals['market.mu'])}".ljust(34) + f"# 1/yr, {_se_text(fit.se['mu'])} "
                     "(drift of dS/S: poorly determined by any sample)")
    scaled = f" (fitted {_num(fit.params['sigma'])} x {cal.vol_factor:.4f})" if cal.vol_factor != 1.0 else ""
    lines.append(f"sigma = {_num(vals['market.sigma'])}".ljust(34) +
                 f"# 1/sqrt(yr), {_se_text(fit.se['sigma'])}{scaled}")
    if model == "merton":
        lines.append(f"jump_intensity = {_num(vals['market.jump_intensity'])}".ljust(34) +
                     f"# jumps per year, {_se_text(fit.se['jump_intensity'])}")
        scaled = f" (x {cal.vol_factor:.4f})" if cal.vol_factor != 1.0 else ""
        lines.append(f"jump_mean = {_num(vals['market.jump_mean'])}".ljust(34) +
                     f"# log jump size, {_se_text(fit.se['jump_mean'])}{scaled}")
        lines.append(f"jump_std = {_num(vals['market.jump_std'])}".ljust(34) +
                     f"# log jump size, {_se_text(fit.se['jump_std'])}{scaled}")
        tot = math.sqrt(vals["market.sigma"] ** 2 + vals["market.jump_intensity"] *
                        (vals["market.jump_mean"] ** 2 + vals["market.jump_std"] ** 2))
        lines.append(f"# total volatility of log returns sqrt(sigma^2 + lam (m^2 + s^2)) = {tot:.4f} 1/sqrt(yr)")
    if cal.funding is not None:
        lines += ["", "[funding]"]
        if "funding.interval" in vals:
            lines.append(f'interval = "{vals["funding.interval"]}"'.ljust(34) + "# the rates are per this interval")
        lines.append(f"initial = {_num(vals['funding.initial'])}".ljust(34) +
                     f"# per interval: last rate of the sample ({cal.last_funding_time:%Y-%m-%d %H:%M} UTC)")
        lines += _ou_lines("funding", cal.funding, vals, "per interval", ", scaled to the continuous-time shocks")
    if cal.basis is not None:
        lines += ["", "[basis]"]
        lines.append(f"initial = {_num(vals['basis.initial'])}".ljust(34) + "# fraction: last basis of the sample")
        lines += _ou_lines("basis", cal.basis, vals, "fraction")
        if "basis.corr_funding" in vals:
            lines.append(f"corr_funding = {_num(vals['basis.corr_funding'])}".ljust(34) +
                         f"# {_se_text(cal.corr_basis_funding_se)} (asymptotic (1 - rho^2)/sqrt(n), scaled)")
    if cal.notes:
        lines += ["", "# notes:"] + [f"#   {n}" for n in cal.notes]
    return "\n".join(lines) + "\n"
