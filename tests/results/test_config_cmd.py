"""``hedgesim config RESULT`` prints valid TOML that reproduces the result:
``hedgesim config R > c.toml; hedgesim run c.toml`` gives R's per-path arrays bit for bit."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest
import xarray as xr

import sim
from sim.results import io
from sim.results.config_toml import result_config, toml_text

from resultkit import DEFAULT, ROOT, SEED_EXAMPLE


def _config_of(cli, result, tmp_path, name="c.toml"):
    code, out, err = cli(["config", result])
    assert code == 0, err
    assert "null" not in out and "None" not in out
    parsed = tomllib.loads(out)  # valid TOML
    path = tmp_path / name
    path.write_text(out)
    return path, parsed


def _same_per_path(a: xr.Dataset, b: xr.Dataset) -> None:
    per_path = [v for v in a.data_vars if "path" in a[v].dims or "sample" in a[v].dims]
    assert per_path
    for v in per_path:
        assert a[v].dims == b[v].dims and a[v].dtype == b[v].dtype, v
        assert np.array_equal(a[v].values, b[v].values, equal_nan=True), v


@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_config_reproduces_a_run_bitwise(tmp_path, cli, suffix):
    r = tmp_path / f"r{suffix}"
    code, _, err = cli(["run", DEFAULT, "--paths", "1500", "--seed", "9", "--set", "simulation.horizon=3d",
                        "--set", "market.sigma=0.9", "--set", "simulation.save_paths=3",
                        "--sweep", "position.hedge_ratio=0.5,1", "-q", "--out", r])
    assert code == 0, err
    toml, parsed = _config_of(cli, r, tmp_path)
    assert parsed["sweep"] == {"position.hedge_ratio": [0.5, 1.0]}
    assert parsed["simulation"]["paths"] == 1500 and parsed["simulation"]["seed"] == 9
    assert parsed["market"]["sigma"] == 0.9 and "output" not in parsed
    again = tmp_path / f"again{suffix}"
    code, _, err = cli(["run", toml, "-q", "--out", again])
    assert code == 0, err
    _same_per_path(sim.open_result(r), sim.open_result(again))
    assert toml.read_text().startswith("# the config of the hedgesim result")
    assert "# written by: hedgesim run " in toml.read_text()


def test_config_of_a_sweep_over_contracts(tmp_path, cli):
    """sweep_example.toml: contracts and USD collateral swept (the resolved config holds
    both collateral and collateral_usd: only what the user wrote is printed)."""
    r = tmp_path / "s.zarr"
    code, _, err = cli(["run", ROOT / "configs" / "sweep_example.toml", "--paths", "1024", "--set",
                        "simulation.horizon=8d", "-q", "--out", r])
    assert code == 0, err
    toml, parsed = _config_of(cli, r, tmp_path)
    assert "collateral" not in parsed["position"] and parsed["position"]["collateral_usd"] == 17250.0
    code, _, err = cli(["run", toml, "-q", "--out", tmp_path / "again.zarr"])
    assert code == 0, err
    _same_per_path(sim.open_result(r), sim.open_result(tmp_path / "again.zarr"))


def test_config_of_a_stress_table_and_a_margin_curve(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the stress replay file is stored as an absolute path: runs from anywhere
    stress = tmp_path / "st.zarr"
    code, _, err = cli(["stress", ROOT / "configs" / "stress.toml", "--paths", "1024", "-q", "--out", stress])
    assert code == 0, err
    toml, parsed = _config_of(cli, stress, tmp_path, "st.toml")
    assert len(parsed["stress"]) == 6 and all("type" in s for s in parsed["stress"])
    replay = [s for s in parsed["stress"] if s["type"] == "replay"][0]
    assert replay["file"].startswith("/") and replay["file"].endswith("btc_2020-03_crash_1h.csv")
    code, _, err = cli(["stress", toml, "-q", "--out", tmp_path / "st2.zarr"])
    assert code == 0, err
    a, b = sim.open_result(stress), sim.open_result(tmp_path / "st2.zarr")
    for v in a.data_vars:
        assert np.array_equal(a[v].values, b[v].values, equal_nan=True), v

    curve = tmp_path / "m.nc"
    code, _, err = cli(["margin", SEED_EXAMPLE, "--paths", "2048", "--set", "simulation.horizon=2d",
                        "--target", "0.01", "-q", "--out", curve])
    assert code == 0, err
    toml, _ = _config_of(cli, curve, tmp_path, "m.toml")
    assert "hedgesim margin" in toml.read_text()
    code, _, err = cli(["margin", toml, "--target", "0.01", "-q", "--out", tmp_path / "m2.nc"])
    assert code == 0, err
    xr.testing.assert_equal(sim.open_result(curve), sim.open_result(tmp_path / "m2.nc"))


def test_config_of_a_result_before_format_v1(tmp_path):
    """No config_user attr: the resolved config, without the keys equal to their default."""
    cfg = sim.load_config(ROOT / "configs" / "sweep_example.toml", overrides={"simulation.horizon": "8d",
                                                                                "simulation.paths": 1024})
    ds = sim.run(cfg)
    old = ds.copy()
    old.attrs = {k: v for k, v in ds.attrs.items() if k != "config_user"}
    user = result_config(old)
    resolved = json.loads(sim.config.Config.from_user(user).to_json())
    assert {**resolved, "output": None} == {**json.loads(ds.attrs["config"]), "output": None}
    again = sim.run(sim.config.from_dict(tomllib.loads(toml_text(user))))
    _same_per_path(ds, again)


def test_config_of_a_dataset_without_config_is_one_line(tmp_path, cli):
    io.write(xr.Dataset({"x": ("i", np.arange(3.0))}), tmp_path / "x.zarr", note=None)
    code, out, err = cli(["config", tmp_path / "x.zarr"])
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"hedgesim: error: result '{tmp_path / 'x.zarr'}': this result stores no "
                                        "config (it was not written by a simulating hedgesim command)"]


def test_toml_text_values():
    doc = {"market": {"sigma": 1e-05, "model": 'a "b"\n', "x": float("inf"), "n": 3, "b": True},
           "exchange": {"tiers": [{"limit": 100.0, "rate": 0.005}]},
           "sweep": {"position.hedge_ratio": [0.5, 1.0]},
           "stress": [{"type": "jump", "name": "crash", "size": -0.3, "at": "10d"}]}
    assert tomllib.loads(toml_text(doc)) == doc
