"""report.html in a real browser (issue 15, item 4): headless Chromium from the Debian
packages renders the page; every section and every figure with its image is in the
rendered DOM, and a screenshot is saved (``HEDGESIM_SCREENSHOT_DIR``, else the test's
temporary folder). Skipped where /usr/bin/chromium is not installed (.ci/run installs it).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="requires matplotlib (pip install 'hedgesim[report]')")

from sim.cli.main import main  # noqa: E402
from sim.report.html import SECTION_IDS, make_report  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no browser: /usr/bin/chromium is not installed "
                                "(apt-get install chromium)")


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
            f"--user-data-dir={profile}", *extra, page.as_uri()]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    result = base / "run.zarr"
    argv = ["run", str(ROOT / "configs" / "default.toml"), "--paths", "3000", "--seed", "5", "-q",
            "--set", "simulation.horizon=3d", "--set", "position.collateral=0.03", "--save-paths", "40",
            "--band-paths", "2048", "--out", str(result)]
    assert main(argv) == 0
    files = make_report(result, base / "report")
    return base, files


def test_every_section_and_figure_renders(report):
    base, files = report
    page = base / "report" / "report.html"
    done = chromium(page, base / "profile-dom", "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<h1>hedgesim report</h1>" in dom
    for sid in SECTION_IDS:
        assert re.search(rf'<section id="{sid}"', dom), f"section {sid} not rendered"
    stems = [p.stem for p in files if p.suffix == ".png"]
    assert {"pnl", "liquidation_curve", "fan_chart", "band"} <= set(stems)
    for stem in stems:
        m = re.search(rf'<figure id="{stem}"[^>]*>.*?<img [^>]*src="data:image/png;base64,[A-Za-z0-9+/=]{{1000,}}"'
                      r".*?</figure>", dom, re.S)
        assert m, f"figure {stem} or its image not rendered"
    assert dom.count("<figure ") == len(stems)
    assert "The answer" in dom and "liquidated within 3d" in dom


def test_screenshot(report):
    base, _ = report
    out = Path(os.environ.get("HEDGESIM_SCREENSHOT_DIR", base))
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "report.png"
    shot.unlink(missing_ok=True)
    done = chromium(base / "report" / "report.html", base / "profile-shot", f"--screenshot={shot}",
                    "--window-size=1200,3000", "--hide-scrollbars")
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a drawn page, not a blank one
