"""What hedgesim prints and draws from a result Dataset (docs/outputs.md, docs/report.md).

* ``fmt``: how numbers are written in every table.
* ``text``: the tables of a run, a margin curve and a stress table (``format_result`` picks one).
* ``text_data``: the tables of ``hedgesim replay`` and ``hedgesim backtest``.
* ``figures``: the PNG figures of ``hedgesim report``.
* ``html``: the self-contained report.html.
"""
