"""The model band as text: the key figures under the configured model and the alternatives
(``sim.analysis.band``), printed by ``hedgesim run``, ``margin`` and ``show``."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from sim.report.fmt import fmt_number, fmt_percent


def format_band(ds: xr.Dataset) -> list[str]:
    """Lines of the band table of a run (empty when the result has no band)."""
    if "band_liquidation_probability" not in ds:
        return []
    n = int(ds.attrs.get("band_paths", 0))
    t = float(ds.attrs.get("band_wall_time_s", math.nan))
    lines = ["", f"model band: the same figures under other models ({n:,} paths each, same seed, {t:.1f} s; "
                 "the configured row is this run)"]
    head = f"{'model':<14}{'P(liq)':>10}{'+- se':>10}{'ES 99 % hedged':>16}{'+- se':>10}   (ES in USD)"
    lines += [head, "-" * len(head)]
    for k, label in enumerate(ds["model_band"].values):
        p, pse = float(ds["band_liquidation_probability"][k]), float(ds["band_liquidation_probability_se"][k])
        es, ese = float(ds["band_expected_shortfall"][k]), float(ds["band_expected_shortfall_se"][k])
        lines.append(f"{str(label):<14}{fmt_percent(p):>10}{fmt_percent(pse):>10}{fmt_number(es):>16}"
                     f"{fmt_number(ese):>10}")
    p = ds["band_liquidation_probability"].values
    lines.append(f"range: P(liq) {fmt_percent(float(np.nanmin(p)))} to {fmt_percent(float(np.nanmax(p)))} across "
                 "the band")
    lines += [f"  {label}: {desc}" for label, desc in zip(ds["model_band"].values, ds["model_band_description"].values)
              if str(label) != "configured"]
    if ds.attrs.get("band_notes"):
        lines.append(f"  ({ds.attrs['band_notes']})")
    return lines


def format_margin_band(ds: xr.Dataset) -> list[str]:
    """Lines of the band of ``hedgesim margin``: the minimum collateral per target under each
    model, and the recommendation from the conservative end."""
    if "band_min_collateral" not in ds:
        return []
    unit = ds.attrs.get("margin_unit", "BTC")
    n = int(ds.attrs.get("band_paths", 0))
    targets = ds["target"].values
    head = f"{'model':<14}" + "".join(f"{'P <= ' + fmt_percent(float(t)):>22}" for t in targets) + f"   ({unit})"
    t = float(ds.attrs.get("band_wall_time_s", math.nan))
    lines = ["", f"model band: minimum collateral under other models ({n:,} paths each, same seed, {t:.1f} s; "
                 "-: not resolvable with these paths)", head, "-" * len(head)]
    mc = ds["band_min_collateral"].values
    for k, label in enumerate(ds["model_band"].values):
        cells = "".join(f"{'-' if math.isnan(mc[k, j]) else f'{mc[k, j]:.6g}':>22}" for j in range(len(targets)))
        lines.append(f"{str(label):<14}{cells}")
    for j, t in enumerate(targets):
        col = np.where(np.isnan(mc[:, j]), -np.inf, mc[:, j])
        k = int(np.argmax(col))
        if not np.isfinite(col[k]):
            continue
        lines.append(f"recommended for P <= {fmt_percent(float(t))}: {mc[k, j]:.6g} {unit}, the conservative end of "
                     f"the band ({ds['model_band'].values[k]}); the configured model alone says "
                     f"{float(mc[0, j]):.6g} {unit}")
    lines += [f"  {label}: {desc}" for label, desc in zip(ds["model_band"].values, ds["model_band_description"].values)
              if str(label) != "configured"]
    if ds.attrs.get("band_notes"):
        lines.append(f"  ({ds.attrs['band_notes']})")
    return lines
