"""``hedgesim margin CONFIG``: the minimum collateral for target liquidation probabilities
and the whole liquidation curve from one run (docs/margin.md)."""

from __future__ import annotations

from sim.cli.common import add_band_args, add_common_args, load_config_args, out_path, write_and_print
from sim.errors import UsageError


def add_parser(sub) -> None:
    m = sub.add_parser("margin", help="minimum collateral for target liquidation probabilities, and the whole curve")
    add_common_args(m)
    m.add_argument("--target", dest="targets", action="append", type=float, metavar="P",
                   help="target liquidation probability (repeatable; default 0.01 and 0.001)")
    m.add_argument("--out", help='curve file, ".zarr" or ".nc" (default: results/<config>_margin.zarr)')
    m.add_argument("--no-save", action="store_true", help="do not write a result file")
    m.add_argument("--policy", action="store_true",
                   help="the (on-exchange collateral, reserve) frontier under the config's [policy] and exchange "
                        "risk for one --target, and the plan with the least expected total loss")
    add_band_args(m)


def cmd(args) -> int:
    from sim.analysis.band import band_applies, margin_row, model_band
    from sim.analysis.margin import run_margin
    from sim.report.text import format_margin

    cfg = load_config_args(args)
    if args.policy:
        from sim.analysis.frontier import run_frontier
        from sim.report.text_policy import format_frontier

        if args.targets and len(args.targets) > 1:
            raise UsageError("--policy: give one --target")
        out = out_path(args, cfg, "_frontier")
        frontier = run_frontier(cfg, (args.targets or [0.01])[0], progress=not args.quiet, threads=args.threads,
                                chunk_paths=args.chunk)
        write_and_print(frontier, out, format_frontier(frontier), "frontier")
        return 0
    out = out_path(args, cfg, "_margin")
    targets = args.targets or [0.01, 0.001]
    curve, tiered = run_margin(cfg, targets, progress=not args.quiet, threads=args.threads, chunk_paths=args.chunk)
    if not args.no_band and band_applies(cfg) is None and curve.attrs["method"].startswith("collateral identity"):
        band = model_band(cfg, margin_row(curve), targets, paths=args.band_paths, progress=not args.quiet,
                          threads=args.threads)
        curve = curve.merge(band, combine_attrs="override")
        curve.attrs.update(band.attrs)
    write_and_print(curve, out, format_margin(curve, tiered), "curve")
    return 0
