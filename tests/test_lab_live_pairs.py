"""The live ``Simulation``'s synchronous and ``a``-prefixed methods are one operation each (issue 58): both doors
are made from the same coroutine, keep its signature, and each public name documented in docs/python.md is
still there."""

from __future__ import annotations

import inspect

from sim.lab.live import Simulation

#: The operations with both doors (docs/python.md, "In a notebook, or in async code").
PAIRS = ("inject", "analyse", "step", "run", "pause", "forecast", "save_snapshot", "load_snapshot")


def test_each_pair_is_one_operation_with_two_doors():
    for name in PAIRS:
        sync, coro = getattr(Simulation, name), getattr(Simulation, f"a{name}")
        assert not inspect.iscoroutinefunction(sync) and inspect.iscoroutinefunction(coro), name
        op = getattr(sync, "__wrapped__", None)
        assert op is not None and getattr(coro, "__wrapped__", None) is op, name  # one implementation
        assert inspect.iscoroutinefunction(op) and op.__name__ == f"_{name}", name
        assert inspect.signature(sync) == inspect.signature(coro) == inspect.signature(op), name
        assert sync.__name__ == name and coro.__name__ == f"a{name}", name
        assert sync.__doc__ == op.__doc__ and coro.__doc__.startswith(f":meth:`{name}` as a coroutine"), name


def test_the_documented_names_and_signatures_keep_working():
    params = {name: list(inspect.signature(getattr(Simulation, name)).parameters) for name in PAIRS}
    assert params["inject"] == ["self", "text", "fields"]
    assert params["step"] == ["self", "ticks"] and params["run"] == ["self", "pace"]
    assert params["forecast"] == ["self", "request", "fields"]
    forecast = inspect.signature(Simulation.forecast).parameters["request"]
    assert forecast.kind is inspect.Parameter.POSITIONAL_ONLY and forecast.default is None
    for name in ("cancel", "intervene", "close", "aclose", "snapshot", "summary", "session", "sessions", "agent"):
        assert callable(getattr(Simulation, name)), name
