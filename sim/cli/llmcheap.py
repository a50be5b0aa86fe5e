"""``--llm-archetypes`` and ``--llm-policy`` (issue 76): every exposed agent of an ``llm`` run decides from its
archetype's probabilities (the model asked once per archetype and situation) or from a distilled policy (no
model call). Both are parameters of the ``llm`` model (``archetypes``, ``policy``: the policy's JSON, so a session
saved in a world carries the policy itself and never a path); these flags check them against the world before
anything runs and set them."""

from __future__ import annotations

import argparse
from typing import Any

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
