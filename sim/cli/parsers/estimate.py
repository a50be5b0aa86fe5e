"""The flags of ``agora llm estimate WORLD``: the run whose LLM cost is estimated, as ``agora run`` takes it
(``sim.cli.llm``; docs/llm-agents.md, "The cost before the run")."""

from __future__ import annotations

from typing import Any

from sim.cli.args import integer, non_negative_float, positive_int, reads, repeatable


def llm_estimate_flags(lm: Any) -> None:
    """The flags of ``agora llm estimate WORLD``: the run to estimate, as ``agora run`` takes it."""
    lm.add_argument(
        "estimated",
        nargs="?",
        metavar="WORLD",
        type=reads("world"),
        help="with estimate in place of the first WORLD: the world whose run is estimated",
    )
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
    est.add_argument(
        "--llm-wait",
        type=non_negative_float,
        default=30.0,
        metavar="S",
        help="the seconds the run waits for answers at its end (default 30): the estimate says when they are too few",
    )
