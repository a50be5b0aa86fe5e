"""Running a plugin's code from the checker: a fresh import of its class, a coroutine run to the end from
synchronous code, an offline LLM service, what escaped a run in words, and what a run changed in the world
that only a plugin could have changed. The model and recommender runners are built on these."""

from __future__ import annotations

import asyncio
import concurrent.futures
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np

from sim.core.world import World
from sim.llm.config import LLMConfig
from sim.llm.service import LLMService
from sim.model.registry import load_file

#: Longest the speed run may take, in seconds (checked between rounds).
SPEED_BUDGET_S = 20.0


def fresh_class(path: str, qualname: str) -> Any:
    """The class ``qualname`` from a fresh import of ``path`` (fresh module globals).

    Args:
        path: the plugin file.
        qualname: the class's qualified name in it.

    Returns:
        The class (typed ``Any``: the caller knows which plugin base it subclasses).
    """
    obj: Any = load_file(path)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def run_sync(make_coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to the end from synchronous code, also when an event loop runs in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(make_coro())
        return
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: asyncio.run(make_coro())).result()


def offline_llm(world: World, quiet: bool = False) -> LLMService:
    """The LLM service of a check run: never online; ``quiet``: no agent texts either (as in an ensemble)."""
    return LLMService(world, LLMConfig(offline=True, texts_per_tick=0)) if quiet else LLMService.offline(world)


def format_traceback(exc: BaseException) -> str:
    """The whole traceback of ``exc``, as Python prints it."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def crash(exc: BaseException) -> tuple[str, str]:
    """``(error, traceback)`` of an exception that escaped a run; the error says when it is not an
    ``Exception`` (SystemExit from a plugin would stop the whole app)."""
    escaped = "" if isinstance(exc, Exception) else " (it escapes the simulation: it would stop the whole app)"
    return f"{type(exc).__name__}: {exc}{escaped}", format_traceback(exc)


def world_writes(world: World, base: World) -> list[str]:
    """What a run changed in ``world``, a fork of ``base``, that only a plugin could have changed: its
    columns (``column NAME``) and, on the same edges, their trust (``edge trust``). A plugin changes edges
    only through its answers (the ``edges`` check), so trust on other edges is not compared."""
    writes = []
    for key, col in world.columns.items():
        base_col = base.columns.get(key)
        if base_col is not None and not np.array_equal(col, base_col):
            writes.append(f"column {key}")
    same_edges = np.array_equal(world.graph.out_indptr, base.graph.out_indptr) and np.array_equal(
        world.graph.out_indices, base.graph.out_indices
    )
    if same_edges and not np.array_equal(world.graph.trust, base.graph.trust):
        writes.append("edge trust")
    return writes
