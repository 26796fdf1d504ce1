"""Result format v1 (docs/outputs.md, "Files"): every result kind opens with plain
``xr.open_zarr`` / ``xr.open_dataset`` without any warning, carries the v1 attributes and
coordinate attributes, string coordinates have a fixed-width dtype, per-path variables
are chunked alike along ``path``, and a .zarr store has consolidated metadata, Zarr
format 2, a CRC-32 filter on every array and hedgesim's marker listing its files."""

from __future__ import annotations

import json
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import sim
from sim.analysis.margin import run_margin
from sim.analysis.stress_table import run_stress
from sim.results import io

from resultkit import DEFAULT, ROOT, small_config

BTC = ROOT / "data" / "btc_usd_1h_cryptocompare_2021H1.csv.gz"
BYBIT = ROOT / "data" / "bybit_btcusd_inverse_8h_spot_perp_funding_2021H1.csv"
V1_ATTRS = ("format_version", "created", "command", "hedgesim_version")


def _replay():
    from sim.data.load import load_funding, load_prices
    from sim.data.replay import replay_windows, window_starts

    import pandas as pd

    px, fu = load_prices(BTC, log=None), load_funding(BYBIT, log=None)
    cfg = sim.load_config(DEFAULT)
    starts = window_starts(pd.Timestamp("2021-01-05", tz="UTC"), pd.Timestamp("2021-03-05", tz="UTC"), 30 * 86400.0)
    return replay_windows(cfg, px, fu, starts, 14 * 86400.0, skip_unavailable=True)


def _backtest():
    from sim.data.backtest import backtest
    from sim.data.load import load_funding, load_prices

    px, fu = load_prices(BTC, log=None), load_funding(BYBIT, log=None)
    cfg = sim.load_config(DEFAULT)
    return backtest(cfg, px, fu, "2021-03-05", "2021-03-20", window_s=14 * 86400.0, step_s=14 * 86400.0,
                    calibration_s=60 * 86400.0, paths=1000, seed=3)


KINDS = {
    "run": lambda: sim.run(small_config(**{"simulation.save_paths": 4}), paths=3000, seed=1),
    "sweep": lambda: sim.run(sim.load_config(ROOT / "configs" / "sweep_example.toml", overrides={  # 12 variants
        "simulation.horizon": "8d", "simulation.paths": 1024})),  # report_at 7d: a time dim
    "margin": lambda: run_margin(small_config(**{"simulation.paths": 2048}), [0.01]).curve,
    "stress": lambda: run_stress(sim.load_config(ROOT / "configs" / "stress.toml", overrides={
        "simulation.paths": 1024, "simulation.horizon": "20d"})),
    "replay": _replay,
    "backtest": _backtest,
}


@pytest.fixture(scope="module", params=sorted(KINDS))
def written(request, tmp_path_factory):
    ds = KINDS[request.param]()
    d = tmp_path_factory.mktemp(request.param)
    io.write(ds, d / "r.zarr", note=None)
    io.write(ds, d / "r.nc", note=None)
    return request.param, ds, d


def test_every_kind_opens_without_warnings(written):
    kind, ds, d = written
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for opened in (xr.open_zarr(d / "r.zarr"), xr.open_dataset(d / "r.zarr", engine="zarr"),
                       xr.open_dataset(d / "r.nc"), sim.open_result(d / "r.zarr"), sim.open_result(d / "r.nc")):
            opened.load()
            assert set(opened.data_vars) == set(ds.data_vars), kind
            for c in opened.coords:  # fixed-width unicode, never object, for strings
                assert opened[c].dtype != object, (kind, c)


def test_every_kind_has_the_v1_attributes(written):
    kind, ds, d = written
    for back in (sim.open_result(d / "r.zarr"), sim.open_result(d / "r.nc")):
        assert back.attrs["format_version"] == 1
        created = datetime.fromisoformat(back.attrs["created"].replace("Z", "+00:00"))
        assert created.tzinfo is not None and abs((datetime.now(timezone.utc) - created).total_seconds()) < 3600
        assert re.fullmatch(r"sim\.[a-z_.]+\(\.\.\.\)", back.attrs["command"]), back.attrs["command"]
        assert back.attrs["hedgesim_version"] == sim.__version__
        if kind not in ("backtest",):
            assert json.loads(back.attrs["config_user"]), kind
        for c in back.coords:
            assert "long_name" in back[c].attrs, (kind, c)
            if not np.issubdtype(back[c].dtype, np.datetime64):
                assert "units" in back[c].attrs, (kind, c)
        assert not {"hedgesim_format_version", "hedgesim_kind", "hedgesim_crc32"} & set(back.attrs)


def test_zarr_store_layout(written):
    kind, ds, d = written
    store = d / "r.zarr"
    assert (store / ".zgroup").is_file() and (store / ".zmetadata").is_file()  # Zarr format 2, consolidated
    assert not (store / "zarr.json").exists()
    marker = json.loads((store / "hedgesim.json").read_text())
    assert marker["format"] == "hedgesim result" and marker["format_version"] == 1
    assert marker["kind"] == {"sweep": "run"}.get(kind, kind) and marker["zarr_format"] == 2
    on_disk = {p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file()} - {"hedgesim.json"}
    assert set(marker["files"]) == on_disk
    meta = json.loads((store / ".zmetadata").read_text())["metadata"]
    arrays = {k[: -len("/.zarray")]: v for k, v in meta.items() if k.endswith("/.zarray")}
    assert set(arrays) == set(ds.variables)
    for name, a in arrays.items():
        assert a["filters"] == [{"id": "crc32", "location": "end"}] or a["filters"][0]["id"] == "crc32", name
        assert a["compressor"]["id"] == "blosc", name


def test_per_path_variables_are_chunked_alike(written, tmp_path):
    kind, ds, d = written
    opened = xr.open_zarr(d / "r.zarr")
    for dim in ("path", "sample"):
        chunking = {v: opened[v].encoding["chunks"][opened[v].dims.index(dim)]
                    for v in opened.variables if dim in opened[v].dims}
        assert len(set(chunking.values())) <= 1, (kind, dim, chunking)


def test_path_chunks_are_whole_random_blocks_when_a_store_is_large(monkeypatch, tmp_path):
    from sim.kernel import rng
    from sim.results import encoding

    monkeypatch.setattr(encoding, "CHUNK_BYTES", 8 * rng.BLOCK * 3)  # 3 blocks of one float64 per path
    ds = sim.run(small_config().with_sweep({"position.hedge_ratio": [0.5, 1.0]}), paths=10_000, seed=1,
                 out=tmp_path / "big.zarr")
    opened = xr.open_zarr(tmp_path / "big.zarr")
    chunks = {v: opened[v].encoding["chunks"][0] for v in opened.variables if "path" in opened[v].dims}
    assert set(chunks.values()) == {rng.BLOCK}  # the widest row (2 variants x 8 bytes) allows 1 block
    assert np.array_equal(sim.open_result(tmp_path / "big.zarr")["hedged_pnl"].values, ds["hedged_pnl"].values)


def test_cli_results_record_the_command_line(tmp_path, cli):
    out = tmp_path / "r.zarr"
    code, _, err = cli(["run", DEFAULT, "--paths", "1024", "--set", "simulation.horizon=1d", "-q", "--out", out])
    assert code == 0, err
    cmd = sim.open_result(out).attrs["command"]
    assert cmd.startswith("hedgesim run ") and "--paths 1024" in cmd and str(out) in cmd


def test_legacy_store_without_marker_is_still_readable(tmp_path):
    """A store as hedgesim wrote it before format v1 (Zarr 3 format, no consolidated
    metadata, no marker, old names) opens, with the names of today."""
    ds = sim.run(small_config(), paths=1024, seed=1)
    old = ds.rename({"value_at_risk": "var", "expected_shortfall": "es"})
    old.attrs = {k: v for k, v in old.attrs.items() if k not in ("format_version", "created", "command")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old.to_zarr(tmp_path / "old.zarr", mode="w", consolidated=False, zarr_format=3)
    back = sim.open_result(tmp_path / "old.zarr")
    assert np.array_equal(back["value_at_risk"].values, ds["value_at_risk"].values)
    assert np.array_equal(back["hedged_pnl"].values, ds["hedged_pnl"].values)


def test_a_newer_format_is_refused_with_a_clear_line(tmp_path):
    ds = sim.run(small_config(), paths=1024, seed=1, out=tmp_path / "r.zarr")
    m = json.loads((tmp_path / "r.zarr" / "hedgesim.json").read_text())
    m["format_version"] = 2
    (tmp_path / "r.zarr" / "hedgesim.json").write_text(json.dumps(m))
    with pytest.raises(sim.ResultFileError, match="result format 2.*upgrade hedgesim"):
        sim.open_result(tmp_path / "r.zarr")
    assert ds.attrs["format_version"] == 1


@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_round_trip_is_identical(tmp_path, suffix):
    ds = sim.run(small_config(**{"simulation.save_paths": 3}), paths=1500, seed=11, out=tmp_path / f"r{suffix}")
    xr.testing.assert_identical(ds, sim.open_result(tmp_path / f"r{suffix}"))
    assert Path(tmp_path / f"r{suffix}").exists()
