"""Market models: price dynamics (``gbm``, ``merton``, ``kou``, looked up by name in
``registry``), funding and basis OU (``ou``), the unit-converted parameters the kernel
reads (``params``) and the deterministic arrays of stress scenarios (``stress``)."""
