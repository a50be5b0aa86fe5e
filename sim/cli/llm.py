"""``agora interview`` and ``agora llm``: LLM agents from the command line; and the ``--llm`` options'
checks, which ``agora run`` and ``agora serve`` share (:func:`llm_overrides`, :func:`refuse_unused_llm`).

The API key comes from ``OPENAI_API_KEY`` only and is never printed: ``--json`` says whether one is set.
The servers it is sent to come from ``OPENAI_BASE_URL`` or ``--llm base_urls=...`` only: a world never
stores them (``--set base_urls=...`` is refused) and one that names them has them ignored, with a warning.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from sim.cli.args import EXIT_FAILED, parse_params
from sim.cli.llmcheap import cheap_choice, scorecard_command
from sim.cli.output import emit
from sim.core.audit import TEXT_LIMIT, public_settings
from sim.core.worldlock import world_lock
from sim.errors import AgoraError, BadParameterError
from sim.llm import local
from sim.llm.config import ENDPOINT_SETTINGS, LLM_PARAMS, LLMConfig, llm_settings, refuse_endpoint_settings
from sim.llm.estimate import compare_text
from sim.llm.service import LLMService, llm_report
from sim.store.worldfile import open_world
from sim.store.writer import WorldWriter


def llm_overrides(args: argparse.Namespace, *, serve: bool = True) -> dict[str, Any]:
    """The LLM settings given on the command line, validated. ``serve``: the local model will be served (its
    extra and model file are checked now); False for an estimate, which only plans it.

    Raises:
        BadParameterError: a bad KEY=VALUE or setting (named).
    """

    changes: dict[str, Any] = dict(_given_llm(args))
    if getattr(args, "offline", False):
        changes["offline"] = True
    if changes:
        llm_settings({}, **changes)  # one clear sentence for a bad one, before anything runs
    model = getattr(args, "llm_model", None)
    if _wants_local(args) or model is not None:
        if changes.get("offline"):
            raise BadParameterError("--llm local and --offline exclude each other: drop one of them")
        if "base_urls" in changes:
            raise BadParameterError(
                "--llm local serves the model itself: drop --llm base_urls=... or --llm local (and --llm-model)"
            )
        ask = local.LocalRequest(None if model is None else str(model))
        if serve:
            local.check_request(ask)  # a bad model file or the extra missing: one sentence, before anything runs
        elif ask.model is not None:
            local.check_model(ask.model)
        changes["local"] = True
        if ask.model is not None:
            changes["local_model"] = ask.model
    return changes


def _wants_local(args: argparse.Namespace) -> bool:
    """Whether ``--llm local`` was given."""
    return any(item.strip() == LOCAL for item in getattr(args, "llm", None) or [])


#: LLM settings that budget a simulation's ticks: an interview, one request outside any tick, never uses them.
RUN_ONLY_SETTINGS = ("calls_per_tick", "texts_per_tick", "reply_share")

#: LLM settings a run uses with the offline generator too (how many adopters write, and replies or reposts).
OFFLINE_RUN_SETTINGS = ("texts_per_tick", "reply_share")

#: Settings of agent memory (``memory`` and every ``memory_*``): they take effect offline too (the offline
#: generator recalls and condenses).
MEMORY_SETTINGS = tuple(k for k in LLM_PARAMS if k == "memory" or k.startswith("memory_"))


def _given_llm(args: argparse.Namespace) -> dict[str, str]:
    """The ``--llm KEY=VALUE`` items given (raw, names stripped; empty when none)."""

    items = [item for item in getattr(args, "llm", None) or [] if item.strip() != LOCAL]
    return parse_params(items, "--llm", "calls_per_tick=50")


def refuse_unused_llm(args: argparse.Namespace, config: Any, *, command: str) -> None:
    """Refuse ``--llm`` settings that cannot take effect in ``command`` ("interview" or "run") under the
    resolved ``config``: run budgets in an interview, and settings of the client (model, servers, limits)
    when the offline generator answers anyway.

    Raises:
        BadParameterError: the first such setting, named, with what to do.
    """
    given = _given_llm(args)
    if command == "interview":
        for key in given:
            if key in RUN_ONLY_SETTINGS:
                raise BadParameterError(
                    f"--llm {key} budgets a simulation's ticks and an interview has none: drop it "
                    f"(or store it with 'agora llm WORLD --set {key}=...')"
                )
    if config.mode != "offline":
        return
    for key, value in given.items():
        if (
            (key == "offline" and config.offline)
            or (command == "run" and key in OFFLINE_RUN_SETTINGS)
            or key in MEMORY_SETTINGS
        ):
            continue  # it took effect
        when, fix = _why_offline(args, config)
        raise BadParameterError(
            f"--llm {key}={value} has no effect {when} (the offline generator answers): "
            + (f"{fix}, or drop --llm {key}" if fix else f"drop --offline or --llm {key}")
        )


def refuse_unused_llm_for(
    args: argparse.Namespace, settings: Any, overrides: dict[str, Any] | None, *, command: str
) -> None:
    """:func:`refuse_unused_llm` under the configuration ``settings`` (a world's) and ``overrides`` (the
    command's, the local model's included) will resolve to; starts nothing.

    Raises:
        BadParameterError: as :func:`refuse_unused_llm`.
    """
    refuse_unused_llm(args, local.planned_config(settings, overrides), command=command)


def _why_offline(args: argparse.Namespace, config: Any) -> tuple[str, str | None]:
    """Why ``config`` is offline and what would change it: ``(when, fix)``, parts of one sentence; ``fix``
    is None when --offline (or --llm offline=true) was given on this command line."""

    asked = _given_llm(args).get("offline")
    if getattr(args, "offline", False) or (asked is not None and LLM_PARAMS["offline"].coerce("offline", asked)):
        return "under --offline", None
    if config.offline:
        return (
            "while offline is forced by the world's settings or AGORA_LLM_OFFLINE",
            "add --llm offline=false (or run 'agora llm WORLD --set offline=false')",
        )
    return "without OPENAI_API_KEY in the environment", "set it (any value for a keyless local server)"


def handle(args: argparse.Namespace) -> Any:
    if args.command == "interview":
        return _interview(args)
    return _llm(args)


async def _interview(args: argparse.Namespace) -> int:
    question = str(args.question)
    if not question.strip():
        raise BadParameterError(
            'the question is empty: write one, e.g. agora interview WORLD 42 "What do you think of AI?"'
        )
    overrides = llm_overrides(args)
    world = await open_world(args.world)
    i = world.index_of(args.agent)
    refuse_unused_llm(args, local.planned_config(world.config.get("llm"), overrides), command="interview")
    async with local.serving(world.config.get("llm"), overrides) as config:  # a local model: stopped at the end
        service = LLMService(world, config)
        try:
            answer = await service.interview(i, question)
        finally:
            await service.aclose()
    await _store_cache(world, {"agent": int(args.agent), "question": question[:TEXT_LIMIT], "source": answer.source})
    persona = world.persona(i)
    data = {
        "world": os.path.abspath(args.world),
        "agent": int(args.agent),
        "name": persona.name,
        "question": question,
        "answer": answer.text,
        "source": answer.source,
        "reason": answer.reason,
        "mode": service.config.mode,
        "model": service.config.model,
        "tokens_in": answer.tokens_in,
        "tokens_out": answer.tokens_out,
        "seconds": round(answer.seconds, 3),
        "llm": llm_report(service.stats()),
    }
    note = f"({answer.source}" + (f": {answer.reason}" if answer.reason else "") + ")"
    emit(args, data, f"{persona.name}: {answer.text}\n{note}")
    return 0


async def _store_cache(world: Any, audit: dict[str, Any] | None = None) -> None:
    """Write the new cache rows of ``world`` to its file (an interview's answer is reused next time), and
    the interview to its audit log."""
    if world.path is None:
        return

    writer = await WorldWriter(world.path).start()
    try:
        if audit is not None:
            writer.submit_audit("interview", audit)
        await writer.checkpoint(world, [])
    finally:
        await writer.close()


async def _llm(args: argparse.Namespace) -> int:
    if args.world == ESTIMATE:
        return await _estimate(args)
    if args.world == DISTILL:
        return await _distill(args)
    if args.world == SCORECARD:
        return await scorecard_command(args, llm_overrides(args))
    if getattr(args, "output", None) is not None:
        raise BadParameterError("-o is for a distilled policy: run 'agora llm distill WORLD -o POLICY'")
    given = [flag for attr, flag in _ESTIMATE_OPTIONS if getattr(args, attr, None) not in (None, [], False)]
    if args.estimated is not None or given:
        raise BadParameterError(
            f"{given[0] if given else 'a second WORLD'} is for an estimate: run 'agora llm estimate WORLD "
            "--inject TEXT --steps N ...'"
        )
    if args.world == LOCAL:
        return _local(args)
    for flag, value in (("--check", args.check), ("--llm-model", args.llm_model)):
        if value:
            raise BadParameterError(f"{flag} is for the local model, not a world: run 'agora llm local {flag} ...'")
    changes = parse_params(args.set, "--set", "calls_per_tick=50")
    refuse_endpoint_settings(changes)  # before the world is even opened: nothing is written
    if not changes:
        return await _llm_settings(args, changes)
    with world_lock(args.world, what="change its LLM settings"):  # before the read: no change in between
        return await _llm_settings(args, changes)


async def _llm_settings(args: argparse.Namespace, changes: dict[str, Any]) -> int:
    if _wants_local(args):
        raise BadParameterError(
            "--llm local serves a model for run, interview, tui or serve, not for a world's settings: "
            "run 'agora llm local --check' to try it"
        )
    overrides = llm_overrides(args)
    world = await open_world(args.world)
    # What the world stores: never its servers (a file cannot name them; see sim.llm.config).
    stored = {k: v for k, v in llm_settings(world.config.get("llm"), **changes).items() if k not in ENDPOINT_SETTINGS}
    cfg = LLMConfig.resolve(stored, overrides)
    if args.ping and cfg.mode == "offline":  # refused before --set writes anything
        when, fix = _why_offline(args, cfg)
        raise BadParameterError(f"--ping sends nothing {when}: {fix or 'drop --offline or --ping'}")
    if changes:
        world.config["llm"] = stored
        writer = await WorldWriter(args.world).start()
        try:
            writer.submit_audit("llm settings", public_settings(changes))
            await writer.checkpoint(world, [])
        finally:
            await writer.close()
    data: dict[str, Any] = {
        "world": os.path.abspath(args.world),
        "settings": stored,
        "effective": cfg.public(),
        "why_offline": cfg.why_offline,
        "cache_entries": len(world.llm_cache),
        "posts": len(world.posts),
        "changed": bool(changes),
        "memory": world.memory.stats(),
    }
    width = max(18, max(len(k) for k in stored) + 2)
    lines = [f"{k:<{width}}{v}" for k, v in stored.items()]
    lines.append(
        f"{'mode':<{width}}{cfg.mode}"
        + (f" ({cfg.why_offline})" if cfg.why_offline else "")
        + f"; model {cfg.model}; servers {', '.join(cfg.base_urls) or 'the OpenAI API'}"
    )
    lines.append(f"{'cache':<{width}}{len(world.llm_cache):,} answers; posts {len(world.posts):,}")
    ms = data["memory"]
    lines.append(
        f"{'memory':<{width}}{ms['agents']:,} agents remember {ms['events']:,} events, {ms['summaries']:,} summaries "
        f"({ms['database_bytes'] / 1e6:.2f} MB"
        + (f", {ms['database_bytes'] / ms['agents'] / 1e3:.1f} kB per agent" if ms["agents"] else "")
        + f"; {ms['column_bytes'] / 1e6:.2f} MB of columns over every agent)"
    )
    if args.ping:
        service = LLMService(world, cfg)
        try:
            pings = await service.client.ping()
        finally:
            await service.aclose()
        data["ping"] = pings
        lines += [f"ping {p['url']}: {p['result']} in {p['ms']:.0f} ms" for p in pings]
    if changes:
        lines.append("settings saved")
    emit(args, data, "\n".join(lines))
    return 0


#: The word in place of WORLD that names the local model (``agora llm local``).
LOCAL = "local"


def _local(args: argparse.Namespace) -> int:
    """``agora llm local [--check] [--llm-model FILE]``: what is installed for a local model; with ``--check``,
    its server started and timed (:func:`sim.llm.local.check`)."""
    for flag, value in (("--set", args.set), ("--ping", args.ping), ("--llm", args.llm), ("--offline", args.offline)):
        if value:
            raise BadParameterError(
                f"{flag} is for a world's settings, not the local model: give a world file, or drop {flag}"
            )
    missing = local.missing_modules()
    data: dict[str, Any] = {
        "installed": not missing,
        "missing": missing,
        "versions": local.versions(),
        "install": local.INSTALL if missing else None,
        "model": None,
        "model_error": None,
        "threads": local.THREADS,
        "check": None,
    }
    if args.llm_model is not None:
        data["model"] = local.model_info(local.check_model(args.llm_model))  # a bad file: one sentence, exit 2
    else:
        try:
            data["model"] = local.model_info(local.check_model(local.default_model()))
        except AgoraError as exc:
            if args.check:
                raise
            data["model_error"] = str(exc)
    if args.check:
        with local.LocalServer(args.llm_model, threads=local.THREADS) as server:
            data["base_url"] = server.base_url
            data["check"] = local.check(server)
    emit(args, data, _local_text(data))
    if missing or data["model_error"]:  # the report is printed, and a script learns the model cannot run here
        what = f"the local-llm extra is missing ({', '.join(missing)})" if missing else "the local model is missing"
        sys.stderr.write(f"agora: llm local: {what}: {data['install'] or data['model_error']}\n")
        return EXIT_FAILED
    return 0


def _local_text(data: dict[str, Any]) -> str:
    v = data["versions"]
    shown = ", ".join(f"{k} {v[k]}" for k in v if v[k]) or "none"
    lines = [f"{'installed':<19}{shown}"]
    if data["missing"]:
        lines.append(f"{'missing':<19}{', '.join(data['missing'])}: {data['install']}")
    model = data["model"]
    if model is not None:
        lines.append(f"{'model':<19}{model['path']} ({model['bytes'] / 1e6:.1f} MB)")
    else:
        lines.append(f"{'model':<19}{data['model_error']}")
    lines.append(f"{'threads':<19}{data['threads']}")
    ck = data["check"]
    if ck is None:
        if not data["missing"]:
            lines.append("run 'agora llm local --check' to start the server and time its answers")
        return "\n".join(lines)
    lines.append(
        f"{'started in':<19}{ck['startup_seconds']:.1f} s on {data['base_url']} "
        f"(its first answer, of one token, {ck['warmup_seconds']:.1f} s of it)"
    )
    for key, label in (("short", "short answer"), ("schema", "decision (schema)")):
        a = ck[key]
        if a["error"]:
            lines.append(f"{label:<19}{a['error']}")
            continue
        rate = a["tokens_out"] / a["seconds"] if a["seconds"] > 0 else 0.0
        line = f"{label:<19}{a['seconds']:.1f} s, {a['tokens_out']} tokens out ({rate:.1f}/s), {a['tokens_in']} in"
        if key == "schema":
            line += "; parsed as JSON: " + ("yes" if a["parsed"] else "no")
            line += "; a valid decision: " + ("yes" if a["valid"] else f"no ({a['why_not']})")
        lines.append(line)
    lines.append(f"{'the decision':<19}{ck['schema'].get('text', '')!r}")
    return "\n".join(lines)


#: The word in place of WORLD that asks for an estimate (``agora llm estimate WORLD``).
ESTIMATE = "estimate"
#: The word in place of WORLD that distills a policy: ``agora llm distill WORLD -o POLICY``.
DISTILL = "distill"
#: The word in place of WORLD that scores the cheap stand-ins: ``agora llm scorecard WORLD --inject TEXT``.
SCORECARD = "scorecard"

#: The flags of an estimate (``agora llm estimate WORLD``), refused without it.
_ESTIMATE_OPTIONS = (
    ("steps", "--steps"),
    ("until_done", "--until-done"),
    ("max_ticks", "--max-ticks"),
    ("inject", "--inject"),
    ("topic", "--topic"),
    ("author", "--author"),
    ("seeds", "--seeds"),
    ("model", "--model"),
    ("param", "--param"),
    ("runs", "--runs"),
    ("seed", "--seed"),
    ("intervene", "--intervene"),
)


def estimate_fields(
    args: argparse.Namespace, llm: dict[str, Any] | None, *, model: str, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The fields of the :class:`~sim.engine.requests.Ensemble` an estimate's flags (``agora run``'s) ask for;
    ``model``: the model when none is given; ``params``: the parameters (default: ``--param``'s)."""
    return {
        "text": args.inject,
        "model": args.model or model,
        "params": parse_params(args.param) if params is None else params,
        "seeds": args.seeds or "random:10",
        "topics": args.topic,
        "author": args.author,
        "seed": args.seed or 0,
        "runs": args.runs,
        "steps": args.steps,
        "until_done": args.until_done,
        "max_ticks": args.max_ticks,
        "intervene": args.intervene,
        "llm": llm,
        "llm_wait": args.llm_wait,
    }


async def _estimate(args: argparse.Namespace) -> int:
    """``agora llm estimate WORLD --inject TEXT --steps N``: the LLM cost of a run before it starts."""
    from sim.engine.requests import Ensemble  # noqa: PLC0415 - the engine, only for an estimate
    from sim.model.registry import plugin_registry  # noqa: PLC0415
    from sim.runs.llmestimate import aestimate_session  # noqa: PLC0415

    for flag, value in (("--set", args.set), ("--ping", args.ping), ("--check", args.check)):
        if value:
            raise BadParameterError(f"{flag} is not for an estimate: drop it, or run 'agora llm WORLD {flag} ...'")
    path = args.estimated
    if path is None:
        raise BadParameterError("say which world to estimate: agora llm estimate WORLD --inject TEXT --steps N")
    if args.steps is None and not args.until_done:
        raise BadParameterError("say how long the run goes: add --steps N or --until-done")
    if args.inject is None and any(getattr(args, a) not in (None, []) for a in ("model", "param", "seeds", "topic")):
        raise BadParameterError("--model, --param, --seeds and --topic describe an injected message: add --inject TEXT")
    overrides = llm_overrides(args, serve=False)
    params = parse_params(args.param)
    cheap_choice(args, params, overrides, path)
    world = await open_world(path)
    registry = plugin_registry(path, [])
    request = Ensemble.parse(estimate_fields(args, overrides or None, model="llm", params=params), registry)
    estimate = await aestimate_session(world, request, registry=registry)
    data = {"world": os.path.abspath(path), **estimate.to_dict()}
    emit(args, data, estimate.text())
    return 0


def online_run(settings: Any, request: Any) -> bool:
    """Whether a run of ``request`` on a world whose LLM ``settings`` are these asks a server (a key, or the
    local model): only then is its cost estimated (:func:`estimate_before_run`). Starts nothing, reads nothing."""
    return local.planned_config(settings, None if request.llm is None else dict(request.llm)).mode == "online"


async def estimate_before_run(args: argparse.Namespace, world: Any, request: Any, registry: Any) -> Any:
    """``agora run``'s estimate before it starts, said on stderr: the :class:`~sim.llm.estimate.LLMEstimate` of a
    run whose sessions ask an LLM server (a key or the local model, a model with LLM agents), else None. A run
    that cannot be estimated is not held up: a note says why (the run then says what is wrong, if anything)."""
    from sim.runs.llmestimate import aestimate_session, asks_the_llm  # noqa: PLC0415 - only for LLM runs

    if not online_run(world.config.get("llm"), request) or not asks_the_llm(world, request, registry):
        return None
    try:
        estimate = await aestimate_session(world, request, registry=registry)
    except AgoraError:
        return None  # the run refuses the same mistake, in its own words
    except Exception as exc:  # an estimate's bug must not cost the run
        sys.stderr.write(f"agora: note: no LLM estimate ({type(exc).__name__}: {exc})\n")
        return None
    sys.stderr.write(f"agora: {estimate.line()}\n")
    for note in estimate.notes:
        sys.stderr.write(f"agora: note: {note}\n")
    sys.stderr.flush()
    return estimate


def estimate_after_run(result: Any, estimate: Any) -> str:
    """Put ``estimate`` beside the run's actual LLM counters into ``result`` (``llm_estimate`` in ``--json``: the
    estimate with ``actual`` and ``error``); returns the line that says it (empty without an estimate)."""
    if estimate is None:
        return ""

    seconds = sum(float(r.get("seconds", 0.0)) for r in result["runs"])
    result["llm_estimate"] = estimate.compare(result["llm"], seconds)
    return compare_text(result["llm_estimate"])


async def _distill(args: argparse.Namespace) -> int:
    """``agora llm distill WORLD -o POLICY``: a policy fitted on WORLD's LLM decisions (:mod:`sim.llm.distill`)."""
    from sim.llm.distill import distill  # noqa: PLC0415 - scikit-learn, only to distill

    if args.estimated is None:
        raise BadParameterError("say which world's decisions to distill: agora llm distill WORLD -o POLICY")
    if args.output is None:
        raise BadParameterError("say where the policy goes: agora llm distill WORLD -o POLICY")
    world = await open_world(args.estimated)
    policy, report = distill(world, seed=args.seed or 0)
    text = json.dumps(policy.to_json(), indent=1)
    Path(args.output).write_text(text + "\n", encoding="utf-8")
    report = {**report, "policy": os.path.abspath(args.output), "bytes": len(text) + 1}
    h = report["holdout"]
    line = (
        f"policy {args.output}: fitted on {report['decisions']:,} LLM decisions of {report['sessions']} session(s), "
        f"{report['features']} features; held-out agreement {h['agreement']:.1%} on {h['decisions']:,} decisions "
        f"(always {h['commonest_action']}: {h['commonest_agreement']:.1%})"
    )
    emit(args, report, line)
    return 0
