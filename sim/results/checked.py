"""Reading a result's variables so that damage is an error naming the variable.

``checked(ds, path)`` puts every lazily loaded variable of a Dataset opened from ``path``
behind a wrapper: whenever any part of it is read (now by ``load``, or later from a lazy
Dataset, e.g. by ``hedgesim report``), a failure of the read (a CRC-32 or Fletcher-32
checksum that does not match, a chunk that does not decompress, an HDF error) is raised
as ``ResultFileError``: "result 'R': variable 'hedged_pnl' is damaged (...)".
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from sim.errors import ResultFileError


class CheckedArray(BackendArray):
    """A lazily indexed array whose reads raise ``ResultFileError`` naming the variable."""

    def __init__(self, array, name: str, path: str):
        self.array, self.name, self.path = array, name, path
        self.shape, self.dtype = array.shape, array.dtype

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.OUTER, self._read)

    def _read(self, key: tuple) -> np.ndarray:
        try:
            if all(isinstance(k, (int, np.integer, slice)) for k in key):
                out = self.array[indexing.BasicIndexer(key)]
            else:
                out = self.array.oindex[indexing.OuterIndexer(key)]
            return np.asarray(out)
        except ResultFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the codec or HDF5 raises on damaged bytes
            raise damaged(self.path, self.name, exc) from None


def damaged(path: str, name: str, exc: BaseException) -> ResultFileError:
    return ResultFileError(f"result {path!r}: variable {name!r} is damaged ({type(exc).__name__}: {exc})")


def checked(ds: xr.Dataset, path: str) -> xr.Dataset:
    """``ds`` (just opened, nothing loaded) with every lazily loaded variable checked."""
    wrapped = {}
    for name, var in ds.variables.items():
        if isinstance(var, xr.IndexVariable):  # read (and checked) when the file was opened
            continue
        inner = var._data  # the backend's lazy array (xarray's backend protocol)
        while isinstance(inner, (indexing.MemoryCachedArray, indexing.CopyOnWriteArray)):
            inner = inner.array
        if not isinstance(inner, indexing.ExplicitlyIndexed):
            continue
        lazy = indexing.LazilyIndexedArray(CheckedArray(inner, str(name), path))
        data = indexing.MemoryCachedArray(indexing.CopyOnWriteArray(lazy))
        wrapped[name] = xr.Variable(var.dims, data, var.attrs, var.encoding)
    if not wrapped:
        return ds
    out = ds.copy(deep=False)
    for name, var in wrapped.items():
        out.variables[name]._data = var._data  # same dims, attrs and encoding; only the reader changes
    return out
