"""``hedgesim stress CONFIG``: the config's ``[[stress]]`` scenarios against its baseline
(docs/stress.md)."""

from __future__ import annotations

from sim.cli.common import LabelledBars, add_common_args, load_config_args, out_path, write_and_print
from sim.errors import UsageError


def add_parser(sub) -> None:
    st = sub.add_parser("stress", help="run the [[stress]] scenarios of a config against its baseline")
    add_common_args(st)
    st.add_argument("--out", help='table file, ".zarr" or ".nc" (default: results/<config>_stress.zarr)')
    st.add_argument("--no-save", action="store_true", help="do not write a result file")


def scenario_labels(cfg) -> list[str]:
    """The progress bar of each simulated run, in the order run_stress makes them: the
    baseline, then every scenario but replays (one deterministic path, no bar)."""
    simulated = [st["name"] for st in cfg.stress if st["type"] != "replay"]
    n = len(simulated) + 1
    return [f"baseline (1/{n})"] + [f"{name} ({k}/{n})" for k, name in enumerate(simulated, start=2)]


def cmd(args) -> int:
    from sim.analysis.stress_table import run_stress
    from sim.report.text import format_stress

    cfg = load_config_args(args)
    if not cfg.stress:
        raise UsageError(f"config {args.config}: has no [[stress]] scenarios")
    out = out_path(args, cfg, "_stress")
    bars = None if args.quiet else LabelledBars(scenario_labels(cfg))
    try:
        table = run_stress(cfg, progress=bars or False, threads=args.threads, chunk_paths=args.chunk)
    finally:
        if bars is not None:
            bars.close()
    write_and_print(table, out, format_stress(table), "table")
    return 0
