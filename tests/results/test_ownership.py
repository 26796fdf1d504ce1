"""hedgesim replaces only its own results, and refuses everything else before simulating
(issue 12, "Data loss"): a regular file, another program's zarr store, a folder, a
result written before format v1, a result folder holding a file hedgesim did not write."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import xarray as xr

import sim
from sim import engine
from sim.errors import ResultFileError
from sim.results import io

from resultkit import SEED_EXAMPLE, files_under, small_config

SHORT = ["--set", "simulation.horizon=2d", "-q", "--paths", "512"]
STRESS = SEED_EXAMPLE.parent / "stress.toml"


@pytest.fixture
def no_simulation(monkeypatch):
    """The output path must be refused before anything is simulated."""
    def refuse(*args, **kwargs):
        raise AssertionError("simulated before the output path was checked")
    monkeypatch.setattr(engine, "simulate", refuse)


def _snapshot(path):
    if path.is_dir():
        return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    return path.read_bytes()


def _refused(cli, argv, target, *needles):
    before = _snapshot(target)
    code, out, err = cli(argv)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hedgesim: error: "), err
    for n in needles:
        assert n in lines[0], lines[0]
    assert _snapshot(target) == before  # untouched
    assert not list(target.parent.glob(f".{target.name}.*"))  # no lock, no temporary


@pytest.mark.parametrize("command", [["run", SEED_EXAMPLE], ["margin", SEED_EXAMPLE],
                                     ["stress", STRESS, "--set", "simulation.horizon=20d"]])
def test_a_regular_file_is_never_overwritten(tmp_path, cli, no_simulation, command):
    important = tmp_path / "important.nc"
    important.write_text("my thesis, chapter 3")
    _refused(cli, [*command, "--out", important, *SHORT[2:]], important, "important.nc", "not a hedgesim result",
             "not replacing it")


def test_a_file_named_zarr_is_refused(tmp_path, cli, no_simulation):
    f = tmp_path / "r.zarr"
    f.write_text("not a folder")
    _refused(cli, ["run", SEED_EXAMPLE, "--out", f, *SHORT], f, "is a file", "not replacing it")


def test_a_folder_named_nc_is_refused(tmp_path, cli, no_simulation):
    d = tmp_path / "r.nc"
    d.mkdir()
    (d / "keep.txt").write_text("x")
    _refused(cli, ["run", SEED_EXAMPLE, "--out", d, *SHORT], d, "is a folder", "not replacing it")


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_another_programs_zarr_store_is_refused(tmp_path, cli, no_simulation, zarr_format):
    store = tmp_path / "theirs.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xr.Dataset({"x": ("i", np.arange(5.0))}).to_zarr(store, zarr_format=zarr_format, consolidated=False)
    (store / "README").write_text("their data")
    _refused(cli, ["run", SEED_EXAMPLE, "--out", store, *SHORT], store, "not a hedgesim result", "hedgesim.json")


def test_another_programs_netcdf_is_refused(tmp_path, cli, no_simulation):
    f = tmp_path / "theirs.nc"
    xr.Dataset({"x": ("i", np.arange(5.0))}, attrs={"title": "theirs"}).to_netcdf(f)
    _refused(cli, ["run", SEED_EXAMPLE, "--out", f, *SHORT], f, "not a hedgesim result")


def test_a_result_folder_with_a_users_notes_is_not_replaced(tmp_path, cli, good, no_simulation):
    store = tmp_path / "r.zarr"
    shutil.copytree(good["zarr"], store)
    (store / "MY_NOTES.txt").write_text("the run for the board meeting")
    _refused(cli, ["run", SEED_EXAMPLE, "--out", store, *SHORT], store, "MY_NOTES.txt",
             "files hedgesim did not write", "not replacing it")
    assert (store / "MY_NOTES.txt").read_text() == "the run for the board meeting"


def test_a_result_before_format_v1_is_refused_with_how_to_remove_it(tmp_path, cli, good, no_simulation):
    ds = sim.open_result(good["zarr"]).drop_encoding()
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in ("format_version", "created", "command")}
    old = tmp_path / "old.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.to_zarr(old, zarr_format=3, consolidated=False)  # as hedgesim wrote results before v1: no marker
    _refused(cli, ["run", SEED_EXAMPLE, "--out", old, *SHORT], old, "before hedgesim's result format v1",
             f"rm -r '{old}'")
    old_nc = tmp_path / "old.nc"
    ds.to_netcdf(old_nc)
    _refused(cli, ["run", SEED_EXAMPLE, "--out", old_nc, *SHORT], old_nc, "before hedgesim's result format v1")
    assert sim.open_result(old)["hedged_pnl"].size  # still readable


def test_a_symbolic_link_is_refused(tmp_path, cli, copy_of, no_simulation):
    target = copy_of("zarr")
    link = tmp_path / "link.zarr"
    link.symlink_to(target)
    _refused(cli, ["run", SEED_EXAMPLE, "--out", link, *SHORT], target, "symbolic link")
    assert link.is_symlink()


@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_own_result_is_replaced_with_a_note(tmp_path, cli, suffix):
    out = tmp_path / f"r{suffix}"
    code, _, err = cli(["run", SEED_EXAMPLE, "--out", out, "--seed", "1", *SHORT])
    assert code == 0 and "replacing" not in err, err
    first = sim.open_result(out)
    code, stdout, err = cli(["run", SEED_EXAMPLE, "--out", out, "--seed", "2", *SHORT])
    assert code == 0, err
    (line,) = err.strip().splitlines()  # said once, before simulating: what it replaces and from when
    assert line.startswith(f"hedgesim: replacing {out} (a hedgesim run result from 20"), line
    second = sim.open_result(out)
    assert second.attrs["seed"] == 2 and not np.array_equal(first["hedged_pnl"], second["hedged_pnl"])
    assert files_under(tmp_path) == {out.name} | ({f"{out.name}/{p}" for p in files_under(out)} if out.is_dir()
                                                  else set())


def test_api_checks_before_simulating(tmp_path, no_simulation):
    f = tmp_path / "data.nc"
    f.write_text("not ours")
    with pytest.raises(ResultFileError, match="not a hedgesim result"):
        sim.run(small_config(), paths=512, out=f)
    with pytest.raises(ResultFileError, match="not a hedgesim result"):
        sim.write_result(xr.Dataset(), f)
    assert f.read_text() == "not ours"


def test_check_output_says_whether_a_result_is_replaced(tmp_path, good, copy_of):
    assert io.check_output(tmp_path / "new.zarr") is False
    assert io.check_output(good["zarr"]) is True and io.check_output(good["nc"]) is True
    assert io.check_output(copy_of("zarr", "copy.zarr")) is True
    marker = json.loads((tmp_path / "copy.zarr" / "hedgesim.json").read_text())
    assert marker["files"] and "hedgesim.json" not in marker["files"]
