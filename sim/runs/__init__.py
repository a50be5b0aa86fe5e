"""Many runs of one world: ensembles (``runner``), sweeps (``sweep``) and their designs (``design``), fits
(``fit``), forecasts (``forecast``), the batched kernels (``batched``, ``kernels``), the worker transport
(``transport``: forked and spawned processes, Ray) and the typed results (``reports``, ``results``).

Imports the engine and everything below it; never the live world (:mod:`sim.live`) nor a front end."""
