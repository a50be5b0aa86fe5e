"""``--llm-archetypes`` and ``--llm-policy`` (issue 76): every exposed agent of an ``llm`` run decides from its
archetype's probabilities (the model asked once per archetype and situation) or from a distilled policy (no
model call). Both are parameters of the ``llm`` model (``archetypes``, ``policy``: the policy's JSON, so a session
saved in a world carries the policy itself and never a path); these flags check them against the world before
anything runs and set them."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from sim.cli.output import emit
from sim.errors import BadParameterError
from sim.plugin import archetypes as arch
from sim.plugin import policy as pol
from sim.store.worldfile import read_meta


def cheap_choice(args: argparse.Namespace, params: dict[str, Any], llm: dict[str, Any], world: str) -> None:
    """Check ``--llm-archetypes`` / ``--llm-policy`` against the world (its attributes, from its meta table) and
    put them into ``params`` (and ``args.model``); unless ``--llm texts_per_tick=N`` says otherwise, such a run
    writes no texts through the model (its calls are the archetypes' alone, or none).

    Raises:
        BadParameterError: both given, another model named, a column the world lacks, a policy fitted on
            another world's features; BadFileError: a policy file that is not one."""
    spec = getattr(args, "llm_archetypes", None)
    path = getattr(args, "llm_policy", None)
    if spec is None and path is None:
        return
    if spec is not None and path is not None:
        raise BadParameterError("--llm-archetypes and --llm-policy both decide for every agent: give one of them")
    if args.model not in (None, "llm"):
        raise BadParameterError(
            f"--llm-archetypes and --llm-policy decide for the llm model: drop --model {args.model[:40]} or give "
            "--model llm"
        )
    for key in ("archetypes", "policy"):
        if key in params:
            raise BadParameterError(f"--param {key}=... and --llm-{key} say the same: give one of them")
    args.model = "llm"
    attributes = read_meta(world).get("attributes") or {}
    if spec is not None:
        arch.check_spec(spec, arch.spec_columns(None, attributes))
        params["archetypes"] = spec
    elif path is not None:
        policy = pol.read_policy(path)
        pol.check_names(policy, attributes, f"policy {str(path)[:120]!r}")
        params["policy"] = policy.text()
    llm.setdefault("texts_per_tick", 0)


async def scorecard_command(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """``agora llm scorecard WORLD --inject TEXT [--runs R] [--llm-archetypes SPEC]``: the llm, archetype and
    distilled-policy arms side by side (:mod:`sim.runs.llmscore`); the world is not changed."""
    from sim.llm import local  # noqa: PLC0415
    from sim.runs.llmscore import MAX_TICKS, Message, scorecard  # noqa: PLC0415 - the engine, only for a scorecard
    from sim.store.worldfile import open_world  # noqa: PLC0415

    path = args.estimated
    if path is None or args.inject is None:
        raise BadParameterError("say which world and message to score: agora llm scorecard WORLD --inject TEXT")
    if getattr(args, "llm_policy", None) is not None:
        raise BadParameterError("a scorecard distills its own policy from the llm arm: drop --llm-policy")
    overrides.setdefault("texts_per_tick", 0)
    overrides.setdefault("calls_per_tick", 10_000)
    world = await open_world(path)
    message = Message(args.inject, tuple(args.topic or ()), args.seeds or "random:10", args.author)
    async with local.serving(world.config.get("llm"), overrides) as config:
        if config.mode != "online":
            raise BadParameterError(
                "a scorecard compares the model with its stand-ins, so it needs one: set OPENAI_API_KEY (and "
                "OPENAI_BASE_URL), or add --llm local"
            )

        def progress(arm: str, done: int) -> None:
            if not getattr(args, "json", False):
                sys.stderr.write(f"agora: scorecard: {arm} replicate {done} done\n")
                sys.stderr.flush()

        data = await scorecard(
            world,
            config,
            message,
            archetypes=args.llm_archetypes or "8",
            replicates=args.runs or 5,
            max_ticks=args.max_ticks or MAX_TICKS,
            progress=progress,
        )
    emit(args, data, lambda: scorecard_text(data))
    return 0


def scorecard_text(data: dict[str, Any]) -> str:
    """A scorecard as a few lines of text."""
    arms = data["arms"]
    lines = [
        f"scorecard of {data['message'][:60]!r} on {data['world']} ({data['agents']:,} agents, "
        f"{data['replicates']} replicates, {data['model']})",
        f"{'arm':<12}{'calls':>8}{'cached':>8}{'tokens in':>11}{'tokens out':>11}{'seconds':>9}{'decisions':>10}"
        f"{'mean size':>11}",
    ]
    for name, a in arms.items():
        size = float(np.mean(a["cascade_sizes"])) if a["cascade_sizes"] else 0.0
        lines.append(
            f"{name:<12}{a.get('calls', 0):>8,}{a.get('cache_hits', 0):>8,}{a.get('tokens_in', 0):>11,}"
            f"{a.get('tokens_out', 0):>11,}{a['seconds']:>9.1f}{a['decisions']:>10,}{size:>11,.1f}"
        )
    for name in ("archetypes", "policy"):
        d, g, k = data["divergence"][name], data["agreement"][name], data["cascade_ks"][name]
        lines.append(
            f"{name}: mean Jensen-Shannon divergence {d['mean_js']} over {len(d['situations'])} situations; agreement "
            f"{g['agreement']} on {g['decisions']:,} decisions; cascade sizes KS D={k['statistic']} p={k['pvalue']}"
        )
    c = data["agreement"]["commonest"]
    lines.append(f"always {c['action']}: agreement {c['agreement']}")
    return "\n".join(lines)
