"""Results -> derived Datasets (printed by ``sim.report``, never formatted here).

* ``margin``: the liquidation curve and minimum collateral of ``hedgesim margin``
  (``run_margin``) or of a run result (``margin_curve_of``; docs/margin.md).
* ``stress_table``: the ``[[stress]]`` scenarios against the baseline (``run_stress``;
  docs/stress.md).
* ``adaptive``: runs that add paths until the liquidation probability's standard error
  reaches a target, and running estimates against the path count (docs/run.md).
"""
