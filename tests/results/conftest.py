"""Fixtures of the result-file tests: one small good result per module, and fresh copies
of it to damage (helpers: resultkit.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import sim
from resultkit import small_config


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A run result (2,000 paths, a sweep, sample paths) as .zarr and .nc: copy before damaging."""
    d = tmp_path_factory.mktemp("good")
    cfg = small_config(**{"simulation.save_paths": 5}).with_sweep({"position.hedge_ratio": [0.5, 1.0]})
    ds = sim.run(cfg, paths=2000, seed=7, out=d / "r.zarr")
    sim.write_result(ds, d / "r.nc")
    return {"zarr": d / "r.zarr", "nc": d / "r.nc", "ds": ds}


@pytest.fixture
def copy_of(good, tmp_path):
    """``copy_of("zarr" | "nc")``: a fresh copy of the good result in this test's folder."""
    def make(kind: str, name: str | None = None) -> Path:
        src = good[kind]
        dst = tmp_path / (name or src.name)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy(src, dst)
        return dst
    return make
