"""The flags of ``agora llm estimate WORLD``: the run whose LLM cost is estimated, as ``agora run`` takes it
(``sim.cli.llm``; docs/llm-agents.md, "The cost before the run")."""

from __future__ import annotations

from typing import Any

from sim.cli.args import integer, non_negative_float, output_file, positive_int, reads, repeatable


def llm_estimate_flags(lm: Any) -> None:
    """The flags of ``agora llm estimate WORLD``: the run to estimate, as ``agora run`` takes it."""
    lm.add_argument(
        "estimated",
        nargs="?",
        metavar="WORLD",
        type=reads("world"),
        help="with estimate (distill, scorecard) in place of the first WORLD: the world whose run is estimated "
        "(whose decisions are distilled, which is scored)",
    )
    dist = lm.add_argument_group(
        "distill",
        "agora llm distill WORLD -o POLICY: a policy fitted on the decisions an LLM made in WORLD's llm sessions "
        "(scikit-learn's logistic regression; the distill extra), for agora run --llm-policy POLICY.",
    )
    output_file(dist, "-o", "--output", what="policy file", help="where the policy is written (JSON)")
    est = lm.add_argument_group(
        "estimate",
        "With estimate in place of WORLD: the LLM cost of a run before it starts (calls, tokens, money, wall time), "
        "from a dry run on a copy of the world; the flags are agora run's (docs/llm-agents.md).",
    )
    length = est.add_mutually_exclusive_group()
    length.add_argument("--steps", type=positive_int, metavar="N", help="the run's ticks")
    length.add_argument("--until-done", action="store_true", help="until every session has finished")
    est.add_argument("--max-ticks", type=positive_int, metavar="N", help="stop --until-done after N ticks")
    est.add_argument("--inject", metavar="TEXT", help="text of the message the run injects")
    repeatable(est, "--topic", metavar="T", help="a topic of the message (repeatable)")
    est.add_argument("--author", type=integer, metavar="ID", help="the message's author (original id)")
    est.add_argument("--seeds", metavar="SPEC", help="seed agents, as agora run takes them (default random:10)")
    est.add_argument("--model", metavar="NAME", help="propagation model (default llm)")
    repeatable(est, "--param", metavar="KEY=VALUE", help="a model parameter, e.g. llm_agents=20 (repeatable)")
    est.add_argument("--runs", type=positive_int, metavar="R", help="an ensemble of R runs")
    est.add_argument("--seed", type=integer, help="session seed (run r uses S+r; default 0)")
    repeatable(
        est,
        "--intervene",
        metavar="[TICK:]ACTION",
        help="an intervention during the run, as agora run takes it (repeatable)",
    )
    cheap_flags(est)
    est.add_argument(
        "--llm-wait",
        type=non_negative_float,
        default=30.0,
        metavar="S",
        help="the seconds the run waits for answers at its end (default 30): the estimate says when they are too few",
    )


def cheap_flags(p: Any) -> None:
    """Add ``--llm-archetypes SPEC`` and ``--llm-policy FILE`` to a parser (or group)."""
    p.add_argument(
        "--llm-archetypes",
        metavar="K|COL[,COL]",
        help="every exposed agent decides from its archetype's action probabilities, the model asked once per "
        "archetype and situation: K clusters of persona features (1-1000), or the groups of columns (a people "
        "table's, or occupation, trait, hobby, style, profile, community); implies --model llm",
    )
    p.add_argument(
        "--llm-policy",
        metavar="FILE",
        type=reads("policy file"),
        help="every exposed agent decides from a policy distilled by 'agora llm distill', with no model call; "
        "implies --model llm",
    )
