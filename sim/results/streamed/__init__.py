"""The summary of a result store, computed chunk by chunk from the stored per-path data.

No process ever holds all paths: every statistic of ``sim.results.summarize`` is either a
mergeable sum over chunks (counts, sums, sums of squared deviations about a mean found in
an earlier pass) or an order statistic found exactly by radix selection:

1. each chunk histograms the top 16 bits of an order-preserving integer key of every
   value (sign, exponent, 4 mantissa bits); summed over chunks, the histogram tells in
   which bucket the wanted rank lies and how many values come before it;
2. the next passes refine that bucket 12 bits at a time, or, once it holds at most
   ``GATHER`` values, collect those values and sort them.

So order statistics (VaR and its band, quantiles) are bitwise those of the single-process
summary; sums (means, standard deviations, ES) agree with it to rounding (about 1e-15
relative: the chunks add up in another order). A pass is a function of one chunk of paths
(``passes.chunk_pass``), so it runs on dask workers that read the store themselves, or in
the calling process; only small partial results travel. See docs/cluster.md.

* ``select``: order-preserving keys and the radix selection of exact order statistics.
* ``passes``: the operations of a pass on one chunk, and running a pass over all chunks.
* ``estimates``: from the passes' sums and order statistics to the summary variables.
* ``summary``: ``summarize_store``: the passes over a store, then the estimates.

Importance-weighted results (a per-path ``weight``) are summarised by
``sim.results.summarize`` on the loaded per-path variables instead.
"""

from sim.results.streamed.estimates import STREAMED  # noqa: F401
from sim.results.streamed.summary import summarize_store  # noqa: F401
