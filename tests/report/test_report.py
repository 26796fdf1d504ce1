"""`hedgesim report` (issue 7): each figure is drawn for the results that call for it, the
PNGs are real images, and report.html embeds every one of them with no network access.

Results are made once per module through the CLI with few paths and short horizons; the
figures themselves were checked by eye when the report was written (README, Reports).
"""

from __future__ import annotations

import base64
import re
import shutil
import struct
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="requires matplotlib (pip install 'hedgesim[report]')")

from sim.cli.main import main  # noqa: E402
from sim.report.folder import MANIFEST  # noqa: E402
from sim.report.html import make_report  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "configs" / "default.toml"
SEED_EXAMPLE = ROOT / "configs" / "seed_example.toml"
# 5 days, thin collateral: liquidations, funding and basis all present
BASE = ["--paths", "4000", "--seed", "3", "-q", "--set", "simulation.horizon=5d", "--set", "position.collateral=0.03"]

CASES = {
    "plain": (["run", DEFAULT, *BASE], {"pnl", "liquidation_curve", "funding", "liquidation_time", "band"}),
    "save_paths": (["run", DEFAULT, *BASE, "--save-paths", "60"],
                   {"pnl", "liquidation_curve", "funding", "liquidation_time", "fan_chart", "band"}),
    "sweep": (["run", DEFAULT, *BASE, "--sweep", "position.collateral=0.03,0.1,0.2",
               "--sweep", "position.hedge_ratio=0.5,1"],
              {"pnl", "liquidation_curve", "funding", "liquidation_time", "sweep"}),
    "sweep_1d": (["run", DEFAULT, *BASE, "--sweep", "position.hedge_ratio=0.5,0.8,1"],
                 {"pnl", "liquidation_curve", "funding", "liquidation_time", "sweep"}),
    "report_at": (["run", DEFAULT, *BASE, "--set", 'simulation.report_at=["1d","2d","3d"]'],
                  {"pnl", "liquidation_curve", "funding", "liquidation_time", "band"}),
    "no_funding": (["run", SEED_EXAMPLE, "--paths", "3000", "-q", "--set", "simulation.horizon=5d"],
                   {"pnl", "liquidation_curve", "liquidation_time", "band"}),
    "margin": (["margin", SEED_EXAMPLE, "--paths", "20000", "-q", "--set", "simulation.horizon=5d"],
               {"liquidation_curve", "band"}),
}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """name -> (result path, report folder, files written)."""
    base = tmp_path_factory.mktemp("report")
    out = {}
    for name, (argv, _) in CASES.items():
        result = base / f"{name}.zarr"
        # the model band's own paths kept small (band.png is one of the figures)
        extra = ["--band-paths", "2048"] if argv[0] in ("run", "margin") else []
        assert main([str(a) for a in argv] + extra + ["--out", str(result)]) == 0, name
        folder = base / f"report_{name}"
        out[name] = (result, folder, make_report(result, folder))
    return out


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("name", list(CASES))
def test_figures_for_each_kind_of_result(made, name):
    result, folder, files = made[name]
    expected = CASES[name][1]
    assert {p.stem for p in files if p.suffix == ".png"} == expected
    assert {p.name for p in folder.iterdir()} == {f"{e}.png" for e in expected} | {"report.html", MANIFEST}
    assert files[-1] == folder / "report.html"
    for stem in expected:
        w, h = png_size(folder / f"{stem}.png")
        assert w >= 600 and h >= 350, (stem, w, h)
        assert (folder / f"{stem}.png").stat().st_size > 15_000  # a drawn figure, not an empty canvas


@pytest.mark.parametrize("name", list(CASES))
def test_html_embeds_every_figure_and_needs_no_network(made, name):
    result, folder, files = made[name]
    page = (folder / "report.html").read_text(encoding="utf-8")
    for png in (p for p in files if p.suffix == ".png"):
        m = re.search(rf'<figure id="{png.stem}" data-file="{png.name}">.*?<img alt="[^"]*" '
                      r'src="data:image/png;base64,([A-Za-z0-9+/=]+)">', page, re.S)
        assert m, f"{png.name} not embedded"
        assert base64.b64decode(m.group(1)) == png.read_bytes()
    assert page.count("<img ") == sum(p.suffix == ".png" for p in files)
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "<link" not in page and "@import" not in page
    # summary with units, config, seed, version, run time
    assert "liquidation probability" in page.lower()
    assert "[market]" in page and "<b>seed</b>" in page and "<b>hedgesim version</b>" in page
    assert "<b>simulation run time</b>" in page


def test_report_times_get_one_panel_each(made):
    _, plain, _ = made["plain"]
    _, times, _ = made["report_at"]
    assert png_size(times / "pnl.png")[1] > 1.5 * png_size(plain / "pnl.png")[1]  # two rows of panels


def test_notes_for_figures_left_out(made):
    page = (made["no_funding"][1] / "report.html").read_text(encoding="utf-8")
    assert "funding: zero on every path" in page and "fan chart: no sample paths stored" in page


def test_cli_report(made, tmp_path, capsys):
    result = made["plain"][0]
    assert main(["report", str(result), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[-1].endswith("report.html") and len(printed) == 6  # 4 figures, band.png, the page
    # a later report into the same folder drops figures of the earlier one that no longer apply
    assert main(["report", str(made["save_paths"][0]), "--out", str(tmp_path / "s")]) == 0
    assert (tmp_path / "s" / "fan_chart.png").exists()
    assert main(["report", str(result), "--out", str(tmp_path / "s")]) == 0
    assert not (tmp_path / "s" / "fan_chart.png").exists()


def test_cli_report_bad_inputs(made, tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.zarr"), "--out", str(tmp_path / "r")]) == 2
    assert "not found" in capsys.readouterr().err
    # a store that does not claim completeness (an interrupted distributed run) is refused
    import zarr

    part = tmp_path / "partial.zarr"
    shutil.copytree(made["plain"][0], part)
    zarr.open_group(str(part), mode="r+").attrs["complete"] = False
    assert main(["report", str(part), "--out", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hedgesim: error:") and "not complete" in err
    assert not (tmp_path / "r2").exists()
    assert main(["show", str(part)]) == 2  # nor is it shown as a result
    assert "not complete" in capsys.readouterr().err


# --------------------------------------------------------------- issue 15, item 4


def _section(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, f"no section {sid}"
    return m.group(1)


@pytest.mark.parametrize("name", list(CASES))
def test_config_dump_is_valid_toml(made, name):
    import html as html_mod
    import json
    import tomllib

    import xarray as xr

    page = (made[name][1] / "report.html").read_text(encoding="utf-8")
    text = html_mod.unescape(re.search(r"<pre>(.*?)</pre>", _section(page, "config"), re.S).group(1))
    assert not re.search(r"=\s*null\b", text)
    doc = tomllib.loads(text)
    stored = json.loads(xr.open_zarr(made[name][0]).attrs["config"])
    for section, body in stored.items():  # every key with a value, and only those
        if isinstance(body, dict):
            assert doc[section] == {k: v for k, v in body.items() if v is not None}, section
    if any(v is None for b in stored.values() if isinstance(b, dict) for v in b.values()):
        assert text.startswith("# keys without a value (None: TOML has no null) are left out: ")


def test_answer_section_comes_first_in_plain_words(made):
    page = (made["plain"][1] / "report.html").read_text(encoding="utf-8")
    assert page.index('<section id="answer">') < page.index('<section id="run">') < page.index('id="summary"')
    ans = _section(page, "answer")
    assert re.search(r"liquidated within 5d on [\d.]+ % of the simulated paths \(95 % interval [\d.]+ % to "
                     r"[\d.]+ %\)", ans)
    assert re.search(r"hedged holdings lose [\d,]+ USD on average \(ES 99 %\), against [\d,]+ USD unhedged", ans)
    assert "(VaR 99 %)" in ans and "Hedge effectiveness" in ans
    assert re.search(r"Model risk: .* ranges from [\d.]+ % to [\d.]+ %", ans)
    for key in ("price model", "volatility", "horizon", "paths", "collateral", "leverage", "exchange and fees",
                "liquidation monitoring", "overrides"):
        assert f"<b>{key}</b>" in ans, key
    assert "50 % a year" in ans and "0.03 BTC" in ans and "taker fee 0.055 %" in ans
    sweep = _section((made["sweep"][1] / "report.html").read_text(encoding="utf-8"), "answer")
    assert "6 hedge variants" in sweep
    margin = _section((made["margin"][1] / "report.html").read_text(encoding="utf-8"), "answer")
    assert re.search(r"post at least [\d.]+ BTC of collateral", margin)


def test_run_times_in_the_meta_table(made):
    page = (made["plain"][1] / "report.html").read_text(encoding="utf-8")
    run = _section(page, "run")
    assert re.search(r"<b>simulation run time</b></td><td>[\d,]+\.\d\d s on", run)
    assert re.search(r"<b>model band run time</b></td><td>[\d,]+\.\d\d s \(2,048 paths per model\)", run)
    assert "<b>report made</b>" in run


def test_every_figure_names_config_paths_and_horizon(made):
    import xarray as xr

    from sim.report.titles import subtitle

    ds = xr.open_zarr(made["plain"][0])
    assert subtitle(ds) == f"{ds.attrs['config_source']} · 4,000 paths · horizon 5d"
    # each fig_* of sim.report.figures stamps it (a source check: the text is drawn into the PNG)
    import inspect

    import sim.report.figures as figures_mod

    for name, fn in inspect.getmembers(figures_mod, inspect.isfunction):
        if name.startswith("fig_"):
            assert "stamp(" in inspect.getsource(fn) or "sub" in inspect.signature(fn).parameters \
                or "subtitle(ds)" in inspect.getsource(fn), name


def test_pnl_has_a_log_scale_tail_panel(made):
    _, plain, _ = made["plain"]
    w, h = png_size(plain / "pnl.png")
    assert w > 1.6 * h  # two panels side by side: the histogram and the tail
    page = (plain / "report.html").read_text(encoding="utf-8")
    assert "down to the single worst path" in page
