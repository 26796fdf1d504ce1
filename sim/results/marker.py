"""The marker of a ``.zarr`` result written by hedgesim: ``hedgesim.json``, written last.

It says that the store is hedgesim's, complete, and which files it consists of::

    {"format": "hedgesim result", "format_version": 1, "kind": "run", "zarr_format": 2,
     "created": "2026-12-01T13:05:09Z", "hedgesim_version": "0.1.0",
     "files": {"hedged_pnl/0.0": 81234, ...},          # every file hedgesim wrote: its size
     "metadata_crc32": {".zmetadata": 1234567, ...}}   # every metadata file: its CRC-32

* ``write_marker``: lists the store and writes the marker (the last file of a write).
* ``read_marker``: the marker, ``None`` when there is none (another program's store, or a
  result written before format v1); ``ResultFileError`` when it is damaged.
* ``verify``: every listed file is there with its size, every metadata file has its
  checksum, and every chunk the arrays' shapes and chunk grids need is listed; else
  ``ResultFileError`` naming the variable. (The bytes of each chunk are checked when it
  is read: every array has a CRC-32 filter, sim.results.encoding.)
* ``unlisted_files``: files in the store that the marker does not list (a user's notes):
  hedgesim does not replace such a store.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import zlib
from pathlib import Path

from sim.errors import ResultFileError
from sim.results.meta import FORMAT_VERSION, version

MARKER = "hedgesim.json"
FORMAT_NAME = "hedgesim result"
METADATA_NAMES = (".zgroup", ".zattrs", ".zarray", ".zmetadata")


def _files(store: Path) -> list[str]:
    """Every file under ``store`` (relative, '/'-separated), the marker excepted."""
    out = []
    for root, _dirs, files in os.walk(store):
        for f in files:
            rel = (Path(root) / f).relative_to(store).as_posix()
            if rel != MARKER:
                out.append(rel)
    return sorted(out)


def _crc(path: Path) -> int:
    return zlib.crc32(path.read_bytes())


def write_marker(store: Path, kind: str, attrs: dict, zarr_format: int = 2) -> dict:
    """List ``store`` and write its marker (through a temporary file and a rename)."""
    files = _files(store)
    marker = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "zarr_format": zarr_format,
        "created": str(attrs.get("created", "")),
        "hedgesim_version": version(),
        "files": {f: (store / f).stat().st_size for f in files},
        "metadata_crc32": {f: _crc(store / f) for f in files if f.rpartition("/")[2] in METADATA_NAMES},
    }
    tmp = store / (MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=0, sort_keys=True), encoding="utf-8")
    os.replace(tmp, store / MARKER)
    return marker


def read_marker(store: Path) -> dict | None:
    p = store / MARKER
    if not p.exists():
        return None
    try:
        marker = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResultFileError(f"result {str(store)!r}: its marker {MARKER} is damaged ({exc})") from None
    if not isinstance(marker, dict) or marker.get("format") != FORMAT_NAME:
        raise ResultFileError(f"result {str(store)!r}: its {MARKER} is not a hedgesim marker")
    v = marker.get("format_version")
    if not isinstance(v, int) or v < 1:
        raise ResultFileError(f"result {str(store)!r}: its marker {MARKER} has no valid format_version")
    if v > FORMAT_VERSION:
        raise ResultFileError(f"result {str(store)!r}: written in result format {v} by hedgesim "
                              f"{marker.get('hedgesim_version', '?')}; this hedgesim ({version()}) reads format "
                              f"{FORMAT_VERSION} and older: upgrade hedgesim")
    if not isinstance(marker.get("files"), dict) or not isinstance(marker.get("metadata_crc32"), dict):
        raise ResultFileError(f"result {str(store)!r}: its marker {MARKER} is damaged (no file list)")
    return marker


def _variable(rel: str) -> str:
    return rel.partition("/")[0] if "/" in rel else ""


def _damaged(store: Path, rel: str, what: str) -> ResultFileError:
    var = _variable(rel)
    where = f"variable {var!r} is damaged" if var else "the store is damaged"
    return ResultFileError(f"result {str(store)!r}: {where}: {what}")


def verify(store: Path, marker: dict) -> None:
    """Check ``store`` against its marker (see the module docstring)."""
    files = marker["files"]
    for rel, size in files.items():
        try:
            st = (store / rel).stat()
        except OSError:
            raise _damaged(store, rel, f"file {rel!r} is missing") from None
        if st.st_size != size:
            raise _damaged(store, rel, f"file {rel!r} has {st.st_size} bytes, {size} were written")
    for rel, crc in marker["metadata_crc32"].items():
        if _crc(store / rel) != crc:
            raise _damaged(store, rel, f"metadata file {rel!r} was changed or is corrupt (checksum differs)")
    if marker.get("zarr_format") == 2:
        _verify_grid(store, files)


def _verify_grid(store: Path, files: dict) -> None:
    """Every chunk that an array's shape and chunk grid need is a listed file."""
    try:
        meta = json.loads((store / ".zmetadata").read_text(encoding="utf-8"))["metadata"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResultFileError(f"result {str(store)!r}: the store is damaged (.zmetadata: {exc})") from None
    for key, arr in meta.items():
        if not key.endswith("/.zarray"):
            continue
        name = key[: -len("/.zarray")]
        try:
            shape, chunks = arr["shape"], arr["chunks"]
            sep = arr.get("dimension_separator") or "."
            counts = [math.ceil(s / c) if s else 0 for s, c in zip(shape, chunks, strict=True)]
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            raise ResultFileError(f"result {str(store)!r}: variable {name!r} is damaged (its metadata)") from None
        if not shape:
            keys = ["0"]
        else:
            keys = (sep.join(map(str, idx)) for idx in itertools.product(*(range(n) for n in counts)))
        for k in keys:
            if f"{name}/{k}" not in files:
                raise ResultFileError(f"result {str(store)!r}: variable {name!r} is damaged: its chunk {k!r} "
                                      "was never written")


def unlisted_files(store: Path, marker: dict) -> list[str]:
    listed = set(marker["files"])
    return [f for f in _files(store) if f not in listed]
