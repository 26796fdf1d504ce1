"""Damage is never read as data (issue 12): a deleted, truncated or overwritten chunk, a
changed metadata file, a garbled marker, a damaged .nc variable are each a
``ResultFileError`` naming the variable, from ``sim.open_result`` (eager and lazy),
``hedgesim show`` and ``hedgesim report``: exit status 2 and one line on stderr, without
asyncio noise."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import sim
from sim.errors import ResultFileError

from resultkit import hedgesim, small_config


def _rewrite(path, data: bytes) -> None:
    path.write_bytes(data)


@pytest.mark.parametrize("var, chunk", [("hedged_pnl", "0.0"), ("liquidated", "0.0"), ("index_T", "0"),
                                        ("liquidation_probability", "0"), ("path", "0")])
def test_deleted_chunk_is_an_error_naming_the_variable(copy_of, var, chunk):
    store = copy_of("zarr")
    (store / var / chunk).unlink()
    for lazy in (False, True):  # a lazy open checks that every chunk is there
        with pytest.raises(ResultFileError, match=f"variable '{var}' is damaged: file '{var}/{chunk}' is missing"):
            sim.open_result(store, lazy=lazy)


def test_chunk_missing_from_the_grid_is_an_error_even_if_the_manifest_lacks_it(copy_of):
    """A chunk the array's shape and chunk grid need, absent on disk and from the marker's
    list (as if the writer had skipped it): never read as the fill value."""
    store = copy_of("zarr")
    (store / "liquidated" / "0.0").unlink()
    marker = json.loads((store / "hedgesim.json").read_text())
    del marker["files"]["liquidated/0.0"]
    (store / "hedgesim.json").write_text(json.dumps(marker))
    with pytest.raises(ResultFileError, match="variable 'liquidated' is damaged: its chunk '0.0' was never written"):
        sim.open_result(store)


@pytest.mark.parametrize("var, chunk", [("hedged_pnl", "0.0"), ("liquidated", "0.0"),
                                        ("liquidation_probability", "0"), ("value_at_risk", "0.0.0")])
def test_chunk_overwritten_with_random_bytes_of_the_same_size(copy_of, var, chunk):
    store = copy_of("zarr")
    f = store / var / chunk
    _rewrite(f, np.random.default_rng(1).bytes(f.stat().st_size))
    with pytest.raises(ResultFileError, match=f"variable '{var}' is damaged"):
        sim.open_result(store)
    lazy = sim.open_result(store, lazy=True)  # opens: the bytes are checked when the chunk is read
    other = "index_T" if var != "index_T" else "mark_T"
    assert np.isfinite(lazy[other].values).all()  # undamaged variables read fine
    with pytest.raises(ResultFileError, match=f"variable '{var}' is damaged"):
        lazy[var].values


@pytest.mark.parametrize("var, chunk", [("hedged_pnl", "0.0"), ("required_collateral", "0.0")])
def test_one_flipped_byte_fails_the_checksum(copy_of, var, chunk):
    store = copy_of("zarr")
    f = store / var / chunk
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0x01
    _rewrite(f, bytes(b))
    with pytest.raises(ResultFileError, match=f"variable '{var}' is damaged"):
        sim.open_result(store)
    with pytest.raises(ResultFileError, match=f"variable '{var}' is damaged"):
        sim.open_result(store, lazy=True)[var].isel(path=slice(0, 10)).values


def test_truncated_chunk_is_found_at_open(copy_of):
    store = copy_of("zarr")
    f = store / "funding" / "0.0"
    _rewrite(f, f.read_bytes()[:-7])
    with pytest.raises(ResultFileError, match=r"variable 'funding' is damaged: file 'funding/0.0' has \d+ bytes"):
        sim.open_result(store, lazy=True)


@pytest.mark.parametrize("name", [".zmetadata", ".zattrs", "hedged_pnl/.zarray", "liquidated/.zattrs"])
def test_changed_metadata_is_an_error(copy_of, name):
    store = copy_of("zarr")
    text = (store / name).read_text()
    _rewrite(store / name, text.replace("1", "2", 1).encode() if "1" in text else b"{}")
    with pytest.raises(ResultFileError, match="changed or is corrupt"):
        sim.open_result(store)


def test_missing_marker_is_an_error(copy_of):
    """A v1 store without hedgesim.json is an incomplete copy, not a result to trust."""
    store = copy_of("zarr")
    (store / "hedgesim.json").unlink()
    with pytest.raises(ResultFileError, match="marker hedgesim.json is missing"):
        sim.open_result(store)


def test_garbled_marker_is_an_error(copy_of):
    store = copy_of("zarr")
    _rewrite(store / "hedgesim.json", b'{"format": "hedgesim res')
    with pytest.raises(ResultFileError, match="marker hedgesim.json is damaged"):
        sim.open_result(store)


def _offset(blob: bytes, needle: bytes) -> int:
    at = blob.find(needle)
    assert at >= 0 and blob.find(needle, at + 1) < 0, "the variable's bytes are not found once in the file"
    return at


def test_nc_damaged_array_is_an_error_naming_the_variable(copy_of, good):
    path = copy_of("nc")
    blob = bytearray(path.read_bytes())
    at = _offset(bytes(blob), good["ds"]["required_collateral"].values.tobytes()[:256])
    blob[at + 100] ^= 0xFF
    _rewrite(path, bytes(blob))
    with pytest.raises(ResultFileError, match="variable 'required_collateral' is damaged"):
        sim.open_result(path)
    lazy = sim.open_result(path, lazy=True)
    assert np.isfinite(lazy["index_T"].values).all()
    with pytest.raises(ResultFileError, match="variable 'required_collateral' is damaged"):
        lazy["required_collateral"].values


def test_nc_changed_scalar_is_an_error(tmp_path):
    """Scalars cannot have HDF5's Fletcher-32 filter: their CRC-32 is an attribute."""
    import netCDF4

    path = tmp_path / "r.nc"
    sim.run(small_config(), paths=1024, seed=1, out=path)
    with netCDF4.Dataset(path, "r+") as nc:
        nc["liquidation_probability"][...] = 0.5
    with pytest.raises(ResultFileError, match="variable 'liquidation_probability' is damaged"):
        sim.open_result(path)


# --------------------------------------------------------------------------- the CLI, in real processes


def _one_error_line(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("hedgesim: error: ")
    assert "Traceback" not in proc.stderr and "Task was destroyed" not in proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_show_and_report_of_a_damaged_store(copy_of, tmp_path):
    store = copy_of("zarr")
    f = store / "hedged_pnl" / "0.0"
    _rewrite(f, np.random.default_rng(2).bytes(f.stat().st_size))
    _one_error_line(hedgesim("show", store), "variable 'hedged_pnl' is damaged")
    pytest.importorskip("matplotlib")
    _one_error_line(hedgesim("report", store, "--out", tmp_path / "rep"), "variable 'hedged_pnl' is damaged")


def test_show_of_a_store_with_a_deleted_chunk(copy_of):
    store = copy_of("zarr")
    (store / "liquidated" / "0.0").unlink()
    proc = hedgesim("show", store)
    _one_error_line(proc, "variable 'liquidated' is damaged")
    assert proc.stdout == ""


@pytest.mark.parametrize("target", [".zmetadata", "hedgesim.json", "hedged_pnl/.zarray", ".zgroup"])
def test_garbled_metadata_gives_one_line_without_asyncio_noise(copy_of, target):
    store = copy_of("zarr")
    f = store / target
    _rewrite(f, f.read_bytes()[: max(1, f.stat().st_size // 2)])
    _one_error_line(hedgesim("show", store), str(store))


@pytest.mark.parametrize("target", ["zarr.json", "hedged_pnl/zarr.json"])
def test_garbled_zarr_json_of_a_store_before_v1(tmp_path, target):
    """Results written before format v1 (Zarr format 3, no marker) with a garbled
    zarr.json: one line, no "Task was destroyed" lines."""
    import warnings

    ds = sim.run(small_config(), paths=1024, seed=1)
    store = tmp_path / "old.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.to_zarr(store, mode="w", consolidated=False, zarr_format=3)
    f = store / target
    _rewrite(f, f.read_bytes()[: f.stat().st_size // 2])
    for args in (["show", store], ["config", store]):
        _one_error_line(hedgesim(*args), str(store))
    assert os.path.exists(store)
