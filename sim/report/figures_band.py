"""The model band's figure in ``hedgesim report`` (docs/band.md): ``band.png``, the key
figures under the configured model and each alternative, with 95 % intervals — the
liquidation probability and the hedged 99 % ES of a run, or the minimum collateral per
target of a margin curve, the recommendation (the largest) marked."""

from __future__ import annotations

import numpy as np
import xarray as xr

from sim.report.figures import Figure, plt_setup, png_bytes

FIGURE_NAMES = {"band"}


def _subtitle(ds: xr.Dataset) -> str:
    a = ds.attrs
    return (f"{a.get('config_source', '')}, {int(a.get('band_paths', 0)):,} paths per alternative, "
            f"horizon {a.get('horizon', '')}")


def fig_band(ds: xr.Dataset) -> Figure | None:
    """``band.png`` of a run or a margin result with a model band (None without one)."""
    if "band_liquidation_probability" not in ds:
        return None
    plt = plt_setup()
    labels = [str(x) for x in ds["model_band"].values]
    y = np.arange(len(labels))
    if "band_min_collateral" in ds:
        unit = ds.attrs.get("margin_unit", "BTC")
        targets = ds["target"].values
        fig, axes = plt.subplots(1, len(targets), figsize=(4.2 * len(targets), 0.5 * len(labels) + 1.8), squeeze=False)
        for j, (ax, t) in enumerate(zip(axes[0], targets)):
            c = ds["band_min_collateral"].values[:, j]
            lo, hi = ds["band_min_collateral_low"].values[:, j], ds["band_min_collateral_high"].values[:, j]
            ok = np.isfinite(c)
            ax.errorbar(c[ok], y[ok], xerr=[np.clip(c - lo, 0, None)[ok], np.clip(hi - c, 0, None)[ok]], fmt="o",
                        color="#1f77b4", capsize=3)
            if ok.any():
                k = int(np.nanargmax(np.where(ok, c, -np.inf)))
                ax.plot([c[k]], [y[k]], "s", color="#d62728", ms=9, label=f"recommended {c[k]:.4g} {unit}")
                ax.legend(loc="lower right", fontsize=8)
            ax.set_yticks(y, labels)
            ax.invert_yaxis()
            ax.set_xlabel(f"minimum collateral ({unit})")
            ax.set_title(f"P(liquidation) <= {t:.2%}", fontsize=10)
        title = "Minimum collateral under each model"
        caption = ("The smallest collateral meeting each target under the configured model and each alternative "
                   "(95 % intervals from the order statistics); the largest, marked, is the recommendation. "
                   "A missing point: not resolvable with the band's paths.")
    else:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 0.5 * len(labels) + 1.8), sharey=True)
        p = 100 * ds["band_liquidation_probability"].values
        pse = 100 * ds["band_liquidation_probability_se"].values
        a1.errorbar(p, y, xerr=1.96 * pse, fmt="o", color="#1f77b4", capsize=3)
        a1.set_xlabel("liquidation probability (%)")
        es, ese = ds["band_expected_shortfall"].values, ds["band_expected_shortfall_se"].values
        a2.errorbar(es, y, xerr=1.96 * ese, fmt="o", color="#ff7f0e", capsize=3)
        a2.set_xlabel("hedged ES 99 % (USD, a loss)")
        a1.set_yticks(y, labels)
        a1.invert_yaxis()
        title = "The model band: key figures under each model"
        caption = ("Liquidation probability and hedged 99 % expected shortfall under the configured model and each "
                   "alternative (total volatility at BTC's 10th/50th/90th percentile of 30-day realised volatility; "
                   "historical simulation), with 95 % intervals; the spread is the answer's model risk.")
    fig.suptitle(f"{title}\n{_subtitle(ds)}", fontsize=10)
    png = png_bytes(fig)
    return Figure("band", title, caption, png)


def figures(ds: xr.Dataset) -> list[Figure]:
    f = fig_band(ds)
    return [] if f is None else [f]
