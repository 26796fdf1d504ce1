"""The result store of a distributed run: its layout, the shard markers, completion.

The store is built under ``OUT.partial`` in result format v1 (sim.results.encoding: Zarr
format 2, a CRC-32 filter on every array, every chunk written) with
``attrs["complete"] = false`` and one marker per shard (``shard_done``: its kernel
seconds, 0 = not stored). When every shard is marked done, :func:`finish` computes the
summary from the stored data (:mod:`sim.results.streamed`), writes it, drops the
markers, sets ``attrs["complete"] = true``, consolidates the metadata, writes hedgesim's
marker ``hedgesim.json`` (the file list) last and renames the store to ``OUT``. So a
store under the final name is always complete, and an interrupted run leaves
``OUT.partial`` (never claiming completeness), which ``--resume`` completes
(docs/cluster.md).
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from sim import results
from sim.config import Config
from sim.distributed.shards import chunk_paths_for, shards_of
from sim.errors import DistributedError
from sim.kernel import rng
from sim.results import encoding, io, marker, meta
from sim.results.streamed import summarize_store

MARKER = "shard_done"  # zarr array in the partial store: per shard its kernel seconds, 0 = not done
LOCAL_SUMMARY_BYTES = 256 << 20  # smaller stores are summarised in this process (no task round trips)


def _split(ds: xr.Dataset) -> tuple[list[str], list[str]]:
    per_path = [v for v in ds.data_vars if "path" in ds[v].dims]
    samples = [v for v in ds.data_vars if "sample" in ds[v].dims]
    return per_path, samples


def create_store(store: Path, ds0: xr.Dataset, cfg: Config, paths: int, seed: int, shard_paths: int,
                 extra_attrs: dict) -> dict:
    """Write the metadata of the whole result under ``store`` (no per-path data yet):
    layout and attrs from the first block's result ``ds0``, per-path arrays chunked along
    ``path``."""
    import dask.array as da

    per_path, samples = _split(ds0)
    row_bytes = max(int(np.prod(ds0[v].shape[1:], dtype=np.int64)) * ds0[v].dtype.itemsize for v in per_path)
    chunk = chunk_paths_for(shard_paths, row_bytes)
    n_samples = min(cfg.simulation.save_paths, paths)

    summary_coords = {"level", "quantile_level", "portfolio"}
    keep = [v for v in ds0.data_vars if v not in results.SUMMARY_VARS and v not in per_path and v not in samples]
    tmpl = ds0[keep].drop_vars([c for c in ds0.coords if c in summary_coords or c == "path" or c == "sample"],
                               errors="ignore")
    tmpl = tmpl.drop_vars([c for c in tmpl.coords if c in summary_coords], errors="ignore")
    tmpl = tmpl.assign_coords(xr.Coordinates(
        {"path": xr.Variable("path", da.arange(paths, chunks=chunk, dtype=np.int64), ds0["path"].attrs)}, indexes={}))
    for v in per_path:
        x = ds0[v]
        shape = (paths,) + x.shape[1:]
        tmpl[v] = (x.dims, da.empty(shape, chunks=(chunk,) + x.shape[1:], dtype=x.dtype), x.attrs)
    if samples and n_samples > 0:
        tmpl = tmpl.assign_coords(sample=("sample", np.arange(n_samples), ds0["sample"].attrs),
                                  sample_time=ds0["sample_time"])
        for v in samples:
            x = ds0[v]
            shape = (n_samples,) + x.shape[1:]
            tmpl[v] = (x.dims, da.empty(shape, chunks=(min(chunk, n_samples),) + x.shape[1:], dtype=x.dtype),
                       x.attrs)
    n_shards = len(shards_of(paths, shard_paths))
    layout = {"paths": int(paths), "seed": int(seed), "shard_paths": int(shard_paths), "chunk_paths": int(chunk),
              "shards": n_shards, "config": cfg.to_json(), "rng_block_paths": rng.BLOCK,
              "per_path": per_path, "samples": samples if n_samples > 0 else [],
              "format_version": meta.FORMAT_VERSION}
    attrs = dict(ds0.attrs)
    attrs.update({"paths": int(paths), "complete": False, "distributed": json.dumps(layout)})
    attrs.update(extra_attrs)
    attrs.pop("value_threshold_usd", None)  # set again with the summary
    tmpl.attrs = attrs
    # the shard markers: one chunk per shard, so workers never write the same chunk
    tmpl[MARKER] = (("shard",), da.zeros(n_shards, chunks=1, dtype=np.float64),
                    {"units": "s", "long_name": "kernel seconds of each stored shard (0 or NaN: not stored)"})
    meta.describe_coords(tmpl)
    rows = {"path": chunk, "sample": min(chunk, max(1, n_samples))}
    for name, enc in encoding.zarr_encoding(tmpl, rows).items():
        tmpl.variables[name].encoding = enc
    tmpl.variables[MARKER].encoding["chunks"] = (1,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tmpl.to_zarr(store, mode="w-", compute=False, consolidated=False, zarr_format=encoding.ZARR_FORMAT,
                     write_empty_chunks=True)
    return layout


def read_layout(store: Path) -> dict:
    import zarr

    g = zarr.open_group(str(store), mode="r")
    return json.loads(g.attrs["distributed"])


def check_resume(part: Path, cfg: Config, paths: int, seed: int, shard_paths: int | None) -> dict:
    """The layout of the interrupted run's store ``part``, if this run may complete it."""
    try:
        layout = read_layout(part)
    except Exception as exc:  # noqa: BLE001 - any unreadable store
        raise DistributedError(f"{str(part)!r}: cannot be resumed ({type(exc).__name__}: {exc}); remove it") from None
    if layout["config"] != cfg.to_json() or layout["paths"] != paths or layout["seed"] != seed:
        raise DistributedError(f"--resume: {str(part)!r} was started with another config, path count or seed; "
                               "run the same command as before, or remove it to start again")
    if shard_paths and shard_paths != layout["shard_paths"]:
        raise DistributedError(f"--shard-paths {shard_paths}: the interrupted run used {layout['shard_paths']}; "
                               "a resumed run keeps its shards (leave --shard-paths out)")
    if layout.get("rng_block_paths") != rng.BLOCK:
        raise DistributedError(f"{str(part)!r}: written with another random block size; remove it")
    if layout.get("format_version") != meta.FORMAT_VERSION:
        raise DistributedError(f"{str(part)!r}: written by a hedgesim before result format v1; it cannot be "
                               "resumed: remove it to start again")
    return layout


def done_shards(store: Path) -> np.ndarray:
    """Kernel seconds per shard; 0 where the shard is not (yet) stored (never-written
    chunks read as the fill value, NaN or 0)."""
    import zarr

    done = np.asarray(zarr.open_array(store=str(store), path=MARKER, mode="r")[:], dtype=np.float64)
    return np.nan_to_num(done, nan=0.0)


def write_shard(store: str, arrays: dict[str, np.ndarray], index: int, first: int, count: int, seconds: float,
                layout: dict) -> None:
    """Write one shard's rows (and its sample paths, if any) into their regions, then mark
    it done. Idempotent: the same shard always writes the same bytes.

    The arrays go straight into the zarr arrays that create_store laid out with xarray
    (same dtypes and dim order, so the bytes are those xarray would write); a shard is a
    whole number of chunks, so no two shards write the same chunk."""
    import zarr

    missing = [v for v in layout["per_path"] if v not in arrays]
    if missing:
        raise DistributedError(f"shard at path {first}: lacks {missing}")
    g = zarr.open_group(store, mode="r+")

    def arr(name):  # every chunk is written, also one of fill values only (a missing chunk is damage)
        return g[name].with_config({"write_empty_chunks": True})

    rows = slice(first, first + count)
    for v in layout["per_path"]:
        arr(v)[rows] = np.ascontiguousarray(arrays[v], dtype=g[v].dtype)
    arr("path")[rows] = np.arange(first, first + count, dtype=np.int64)
    for v in layout["samples"]:
        if v in arrays:
            arr(v)[first:first + arrays[v].shape[0]] = np.ascontiguousarray(arrays[v], dtype=g[v].dtype)
    arr(MARKER)[index] = max(float(seconds), 1e-9)


def finish(part: Path, out: Path, client, layout: dict, run_attrs: dict, t_start: float) -> xr.Dataset:
    """Summary from the stored data, then the completion marker, then the final name.
    The summary passes run on ``client``'s workers when the per-path data exceed
    LOCAL_SUMMARY_BYTES, else in this process."""
    import zarr

    per_path_bytes = _per_path_bytes(part, layout)
    summ, info = summarize_store(str(part), client=client if per_path_bytes > LOCAL_SUMMARY_BYTES else None)
    extra_attrs = dict(summ.attrs)
    g = zarr.open_group(str(part), mode="r")
    attrs = dict(g.attrs)  # to_zarr(mode="a") replaces the group's attrs with the Dataset's
    summ.attrs = {**attrs, "complete": False}
    meta.describe_coords(summ)
    for name, enc in encoding.zarr_encoding(summ).items():
        summ.variables[name].encoding = enc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summ.to_zarr(part, mode="a", consolidated=False, write_empty_chunks=True)
    shutil.rmtree(part / MARKER, ignore_errors=True)
    for tmp in part.rglob("*.partial"):  # temporaries of writes cut short by a killed worker
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
    g = zarr.open_group(str(part), mode="r+")
    attrs.update(run_attrs)
    attrs.update(extra_attrs)
    attrs.pop("complete", None)
    attrs["total_time_s"] = float(time.perf_counter() - t_start)  # cluster start to here, summary included
    attrs["summary_method"] = info["method"]
    attrs["summary_passes"] = int(info["passes"])
    if info["not_computed"]:
        attrs["summary_not_computed"] = ", ".join(info["not_computed"])
    stamped = meta.stamp(xr.Dataset(attrs=attrs), "sim.distributed.run(...)").attrs
    g.attrs.update(stamped)
    g.attrs["complete"] = True
    zarr.consolidate_metadata(str(part))
    marker.write_marker(part, "run", stamped)  # last: the store is complete and hedgesim's from here on
    io.check_output(out)  # still nothing but a result of hedgesim's own there
    io.replace_atomically(part, out)
    return open_store(out)


def _per_path_bytes(part: Path, layout: dict) -> int:
    import zarr

    g = zarr.open_group(str(part), mode="r")
    return int(sum(np.prod(g[v].shape, dtype=np.int64) * g[v].dtype.itemsize for v in layout["per_path"]))


def open_store(path: str | Path) -> xr.Dataset:
    """A distributed result: per-path variables lazily loaded (no dask needed), everything
    else in memory. Refuses a store that is not complete."""
    import zarr

    p = Path(path)
    try:
        complete = zarr.open_group(str(p), mode="r").attrs.get("complete")
    except Exception:  # noqa: BLE001 - io.read says what is wrong with it
        complete = None
    if complete is False:
        raise DistributedError(f"{str(p)!r}: not complete (an interrupted distributed run); resume it with --resume")
    ds = io.read(p, lazy=True)  # the integrity checks of every result
    small = [v for v in ds.variables if "path" not in ds[v].dims]
    for v in small:
        ds[v].load()
    return ds
