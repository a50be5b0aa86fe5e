"""Fitting models to observations (``agora fit``) and measuring which parameters matter (``agora sweep
--design``): issue 48.

- :mod:`sim.runs.fit.observed`: the observation files (series, cascades, adoption times), read and checked.
- :mod:`sim.runs.fit.likelihood`: the exact discrete-time likelihood of ``ic`` and ``si`` given adoption times.
- :mod:`sim.runs.fit.priors`: the ``NAME=LO..HI`` ranges of ``--param``, uniform or log-uniform.
- :mod:`sim.runs.fit.abc`: sequential Monte Carlo ABC (Toni et al. 2009) with adaptive tolerances and distances.
- :mod:`sim.runs.fit.design`: SALib's designs and sensitivity indices for ``agora sweep --design``.
"""
