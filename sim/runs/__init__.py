"""Many runs of one world: ensembles (``runner``), sweeps (``sweep``), the batched kernels (``batched``,
``kernels``), the fork pool (``forkpool``) and their typed results (``results``).

Imports the engine and everything below it; never the live world (:mod:`sim.live`) nor a front end."""
