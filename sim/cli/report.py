"""``hedgesim report RESULT --out DIR``: PNG figures and one self-contained report.html of a
saved run or margin curve (docs/report.md)."""

from __future__ import annotations

from pathlib import Path

from sim.errors import InterruptedAfterWrite, UsageError


def add_parser(sub) -> None:
    rep = sub.add_parser("report", help="PNG figures and one self-contained report.html of a saved result")
    rep.add_argument("result", help="a .zarr or .nc file written by hedgesim run, margin or backtest")
    rep.add_argument("--out", default="report", help="folder for the figures and report.html (default: report/): a "
                     "new or empty folder, or one an earlier report wrote (hedgesim-report.json)")


def cmd(args) -> int:
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise UsageError("hedgesim report needs matplotlib: pip install 'hedgesim[report]'") from None
    from sim.report.html import make_report

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {str(out)!r}: exists and is not a folder")
    files = None
    try:
        files = make_report(args.result, out)  # refuses a folder that is not hedgesim's (sim.report.folder)
        for f in files:
            print(f)
    except KeyboardInterrupt as exc:
        if files is None:
            raise
        raise InterruptedAfterWrite.after(exc, out) from None  # the report is complete
    return 0
