"""The line every figure of ``hedgesim report`` carries under its title: which config,
how many paths and which horizon it shows (``configs/default.toml · 4,000 paths · horizon 5d``)."""

from __future__ import annotations

import xarray as xr


def subtitle(ds: xr.Dataset) -> str:
    """Config source, path count and horizon of a result (backtest: paths per forecast and
    the window); parts the result does not record are left out."""
    a = ds.attrs
    parts = [str(a.get("config_source", "") or "")]
    if a.get("title") == "hedgesim walk-forward backtest":
        n, horizon = a.get("paths_per_forecast"), f"windows of {a.get('window', '')}"
    else:
        n, horizon = a.get("paths"), f"horizon {a.get('horizon', '')}" if a.get("horizon") else ""
    if n is not None:
        try:
            parts.append(f"{int(n):,} paths" + (" per forecast" if "windows" in horizon else ""))
        except (TypeError, ValueError):
            pass
    parts.append(horizon)
    return " · ".join(p for p in parts if p)


def stamp(fig, ds: xr.Dataset, title: str = "", fontsize: float = 11) -> None:
    """``fig.suptitle``: ``title`` (when given) over the subtitle line of ``ds``."""
    sub = subtitle(ds)
    fig.suptitle(f"{title}\n{sub}" if title else sub, fontsize=fontsize if title else 9.5)
