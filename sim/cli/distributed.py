"""``hedgesim run ... --workers N | --scheduler ADDRESS [--shard-paths P] [--resume]``.

Imported by ``sim.cli.main`` only when a run asks for a cluster: the single-machine path
never loads ``sim.distributed`` (nor dask.distributed).
"""

from __future__ import annotations

import sys

from sim.cli.common import note_stress_scenarios
from sim.distributed import run
from sim.errors import DistributedError, RunInterrupted, UsageError
from sim.report.text import format_summary


def run_distributed(args, cfg, out: str | None) -> int:
    if out is None:
        raise UsageError("--no-save: a distributed run writes its result store shard by shard; give --out "
                         "RESULT.zarr (or leave --no-save out)")
    if not str(out).endswith(".zarr"):
        raise UsageError(f"output path {out!r}: distributed runs write a .zarr store")
    if getattr(args, "convergence", False):
        raise UsageError("--convergence is not available for distributed runs")
    if args.workers is None and not args.scheduler:
        raise UsageError("--resume and --shard-paths belong to a distributed run: add --workers N or "
                         "--scheduler ADDRESS")
    if args.workers is not None and args.scheduler:
        raise UsageError("give either --workers N (a local cluster) or --scheduler ADDRESS, not both")
    note_stress_scenarios(cfg)
    try:
        ds = run(cfg, out, workers=args.workers, scheduler=args.scheduler, shard_paths=args.shard_paths,
                 resume=args.resume, progress=not args.quiet, threads=args.threads)
    except DistributedError as exc:
        raise UsageError(str(exc)) from None
    except RunInterrupted as exc:
        print(f"hedgesim: {exc.message}", file=sys.stderr)
        return 130
    print(format_summary(ds))
    print(f"result written to {out}")
    return 0
