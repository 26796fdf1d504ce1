"""Atomic writing and the one reader of result files (``.zarr`` or ``.nc``).

A result is first written under a temporary name in the same folder and then renamed,
so an interrupted run never leaves a half-written file under the final name
(docs/outputs.md).
"""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from pathlib import Path

import xarray as xr

from sim.errors import ResultFileError

SUFFIXES = (".zarr", ".nc")


def check_path(path: str | Path) -> Path:
    p = Path(path)
    if p.suffix not in SUFFIXES:
        raise ResultFileError(f'output path {str(p)!r}: unknown format "{p.suffix}"; use ".zarr" or ".nc"')
    return p


def write(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` atomically; replaces an existing result of that name
    (but never a folder or file that is not a result store)."""
    p = check_path(path)
    if p.is_dir() and not is_zarr_store(p):
        raise ResultFileError(f"output path {str(p)!r}: exists and is not a result store; not replacing it")
    if p.exists() and p.suffix == ".zarr" and not p.is_dir():
        raise ResultFileError(f"output path {str(p)!r}: exists and is a file, not a .zarr store")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        if p.suffix == ".zarr":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds.to_zarr(tmp, mode="w", consolidated=False)
        else:
            ds.to_netcdf(tmp, engine="netcdf4")
        replace_atomically(tmp, p)
    except BaseException:
        _remove(tmp)
        raise
    return p


def read(path: str | Path, *, lazy: bool = False) -> xr.Dataset:
    """Open a result written by :func:`write` or by a distributed run: loaded into memory,
    or with ``lazy=True`` left on disk (read a slice at a time: large stores are fine).
    A missing, foreign, corrupt or incomplete file raises ``ResultFileError``."""
    p = check_path(path)
    if not p.exists():
        raise ResultFileError(f"result {str(p)!r}: not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if p.suffix == ".zarr":
                ds = xr.open_zarr(p, consolidated=False, chunks=None)
            else:
                ds = xr.open_dataset(p, engine="netcdf4", chunks=None)
        if ds.attrs.get("complete") is False:  # a distributed run's store before its last shard (sim.distributed)
            raise ResultFileError(f"result {str(p)!r}: not complete (an interrupted distributed run); finish it "
                                  "with hedgesim run ... --resume")
        ds = upgrade_names(ds)
        return ds if lazy else ds.load()
    except ResultFileError:
        raise
    except Exception as exc:  # corrupt or foreign file
        raise ResultFileError(f"result {str(p)!r}: cannot be read ({type(exc).__name__}: {exc})") from None


# names of results written before format v1, which shadowed Dataset methods (ds.var, ds.quantile)
LEGACY_NAMES = {"var": "value_at_risk", "var_se": "value_at_risk_se", "es": "expected_shortfall",
                "es_se": "expected_shortfall_se", "quantile": "quantile_level"}


def upgrade_names(ds: xr.Dataset) -> xr.Dataset:
    """A result written before format v1 with today's variable and coordinate names."""
    old = {a: b for a, b in LEGACY_NAMES.items() if a in ds.variables and b not in ds.variables}
    return ds.rename(old) if old else ds


def is_zarr_store(p: Path) -> bool:
    return p.suffix == ".zarr" and ((p / "zarr.json").exists() or (p / ".zgroup").exists())


def replace_atomically(tmp: Path, final: Path) -> None:
    if final.exists() and final.is_dir():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
        os.replace(tmp, final)
        _remove(old)
    else:
        os.replace(tmp, final)


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists():
        p.unlink()
