"""How a result is laid out on disk in format v1 (docs/outputs.md, "Files").

* ``.zarr``: Zarr format 2 with consolidated metadata (``.zmetadata``); every array has
  a CRC-32 filter (``numcodecs.CRC32``: each chunk carries the checksum of its bytes,
  verified whenever it is read) and Blosc-LZ4 compression; every chunk is written, also
  one that holds only the fill value (a missing chunk is damage, never "all NaN").
* ``.nc``: netCDF-4 (HDF5) with the Fletcher-32 checksum filter on every array that has
  a dimension; the CRC-32 of the others (scalars, strings) in the global attribute
  ``hedgesim_crc32``.
* Chunks: every variable with a ``path`` dim has the same chunks along ``path`` (whole
  random blocks, at most CHUNK_BYTES for the widest variable), every one with a
  ``sample`` dim the same along ``sample``; other dims are whole.
* Strings: fixed-width unicode (numpy ``<U``), in both formats.
"""

from __future__ import annotations

import json
import zlib

import numpy as np
import xarray as xr

from sim.kernel import rng

ZARR_FORMAT = 2
CHUNK_BYTES = 64 << 20  # per variable and chunk
CHUNKED_DIMS = ("path", "sample")
NC_CRC_ATTR = "hedgesim_crc32"


def rows_per_chunk(rows: int, row_bytes: int) -> int:
    """Rows of a chunk along ``path`` (or ``sample``): whole random blocks, at most
    CHUNK_BYTES of a row of ``row_bytes``; all the rows when they fit."""
    per = max(rng.BLOCK, (CHUNK_BYTES // max(1, row_bytes)) // rng.BLOCK * rng.BLOCK)
    return max(1, min(rows, per))


def prepared(ds: xr.Dataset) -> xr.Dataset:
    """A shallow copy of ``ds`` for writing: no encoding left from a file it was read
    from, strings as fixed-width unicode."""
    out = ds.copy(deep=False)
    strings = {}
    for name, var in out.variables.items():
        var.encoding = {}
        if var.dtype == object and var.size and all(isinstance(x, str) for x in np.asarray(var.values).ravel()):
            strings[name] = var.astype(str)
    coords = {k: v for k, v in strings.items() if k in out.coords}
    if coords:
        out = out.assign_coords(coords)
    for name in strings.keys() - coords.keys():
        out[name] = strings[name]
    return out


def chunks(ds: xr.Dataset, rows: dict[str, int] | None = None) -> dict[str, tuple[int, ...]]:
    """Chunk shape of every variable (see the module docstring); ``rows``: the rows per
    chunk along ``path`` / ``sample`` when the caller chose them (a distributed store)."""
    along = dict(rows or {})
    for dim in CHUNKED_DIMS:
        if dim in ds.dims and dim not in along:
            widest = max((int(np.prod([s for d, s in zip(v.dims, v.shape) if d != dim], dtype=np.int64))
                          * v.dtype.itemsize for v in ds.variables.values() if dim in v.dims), default=8)
            along[dim] = rows_per_chunk(ds.sizes[dim], widest)
    return {name: tuple(along.get(d, max(1, s)) for d, s in zip(v.dims, v.shape)) for name, v in ds.variables.items()}


def zarr_encoding(ds: xr.Dataset, rows: dict[str, int] | None = None) -> dict[str, dict]:
    import numcodecs

    shape = chunks(ds, rows)
    return {name: {"chunks": shape[name], "filters": (numcodecs.CRC32(),),
                   "compressors": (numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),)}
            for name in ds.variables}


def unchecked_in_netcdf(var: xr.Variable) -> bool:
    """Variables HDF5 cannot give a Fletcher-32 filter: scalars and strings."""
    return var.ndim == 0 or var.dtype.kind in "USO"


def netcdf_encoding(ds: xr.Dataset) -> dict[str, dict]:
    shape = chunks(ds)
    return {name: {"chunksizes": shape[name], "fletcher32": True}
            for name, v in ds.variables.items() if not unchecked_in_netcdf(v) and 0 not in v.shape}


def crc_of(var: xr.Variable) -> int:
    values = np.asarray(var.values)
    if values.dtype.kind in "USO":
        return zlib.crc32("\x00".join(str(x) for x in values.ravel()).encode("utf-8"))
    return zlib.crc32(np.ascontiguousarray(values).tobytes())


def netcdf_checksums(ds: xr.Dataset) -> str:
    """The ``hedgesim_crc32`` attribute: JSON of the CRC-32 of every unchecked variable."""
    return json.dumps({name: crc_of(v) for name, v in ds.variables.items() if unchecked_in_netcdf(v)},
                      sort_keys=True)
