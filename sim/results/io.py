"""Result files (``.zarr`` or ``.nc``): the one writer and the one reader (docs/outputs.md).

Format v1 (sim.results.encoding, sim.results.marker, sim.results.meta):

* Ownership: a result is hedgesim's when it carries hedgesim's marker: ``hedgesim.json``
  (written last) in a ``.zarr`` store, the global attribute ``hedgesim_format_version``
  in a ``.nc`` file. ``write`` replaces only such a result (with a note), and only when
  the store holds no file its marker does not list; it refuses anything else (a regular
  file, another program's store, a result written before format v1) with
  ``ResultFileError``. ``check_output`` is the same check, made before simulating.
* Atomicity: a result is written under ``.NAME.tmp-<pid>-<hex>`` in the target folder and
  renamed; on any failure (or interruption) the temporary is removed and nothing is left
  under the final name. Writes hold the lock ``.NAME.lock`` (sim.results.lock) and first
  sweep temporaries of the same name left by writes that did not finish. SIGINT/SIGTERM
  during the write let it finish, then raise ``InterruptedAfterWrite`` (sim.results.signals).
* Integrity: ``read`` checks the marker's file list, sizes and metadata checksums and that
  every chunk exists before opening; every chunk's checksum is checked when it is read.
  Damage is ``ResultFileError`` naming the variable, also for lazy reads.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Callable

import xarray as xr

from sim.errors import InterruptedAfterWrite, ResultFileError
from sim.results import encoding, lock, marker, meta, signals
from sim.results.checked import checked, damaged
from sim.results.kinds import kind_of

SUFFIXES = (".zarr", ".nc")
NC_OWNER_ATTR = "hedgesim_format_version"  # global attribute of a .nc result: hedgesim's marker
NC_KIND_ATTR = "hedgesim_kind"
Note = Callable[[str], None] | None


def check_path(path: str | Path) -> Path:
    p = Path(path)
    if p.suffix not in SUFFIXES:
        raise ResultFileError(f'output path {str(p)!r}: unknown format "{p.suffix}"; use ".zarr" or ".nc"')
    return p


def check_output(path: str | Path) -> bool:
    """Whether ``path`` may be written: False if nothing is there, True if it is a result of
    hedgesim's own that a write replaces; ``ResultFileError`` for anything else."""
    p = check_path(path)
    where = f"output path {str(p)!r}"
    if p.is_symlink():
        raise ResultFileError(f"{where}: is a symbolic link; not replacing it (give the path it points to, or "
                              "another path)")
    if not p.exists():
        return False
    remove = f"remove it yourself (rm -r {str(p)!r}) or choose another output path"
    if p.suffix == ".zarr":
        if not p.is_dir():
            raise ResultFileError(f"{where}: exists and is a file, not a hedgesim result; not replacing it")
        try:
            mark = marker.read_marker(p)
        except ResultFileError as exc:
            raise ResultFileError(f"{where}: not replacing it ({exc}); {remove}") from None
        if mark is None:
            if legacy_result(p):
                raise ResultFileError(f"{where}: is a result written before hedgesim's result format v1 (it has "
                                      f"no {marker.MARKER}); hedgesim does not replace it: {remove}")
            raise ResultFileError(f"{where}: exists and is not a hedgesim result (no {marker.MARKER}); "
                                  "not replacing it")
        extra = marker.unlisted_files(p, mark)
        if extra:
            listed = ", ".join(repr(f) for f in extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
            raise ResultFileError(f"{where}: is a hedgesim result, but holds files hedgesim did not write "
                                  f"({listed}); not replacing it: move them out, or choose another output path")
        return True
    if p.is_dir():
        raise ResultFileError(f"{where}: exists and is a folder, not a hedgesim result; not replacing it")
    attrs = netcdf_attrs(p)
    if attrs is None or NC_OWNER_ATTR not in attrs:
        if attrs is not None and "hedgesim_version" in attrs:
            raise ResultFileError(f"{where}: is a result written before hedgesim's result format v1 (no "
                                  f"{NC_OWNER_ATTR} attribute); hedgesim does not replace it: {remove}")
        raise ResultFileError(f"{where}: exists and is not a hedgesim result; not replacing it")
    return True


def legacy_result(p: Path) -> bool:
    """A ``.zarr`` store of hedgesim before format v1 (its root attrs name a hedgesim version)."""
    for meta_file, key in (("zarr.json", "attributes"), (".zattrs", None)):
        try:
            doc = json.loads((p / meta_file).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        attrs = doc.get(key, {}) if key and isinstance(doc, dict) else doc
        if isinstance(attrs, dict) and "hedgesim_version" in attrs:
            return True
    return False


def netcdf_attrs(p: Path) -> dict | None:
    """The global attributes of a netCDF file; None if it is not one."""
    try:
        import netCDF4

        with netCDF4.Dataset(p, "r") as nc:
            return {k: nc.getncattr(k) for k in nc.ncattrs()}
    except Exception:  # noqa: BLE001 - not netCDF, unreadable
        return None


def write(ds: xr.Dataset, path: str | Path, *, note: Note = lock.note_to_stderr) -> Path:
    """Write ``ds`` to ``path`` (``.zarr`` or ``.nc``) in result format v1, atomically;
    replaces a result of hedgesim's own there (``note`` says so), never anything else.
    Any failure is ``ResultFileError`` naming the path and the cause, and leaves nothing
    behind (see the module docstring)."""
    p = check_path(path)
    placed = False  # the result is complete under its final name
    try:
        with lock.acquire(p, note):
            if check_output(p) and note is not None:
                note(f"replacing the existing result {str(p)!r}")
            lock.sweep(p, note)
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = lock.temp_path(p)
            with signals.held(p):  # SIGINT/SIGTERM: the write finishes first (InterruptedAfterWrite), see there
                try:
                    data = encoding.prepared(ds)
                    if "format_version" not in data.attrs:  # a Dataset not built by hedgesim's builders
                        meta.stamp(data, "sim.write_result(...)")
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        if p.suffix == ".zarr":
                            write_zarr(data, tmp)
                        else:
                            write_netcdf(data, tmp)
                    check_output(p)  # nothing else appeared there meanwhile
                    replace_atomically(tmp, p)
                    placed = True
                except BaseException as exc:
                    if not placed:
                        remove(tmp)
                    if isinstance(exc, Exception) and not isinstance(exc, ResultFileError):
                        raise ResultFileError(f"result {str(p)!r}: cannot be written ({cause(exc)})") from exc
                    raise
    except KeyboardInterrupt as exc:  # e.g. while the signal handlers or the lock are being restored
        if placed and not isinstance(exc, InterruptedAfterWrite):
            raise InterruptedAfterWrite.after(exc, p) from None
        raise
    return p


def cause(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def write_zarr(data: xr.Dataset, store: Path) -> None:
    for name, enc in encoding.zarr_encoding(data).items():
        data.variables[name].encoding = enc
    data.to_zarr(store, mode="w-", consolidated=True, zarr_format=encoding.ZARR_FORMAT, write_empty_chunks=True)
    marker.write_marker(store, kind_of(data), data.attrs)


def write_netcdf(data: xr.Dataset, path: Path) -> None:
    data.attrs = {**data.attrs, NC_OWNER_ATTR: meta.FORMAT_VERSION, NC_KIND_ATTR: kind_of(data),
                  encoding.NC_CRC_ATTR: encoding.netcdf_checksums(data)}
    for name, enc in encoding.netcdf_encoding(data).items():
        data.variables[name].encoding = enc
    data.to_netcdf(path, engine="netcdf4", format="NETCDF4")


def read(path: str | Path, *, lazy: bool = False) -> xr.Dataset:
    """Open a result written by :func:`write` or by a distributed run: loaded into memory,
    or with ``lazy=True`` left on disk (read a slice at a time: large stores are fine).
    A missing, foreign, corrupt, damaged or incomplete file raises ``ResultFileError``
    (for lazy reads also later, when a damaged chunk is read); results written before
    format v1 are read without the integrity checks."""
    p = check_path(path)
    if not p.exists():
        raise ResultFileError(f"result {str(p)!r}: not found")
    try:
        if p.suffix == ".zarr":
            ds = _open_zarr(p)
        else:
            ds = _open_netcdf(p)
    except ResultFileError:
        raise
    except Exception as exc:  # corrupt or foreign file
        raise ResultFileError(f"result {str(p)!r}: cannot be read ({type(exc).__name__}: {exc})") from None
    ds = upgrade_names(checked(ds, str(p)))
    return ds if lazy else ds.load()


def _open_zarr(p: Path) -> xr.Dataset:
    if not p.is_dir():
        raise ResultFileError(f"result {str(p)!r}: is a file, not a .zarr store")
    _check_metadata_json(p)
    _refuse_incomplete(p, _root_attrs(p))
    mark = marker.read_marker(p)
    if mark is not None:
        marker.verify(p, mark)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_zarr(p, consolidated=mark is not None, chunks=None)
    if mark is None and "format_version" in ds.attrs:
        raise ResultFileError(f"result {str(p)!r}: its marker {marker.MARKER} is missing (an incomplete copy, or "
                              "a damaged store)")
    return ds


def _open_netcdf(p: Path) -> xr.Dataset:
    if p.is_dir():
        raise ResultFileError(f"result {str(p)!r}: is a folder, not a .nc file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_dataset(p, engine="netcdf4", chunks=None)
    _refuse_incomplete(p, ds.attrs)
    sums = ds.attrs.get(encoding.NC_CRC_ATTR)
    if sums:
        for name, crc in json.loads(sums).items():
            if name not in ds.variables:
                raise ResultFileError(f"result {str(p)!r}: variable {name!r} is missing")
            try:
                ok = encoding.crc_of(ds.variables[name]) == crc
            except Exception as exc:  # noqa: BLE001 - HDF errors
                raise damaged(str(p), name, exc) from None
            if not ok:
                raise ResultFileError(f"result {str(p)!r}: variable {name!r} is damaged (checksum differs)")
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in (NC_OWNER_ATTR, NC_KIND_ATTR, encoding.NC_CRC_ATTR)}
    return ds


def _refuse_incomplete(p: Path, attrs: dict) -> None:
    if attrs.get("complete") is False:  # a distributed run's store before its last shard (sim.distributed)
        raise ResultFileError(f"result {str(p)!r}: not complete (an interrupted distributed run); finish it "
                              "with hedgesim run ... --resume")


def _root_attrs(p: Path) -> dict:
    for meta_file, key in (("zarr.json", "attributes"), (".zattrs", None)):
        f = p / meta_file
        if f.exists():
            doc = json.loads(f.read_text(encoding="utf-8"))
            attrs = doc.get(key, {}) if key else doc
            return attrs if isinstance(attrs, dict) else {}
    return {}


def _check_metadata_json(p: Path) -> None:
    """Every metadata document of the store (root and arrays) is JSON: zarr's own reader
    would fail on it in a background task, with noise on stderr."""
    for d in [p, *(c for c in p.iterdir() if c.is_dir())]:
        for name in ("zarr.json", ".zgroup", ".zattrs", ".zarray", ".zmetadata"):
            f = d / name
            if not f.exists():
                continue
            try:
                doc = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                what = f"variable {d.name!r} is damaged" if d != p else "cannot be read"
                raise ResultFileError(f"result {str(p)!r}: {what} ({f.relative_to(p).as_posix()}: "
                                      f"{type(exc).__name__}: {exc})") from None
            if not isinstance(doc, dict):
                raise ResultFileError(f"result {str(p)!r}: cannot be read ({f.relative_to(p).as_posix()}: "
                                      "not a JSON object)")


# names of results written before format v1, which shadowed Dataset methods (ds.var, ds.quantile)
LEGACY_NAMES = {"var": "value_at_risk", "var_se": "value_at_risk_se", "es": "expected_shortfall",
                "es_se": "expected_shortfall_se", "quantile": "quantile_level"}


def upgrade_names(ds: xr.Dataset) -> xr.Dataset:
    """A result written before format v1 with today's variable and coordinate names."""
    old = {a: b for a, b in LEGACY_NAMES.items() if a in ds.variables and b not in ds.variables}
    return ds.rename(old) if old else ds


def replace_atomically(tmp: Path, final: Path) -> None:
    """Put ``tmp`` under the name ``final``; a folder there is first moved aside (to
    ``.NAME.old-<pid>-<hex>``) and removed after the rename."""
    if final.exists() and final.is_dir() and not final.is_symlink():
        old = lock.temp_path(final, "old")
        os.replace(final, old)
        os.replace(tmp, final)
        remove(old)
    else:
        os.replace(tmp, final)


def remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink()
