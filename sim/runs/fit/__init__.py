"""Fitting models to observations (``agora fit``): issue 48. (The designs of ``agora sweep --design`` are in
:mod:`sim.runs.design`, beside the sweep they serve.)

- the observation files (series, cascades, adoption times), read and checked: the store's :mod:`sim.store.observed`.
- :mod:`sim.runs.fit.likelihood`: the exact discrete-time likelihood of ``ic`` and ``si`` given adoption times.
- :mod:`sim.runs.fit.priors`: the ``NAME=LO..HI`` ranges of ``--param``, uniform or log-uniform.
- :mod:`sim.runs.fit.abc`: sequential Monte Carlo ABC (Toni et al. 2009) with adaptive tolerances and distances.
"""
