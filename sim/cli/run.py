"""``hedgesim run CONFIG``: simulate a scenario, write the result, print its summary
(docs/run.md). With ``--workers`` / ``--scheduler`` the run goes to a Dask cluster
(``sim.cli.distributed``, the only path that imports dask)."""

from __future__ import annotations

import json
import sys

from sim.cli.common import (add_band_args, add_common_args, load_config_args, note_stress_scenarios, out_path,
                            write_and_print)


def add_parser(sub) -> None:
    r = sub.add_parser("run", help="simulate a scenario and print its summary")
    add_common_args(r)
    r.add_argument("--out", help='result file, ".zarr" or ".nc" (default: output.path or results/<config>.zarr)')
    r.add_argument("--save-paths", type=int, metavar="K", help="store K sample trajectories (simulation.save_paths)")
    r.add_argument("--no-save", action="store_true", help="do not write a result file")
    r.add_argument("--target-se", metavar="SE", help='add paths until the liquidation probability SE reaches SE '
                   '(absolute, e.g. 0.0005, or relative, e.g. 5%%); budget simulation.max_paths')
    r.add_argument("--convergence", action="store_true",
                   help="report running estimates against the number of paths (n_paths dim)")
    r.add_argument("--workers", type=int, metavar="N",
                   help="run on a local Dask cluster of N worker processes (pip install 'hedgesim[distributed]')")
    r.add_argument("--scheduler", metavar="ADDRESS", help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")
    r.add_argument("--shard-paths", type=int, metavar="PATHS",
                   help="paths per shard of a distributed run, a multiple of 1024 (results do not change)")
    r.add_argument("--resume", action="store_true", help="complete an interrupted distributed run (OUT.partial)")
    add_band_args(r)


def cmd(args) -> int:
    from sim.api import run
    from sim.report.text import format_summary

    extra = {"simulation.save_paths": args.save_paths} if args.save_paths is not None else {}
    if args.target_se is not None:
        extra["simulation.target_se"] = args.target_se
    cfg = load_config_args(args, extra)
    out = out_path(args, cfg)
    if args.workers is not None or args.scheduler or args.resume or args.shard_paths is not None:
        from sim.cli.distributed import run_distributed  # the only path that imports dask

        return run_distributed(args, cfg, out)
    note_stress_scenarios(cfg)
    ds = run(cfg, progress=not args.quiet, threads=args.threads, chunk_paths=args.chunk,
             convergence=args.convergence)
    if not args.no_band and not args.convergence:
        from sim.analysis.band import band_applies, key_figures, model_band

        why = band_applies(cfg)
        if why is None:
            band = model_band(cfg, key_figures(ds), paths=args.band_paths, progress=not args.quiet,
                              threads=args.threads)
            ds = ds.merge(band, combine_attrs="override")
            ds.attrs.update(band.attrs)
        elif not args.quiet:
            print(f"hedgesim: note: no model band for {why}", file=sys.stderr)
    text = [format_summary(ds)]
    if args.convergence:
        from sim.report.text import format_convergence

        text.append(format_convergence(ds))
    if ds.attrs.get("adaptive"):
        a = json.loads(ds.attrs["adaptive"])
        text.append(f"adaptive run: {a['stopped']} after {a['paths']:,} paths (target SE {a['target_se']}, "
                    f"budget {a['max_paths']:,} paths)")
    write_and_print(ds, out, "\n".join(text))
    return 0
