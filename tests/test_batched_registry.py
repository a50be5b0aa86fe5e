"""The batched kernels know the built-in models only through the registry: a model registered as ``ic`` that
is not the built-in one (a user's, overriding it) is not run batched, whatever its name."""

from __future__ import annotations

import asyncio

import pytest

from sim.errors import BadParameterError
from sim.model.registry import Registry
from sim.runs.runner import run_cascades
from sim.store.create import synthetic_world


def test_a_users_model_registered_as_ic_runs_on_the_engine():
    world = synthetic_world("reg", 200, avg_degree=4, seed=1)
    builtin = Registry([])
    ic = builtin.model("ic")

    class MyIC(ic):  # type: ignore[misc, valid-type]
        """A user's ic under the built-in's name (its own rules could differ: the kernel cannot know)."""

        name = "ic"

    mine = Registry([])
    mine.register(MyIC)
    kw = {"text": "m", "seeds": "random:3", "model": "ic", "params": {"p": 0.3}, "runs": 2, "until_done": True}
    ran = asyncio.run(run_cascades(world, registry=builtin, kernel="batched", **kw))
    assert ran["kernel"] == "batched"
    with pytest.raises(BadParameterError, match="only the built-in ic, lt, sir and seir run batched"):
        asyncio.run(run_cascades(world, registry=mine, kernel="batched", **kw))
    auto = asyncio.run(run_cascades(world, registry=mine, **kw))
    assert auto["kernel"] == "engine" and "only the built-in" in auto["kernel_reason"]
