"""Distributed runs on Dask: shards of paths, one chunked ``.zarr`` store, resumable.

``hedgesim run CONFIG --workers N`` (a ``LocalCluster`` started for the run) or
``--scheduler tcp://HOST:PORT`` (an existing ``dask.distributed`` cluster); see
docs/cluster.md.

* ``shards``: the shard plan (path ranges of whole random blocks) and the zarr chunking.
* ``tasks``: what runs on the workers: the first block (the result's layout) and a shard
  (simulate its paths, write its rows into the store, mark it done).
* ``store``: the store under ``OUT.partial``: layout, shard markers, resume checks, and
  completion (summary from the stored data, ``attrs["complete"] = true``, rename to ``OUT``).
* ``runner``: ``run``: the cluster, submission of the shards, progress, interruption.
* ``worker_setup``: the preload of the local cluster's worker processes.

Dask is imported only here, and only when a run starts a client: the single-machine path
(``sim.run``) never imports it.
"""

from sim.distributed.runner import run  # noqa: F401
from sim.distributed.shards import check_shard_paths, default_shard_paths, partial_path, shards_of  # noqa: F401
# LOCAL_SUMMARY_BYTES is read where it is defined: to change it, set sim.distributed.store.LOCAL_SUMMARY_BYTES
from sim.distributed.store import LOCAL_SUMMARY_BYTES, done_shards, open_store  # noqa: F401
from sim.errors import DistributedError, RunInterrupted  # noqa: F401

__all__ = ["run", "open_store", "DistributedError", "RunInterrupted", "partial_path", "shards_of",
           "default_shard_paths", "check_shard_paths", "done_shards", "LOCAL_SUMMARY_BYTES"]
