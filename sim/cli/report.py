"""``hedgesim report RESULT --out DIR``: PNG figures and one self-contained report.html of a
saved run or margin curve (docs/report.md)."""

from __future__ import annotations

from pathlib import Path

from sim.errors import UsageError


def add_parser(sub) -> None:
    rep = sub.add_parser("report", help="PNG figures and one self-contained report.html of a saved result")
    rep.add_argument("result", help="a .zarr or .nc file written by hedgesim run or hedgesim margin")
    rep.add_argument("--out", default="report", help="folder for the figures and report.html (default: report/)")


def cmd(args) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise UsageError("hedgesim report needs matplotlib: pip install 'hedgesim[report]'") from None
    from sim.report.html import make_report

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r}: exists and is not a folder")
    for f in make_report(args.result, out):
        print(f)
    return 0
