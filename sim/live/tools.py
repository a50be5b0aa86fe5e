"""Changing a live world beside its ticks: communities detected and influence ranked, the living network's
settings, per-agent columns set from data, user plugins reloaded, an agent interviewed; and what a message's
LLM agents would cost (a dry run on a copy: nothing changes). Each change is made
between two ticks, audited with who asked, and checkpointed as its world's policy says."""

from __future__ import annotations

import asyncio
from typing import TypedDict

import numpy as np

from sim.analysis.structure import analyze, communities_line, store_analysis
from sim.engine.requests import SERVED, Inject
from sim.engine.requests.common import json_kind
from sim.errors import BadParameterError
from sim.live.policy import Host, NotFoundError, StateError
from sim.llm.client import Completion
from sim.llm.estimate import LLMEstimate
from sim.model.columns import apply_column, clear_column, column_spec, column_summary, column_values, settable_columns
from sim.model.registry import PluginInfo
from sim.store.analysis_tables import write_analysis


class CommunitiesRecord(TypedDict, total=False):
    """How a world's communities were detected (``config["analysis"]["communities"]``): the method, its
    resolution and seed, how many communities and isolated agents, the modularity, the tick and the graph's
    hash; after a detection that kept the ids shown before, ``ids`` is ``"kept"``, ``kept`` how many kept
    theirs and ``first_new`` the first id of the new ones."""

    method: str
    resolution: float
    seed: int
    count: int
    isolated: int
    modularity: float
    tick: int
    edge_hash: str | None
    ids: str
    kept: int
    first_new: int


class Analysed(TypedDict):
    """What :meth:`WorldTools.analyse` says: ``line`` (the communities in one line), ``ids`` (how they were
    numbered) and ``record`` (the world's ``config["analysis"]["communities"]``)."""

    line: str
    ids: str
    record: CommunitiesRecord


class WorldTools:
    """The changes of a live world that are not ticks, injections or interventions (see the module docstring)."""

    def __init__(self, host: Host) -> None:
        self.host = host

    async def analyse(self, *, actor: str | None = None) -> Analysed:
        """Detect communities (Leiden) and rank influence (PageRank) off the event loop, and keep them in
        the world and its file. A detected community takes the id of the community most of its members
        were in (the ids shown before stay). Audited.

        Returns:
            ``line`` (the communities in one line), ``ids`` (how they were numbered) and ``record`` (the
            world's ``config["analysis"]["communities"]``).
        """
        world = self.host.world
        result = await asyncio.to_thread(analyze, world)
        async with self.host.lock:
            if world is not self.host.world:
                raise StateError("a snapshot replaced the world during the analysis: detect communities again")
            async with self.host.sim.lock:
                table = store_analysis(world, result, keep_ids=True)
            if self.host.sim.writer is not None:
                await self.host.sim.checkpoint()
                await self.host.sim.writer.call(lambda db: write_analysis(db, world, table))
            self.host.version += 1
            return self._analysed(world.config["analysis"]["communities"])

    def _analysed(self, rec: CommunitiesRecord) -> Analysed:
        self.host.audit("analysis", {"communities": rec["count"], "isolated": rec["isolated"], "kept_ids": rec["kept"]})
        new = rec["count"] - rec["kept"]
        if not rec["kept"] and not rec["first_new"]:
            ids = "numbered by size (the world had no communities before)"
        else:
            ids = f"{rec['kept']:,} kept their ids" + (f", {new:,} new (ids from {rec['first_new']:,})" if new else "")
        return {"line": communities_line(rec["count"], rec["modularity"], rec["isolated"]), "ids": ids, "record": rec}

    async def configure_social(self, setting: str, value: object, *, actor: str | None = None) -> tuple[object, object]:
        """Change one setting of the living network (``recommender``, ``friend_recommender``, ...) between
        two ticks, keep it in the world's settings and audit it. Returns the value before and after.

        Raises:
            AgoraError: a bad value (settings unchanged); any error of a plugin's constructor as it is.
        """
        social = self.host.sim.social
        before = social.settings[setting]
        async with self.host.sim.lock:  # never between a tick's feeds and its friend suggestions
            social.configure(**{setting: value})
        after = social.settings[setting]
        self.host.world.config["social"] = {
            k: dict(v) if isinstance(v, dict) else v for k, v in social.settings.items()
        }
        self.host.sim.dirty = True
        self.host.version += 1
        self.host.audit("social", {setting: after, "was": before}, actor)
        return before, after

    def column_list(self) -> list[dict[str, object]]:
        """The columns that may be set (``sim.model.columns``): name, range, kind, the models that start
        from it, and whether the world holds it (a built-in column always does)."""
        return [
            {
                "name": c.name,
                "min": c.min,
                "max": c.max,
                "kind": "built-in" if c.builtin else "data",
                "models": list(c.models),
                "set": c.name in self.host.world.columns,
            }
            for c in settable_columns(self.host.registry).values()
        ]

    async def set_column(
        self, name: object, ids: object, values: object, *, actor: str | None = None
    ) -> dict[str, object]:
        """Set a per-agent column from data between two ticks (``sim.model.columns``): ``ids`` (original
        ids) and ``values``, lists of one length giving every agent of the world exactly one value in the
        column's range. Sessions that start later start from it; built-in columns count from the next tick.
        Checkpointed (a durable world) and audited. Returns what the audit row says (column, agents, mean,
        min, max, SHA-256 of the values).

        Raises:
            NotFoundError: not a column that may be set. BadParameterError: ids or values that are not lists
                of numbers, or any id or value :func:`~sim.model.columns.column_values` refuses (nothing
                changes). CheckpointFailedError: as :meth:`step`.
        """
        try:
            spec = column_spec(self.host.registry, name, self.host.world)
        except BadParameterError as exc:
            raise NotFoundError(str(exc)) from None
        if spec.category:
            raise BadParameterError(
                f"column {spec.name} is a category, whose values are labels: set it from a file of id,label rows "
                "with the command line's set"
            )
        id_array = _column_list(ids, "ids", "i", "whole numbers that fit in 64 bits (original agent ids)")
        value_array = _column_list(values, "values", "iuf", "numbers")
        async with self.host.lock:
            await self.host.checkpoints.require()
            # Off the event loop: some two million ids are searched and checked (other requests go on).
            column = await asyncio.to_thread(column_values, self.host.world, spec, id_array, value_array, "the body")
            async with self.host.sim.lock:  # between two ticks
                apply_column(self.host.world, spec.name, column)
            self.host.sim.dirty = True
            self.host.version += 1
            summary = column_summary(spec, column)
            self.host.audit("set", summary, actor)
            await self.host.checkpoints.after(f"column {spec.name} is set")
            return summary

    async def clear_column(self, name: object, *, actor: str | None = None) -> dict[str, object]:
        """Remove a data column (a model's variable is drawn from its ``init`` again); checkpointed and audited.

        Raises:
            NotFoundError: the world holds no such data column (a built-in one cannot be removed).
            CheckpointFailedError: as :meth:`step`.
        """
        async with self.host.lock:
            await self.host.checkpoints.require()
            async with self.host.sim.lock:
                try:
                    clear_column(self.host.world, name)
                except BadParameterError as exc:
                    raise NotFoundError(str(exc)) from None
            self.host.sim.dirty = True
            self.host.version += 1
            self.host.audit("set", {"column": name, "cleared": True}, actor)
            await self.host.checkpoints.after(f"column {name} is removed")
            return {"column": name, "cleared": True}

    def reload_plugins(self, *, actor: str | None = None) -> list[PluginInfo]:
        """Import the user's plugins again (no restart); returns the entries that failed to load. Audited."""
        failures = self.host.sim.registry.reload()
        self.host.audit("plugin_reload", {"failures": [f.name for f in failures]}, actor)
        self.host.version += 1
        return failures

    def asks_the_llm(self, request: Inject) -> bool:
        """Whether injecting ``request`` starts a session that asks the LLM: its model has LLM agents and this
        world's LLM is online (offline nothing is sent, and there is no cost to estimate)."""
        from sim.runs.llmestimate import LLM_PARAM  # noqa: PLC0415 - the runs, their workers and metrics (64 modules) load only for an estimate

        return LLM_PARAM in self.host.registry.model(request.model).params and self.host.sim.llm.online

    async def estimate(
        self, request: Inject | None = None, /, *, steps: object, actor: str | None = None, **fields: object
    ) -> LLMEstimate:
        """The LLM cost of injecting ``request`` (an :class:`Inject`, or its fields as keywords) now and running
        ``steps`` ticks: calls, tokens in and out, dollars and wall time, from a dry run on a copy of the live world
        with this world's LLM configuration (the local model's profile where it serves). Nothing is changed.

        The dry run is a job of :class:`~sim.live.estimates.Estimates` (``host.estimates``): weighed before it
        starts, run beside the world (which runs, pauses and takes messages meanwhile), and cancelled with the
        task that awaits this call.

        Raises:
            BadParameterError: a mistake in the request, ``steps`` not a whole number from 1 to
                :data:`~sim.live.policy.MAX_ESTIMATE_STEPS`, or a model with no LLM agents. RuleError: more work
                than :attr:`Estimates.MAX_WORK <sim.live.estimates.Estimates.MAX_WORK>`. StateError: as many
                estimates run already as may, or this one was cancelled (``DELETE /api/v1/llm/estimates/{id}``).
        """
        if request is None:
            request = Inject.parse(fields, self.host.registry, SERVED)
        elif fields:
            raise TypeError(f"estimate() takes an Inject request or keywords, not both ({', '.join(fields)})")
        return await self.host.estimates.estimate(request, steps=steps, actor=actor)

    async def interview(self, index: int, question: str, *, actor: str | None = None) -> Completion:
        """Ask agent ``index`` (an index, not an id) a question (the LLM, else the offline generator);
        the interview is audited unless a snapshot replaced the world meanwhile."""
        world, llm = self.host.world, self.host.sim.llm
        result = await llm.interview(index, question)
        if self.host.world is world:
            self.host.audit(
                "interview",
                {
                    "agent": int(world.columns["ids"][index]),
                    "question": question[:1000],
                    "source": result.source,
                    "tick": world.tick,
                },
                actor,
            )
        return result


def _column_list(value: object, what: str, kinds: str, expected: str) -> np.ndarray:
    """A request's list of ids or values as one array (numpy converts the list in one call).

    Raises:
        BadParameterError: not a list, or not a flat list of ``expected``.
    """
    if isinstance(value, bool) or not isinstance(value, list):
        raise BadParameterError(f"{what} must be a list of {expected}, not {json_kind(value)}")
    if bool in set(map(type, value)):  # numpy reads true as 1 beside numbers (one pass in C, no Python loop)
        raise BadParameterError(f"{what} must be a list of {expected}: true and false are not numbers")
    try:
        arr = np.array(value) if value else np.empty(0, dtype=np.int64)
    except (ValueError, OverflowError):  # ragged lists
        arr = np.empty(0, dtype=object)
    if arr.ndim != 1 or arr.dtype.kind not in kinds:
        raise BadParameterError(f"{what} must be a flat list of {expected}")
    return arr
