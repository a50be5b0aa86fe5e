"""The checks of a forecast request against a world, before anything runs (a live world's forecasts make them
when a job is asked for, :mod:`sim.live.forecasts`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.core.world import World
from sim.runs.forecast import Forecast, _Branches, _session

if TYPE_CHECKING:
    from sim.model.registry import Registry


def check_forecast(world: World, registry: Registry, request: Forecast) -> None:
    """Raise what :func:`sim.runs.forecast.run_forecast` would raise before its first run: no such session, one
    that is not running, a bad arm, parameter or posterior, a kernel that cannot continue the session.

    Raises:
        BadParameterError, BadFileError: as above (one sentence).
    """
    _Branches(world, registry, request, _session(world, request.session))
