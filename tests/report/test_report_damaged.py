"""``hedgesim report`` on damaged or foreign results (issue 12, item 3): exit status 2, one
line on stderr naming the result and the variable or attribute, and no report folder or
file created or changed (an existing report folder stays byte for byte as it was).

Damage on disk (a chunk deleted, a chunk overwritten with random bytes, a variable
deleted, the root metadata edited) is found by ``sim.results.io.read`` and its checksums;
a result that is intact as a file but malformed inside (an attribute of the wrong type or
range, a variable or coordinate value the report needs left out: written through
``sim.write_result``) by ``sim.report.checks``, before anything is drawn.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sim
from sim.cli.main import main
from sim.errors import ResultFileError
from sim.report.checks import check_result, reading

pytest.importorskip("matplotlib", reason="requires matplotlib (pip install 'hedgesim[report]')")

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "default.toml"
SEED_EXAMPLE = ROOT / "configs" / "seed_example.toml"


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A run with sample paths, a margin curve, and a report folder made from the run."""
    base = tmp_path_factory.mktemp("damaged")
    run, margin = base / "run.zarr", base / "margin.zarr"
    assert main(["run", str(DEFAULT), "--paths", "3000", "--seed", "3", "-q", "--no-band", "--set", "simulation.horizon=3d",
                 "--set", "position.collateral=0.03", "--save-paths", "10", "--out", str(run)]) == 0
    assert main(["margin", str(SEED_EXAMPLE), "--paths", "4000", "-q", "--no-band", "--set", "simulation.horizon=2d",
                 "--out", str(margin)]) == 0
    assert main(["report", str(run), "--out", str(base / "existing_report")]) == 0
    return {"run": run, "margin": margin, "report": base / "existing_report"}


def chunks(var_dir: Path) -> list[Path]:
    """The chunk files of one variable of a zarr store (format 2 or 3)."""
    return sorted(p for p in var_dir.rglob("*") if p.is_file() and not p.name.startswith(".")
                  and p.name != "zarr.json")


def snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def assert_refused(cli, result: Path, out: Path, *words: str) -> str:
    code, stdout, err = cli(["report", result, "--out", out])
    assert code == 2 and stdout == "", (code, stdout, err)
    assert err.startswith("hedgesim: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert all(w in err for w in words), (words, err)
    return err


def randomize(p: Path) -> None:
    p.write_bytes(np.random.default_rng(7).bytes(max(p.stat().st_size, 16)))


def edit_root_attrs(store: Path, **attrs) -> None:
    """Change root attrs in the files themselves (every metadata document that holds them)."""
    for f in (store / "zarr.json", store / ".zattrs", store / ".zmetadata"):
        if not f.exists():
            continue
        doc = json.loads(f.read_text())
        target = doc.get("attributes") if f.name == "zarr.json" else (
            doc["metadata"][".zattrs"] if f.name == ".zmetadata" else doc)
        target.update(attrs)
        f.write_text(json.dumps(doc))


DAMAGE = {  # name -> (how, words the message must hold)
    "chunk deleted (per path)": (lambda s: chunks(s / "hedged_pnl")[0].unlink(), ["hedged_pnl"]),
    "chunk random (per path)": (lambda s: randomize(chunks(s / "hedged_pnl")[0]), ["hedged_pnl"]),
    "chunk random (read lazily)": (lambda s: randomize(chunks(s / "funding")[-1]), ["funding"]),
    "chunk random (summary)": (lambda s: randomize(chunks(s / "value_at_risk")[0]), ["value_at_risk"]),
    "chunk random (sample paths)": (lambda s: randomize(chunks(s / "sample_mark")[0]), ["sample_mark"]),
    "chunk deleted (sample paths)": (lambda s: chunks(s / "sample_index")[0].unlink(), ["sample_index"]),
    "variable deleted": (lambda s: shutil.rmtree(s / "liquidation_time"), ["liquidation_time"]),
    "attribute paths = 'many' on disk": (lambda s: edit_root_attrs(s, paths="many"), []),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_store(cli, good, tmp_path, case):
    how, words = DAMAGE[case]
    store = tmp_path / "copy.zarr"
    shutil.copytree(good["run"], store)
    how(store)
    assert_refused(cli, store, tmp_path / "rep", "copy.zarr", *words)
    assert not (tmp_path / "rep").exists()
    before = snapshot(good["report"])  # into an existing report folder: left as it was
    assert_refused(cli, store, good["report"], *words)
    assert snapshot(good["report"]) == before


def test_damaged_margin_curve(cli, good, tmp_path):
    store = tmp_path / "m.zarr"
    shutil.copytree(good["margin"], store)
    randomize(chunks(store / "min_collateral")[0])
    assert_refused(cli, store, tmp_path / "rep", "min_collateral")
    assert not (tmp_path / "rep").exists()


def test_truncated_netcdf(cli, good, tmp_path):
    nc = tmp_path / "r.nc"
    assert cli(["run", SEED_EXAMPLE, "--paths", "2000", "-q", "--set", "simulation.horizon=2d", "--out", nc])[0] == 0
    nc.write_bytes(nc.read_bytes()[: nc.stat().st_size // 2])
    assert_refused(cli, nc, tmp_path / "rep", "r.nc")
    assert not (tmp_path / "rep").exists()


def test_foreign_store(cli, tmp_path):
    other = tmp_path / "other.zarr"
    xr.Dataset({"x": ("t", np.arange(5.0))}).to_zarr(other, consolidated=False)
    assert_refused(cli, other, tmp_path / "rep", "other.zarr")
    assert not (tmp_path / "rep").exists()


# --------------------------------------------------------------------------- intact files, malformed content


BAD_ATTRS = [("paths", "many"), ("paths", -5), ("paths", 3.5), ("seed", "x"), ("threads", "many"),
             ("wall_time_s", "fast"), ("horizon_days", -1.0), ("entry_price", float("nan")), ("margin_unit", 7),
             ("margin_unit", "EUR"), ("contract", "future"), ("variants", 0), ("config", "{not json"),
             ("config", "[1, 2]"), ("config", '{"position": {"collateral": "lots"}}'),
             ("config", '{"position": {"hedge_collateral": "yes"}}'), ("hedgesim_version", 1.5)]


@pytest.fixture(scope="module")
def loaded(good):
    return sim.open_result(good["run"])


@pytest.mark.parametrize("name, value", BAD_ATTRS, ids=[f"{n}={v!r}" for n, v in BAD_ATTRS])
def test_malformed_attribute(loaded, name, value):
    ds = loaded.copy()
    ds.attrs[name] = value
    with pytest.raises(ResultFileError, match=f"attribute {name}"):
        check_result(ds, "r.zarr")


@pytest.mark.parametrize("name", ["hedged_pnl", "liquidation_time", "funding", "pnl_quantile", "value_at_risk",
                                  "expected_shortfall", "funding_quantile", "liquidation_probability",
                                  "collateral_posted", "max_drawdown_quantile", "sample_time"])
def test_variable_left_out(loaded, name):
    with pytest.raises(ResultFileError, match=name if name != "hedged_pnl" else "neither a simulation result"):
        check_result(loaded.drop_vars(name), "r.zarr")


def test_coordinate_values_left_out(loaded):
    with pytest.raises(ResultFileError, match="coordinate 'level' does not hold 0.99"):
        check_result(loaded.sel(level=[0.95]), "r.zarr")
    with pytest.raises(ResultFileError, match="'quantile_level'"):
        check_result(loaded.isel(quantile_level=slice(0, 3)), "r.zarr")


@pytest.mark.parametrize("name, value", [("paths", "many"), ("config", "{not json"), ("margin_unit", 7)])
def test_written_with_malformed_attribute(cli, loaded, tmp_path, name, value):
    """A result that is intact as a file (written by sim.write_result, checksums and all)
    but whose attrs are malformed: one line, exit 2, no report folder."""
    ds = loaded.copy()
    ds.attrs[name] = value
    store = sim.write_result(ds, tmp_path / "odd.zarr")
    assert_refused(cli, store, tmp_path / "rep", f"attribute {name}")
    assert not (tmp_path / "rep").exists()


def test_reading_names_the_variable_a_damaged_chunk_belongs_to(good, tmp_path):
    """``reading`` on a store opened without sim.results.io (no checksums): a decoding error
    in the block becomes ResultFileError naming the variable; any other error goes on."""
    store = tmp_path / "plain.zarr"
    shutil.copytree(good["run"], store)
    randomize(chunks(store / "unhedged_pnl")[0])
    ds = xr.open_zarr(store, chunks=None)
    with pytest.raises(ResultFileError, match="variable 'unhedged_pnl' cannot be read"):
        with reading(ds, "plain.zarr"):
            np.asarray(ds["unhedged_pnl"].values)
    with pytest.raises(ZeroDivisionError):  # a bug is not a damaged file
        with reading(xr.open_zarr(good["run"], chunks=None), "r.zarr"):
            1 / 0
