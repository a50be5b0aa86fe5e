"""Fitting models to observations (``agora fit``) and measuring which parameters matter (``agora sweep
--design``): issue 48.

- :mod:`sim.fit.observed`: the observation files (series, cascades, adoption times), read and checked.
- :mod:`sim.fit.likelihood`: the exact discrete-time likelihood of ``ic`` and ``si`` given adoption times.
- :mod:`sim.fit.priors`: the ``NAME=LO..HI`` ranges of ``--param``, uniform or log-uniform.
- :mod:`sim.fit.abc`: sequential Monte Carlo ABC (Toni et al. 2009) with adaptive tolerances and distances.
- :mod:`sim.fit.design`: SALib's designs and sensitivity indices for ``agora sweep --design``.
"""
