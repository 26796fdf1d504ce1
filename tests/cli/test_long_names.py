"""Paths the operating system refuses (a name longer than the file system allows) are one
line and exit 2, for reading (show) and for writing (run --out), and nothing is written."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_show_a_name_too_long(tmp_path, cli):
    code, out, err = cli(["show", tmp_path / ("a" * 5000 + ".zarr")])
    assert code == 2 and err.startswith("hedgesim: error:") and len(err.strip().splitlines()) == 1
    assert "too long" in err


def test_run_out_in_a_folder_name_too_long(tmp_path, cli):
    out = tmp_path / ("b" * 300) / "r.zarr"
    code, _, err = cli(["run", ROOT / "configs" / "default.toml", "--paths", "1024", "--set",
                        "simulation.horizon=1d", "-q", "--out", out])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "too long" in err
    assert list(tmp_path.iterdir()) == []
