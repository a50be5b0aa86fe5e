"""The priors of a fit, kept with the requests (:mod:`sim.engine.requests.priors`); importable from here too."""

from __future__ import annotations

from sim.engine.requests.priors import U_BOUND, Prior, Priors, parse_range, ranges_from, split_params

__all__ = ["U_BOUND", "Prior", "Priors", "parse_range", "ranges_from", "split_params"]
