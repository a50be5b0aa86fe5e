"""``agora fit``: fit a model's parameters to an observation file (the engine is :mod:`sim.runs.fit.fitting`).

Prints per parameter the posterior median and 90 % credible interval; ``-o FILE`` writes the weighted posterior
samples (``.csv``, ``.csv.gz`` or ``.parquet``), ``--plot FIG`` the posterior predictive check. Exit 3 when
simulations failed (they are counted, never in the posterior).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from sim.analysis.plot import check_figure_path
from sim.cli.args import EXIT_FAILED, request_fields
from sim.cli.output import emit, imported_line
from sim.cli.progress import stderr_progress
from sim.cli.textable import render_table
from sim.engine.bounds import FIT_PREDICTIVE
from sim.engine.requests import Fit
from sim.errors import BadParameterError
from sim.lab.world import WorldFile
from sim.runs.fit.choice import ChoiceResult
from sim.runs.fit.output import plot_predictive, write_posterior
from sim.store.seriesio import EXTENSIONS, check_series_path
from sim.store.worldfile import check_target

if TYPE_CHECKING:
    from sim.runs.fit.choice import ChoiceResult


def handle(args: argparse.Namespace) -> Any:
    return _cmd_fit(args)


def _check_outputs(args: argparse.Namespace) -> None:
    named = [(flag, path) for flag, path in (("-o", args.output), ("--plot", args.plot)) if path]
    if named and "," in args.model:
        raise BadParameterError(
            f"{named[0][0]} writes one model's posterior, and --model names several: fit the model you choose "
            "alone to write it"
        )
    if args.force and not named:
        raise BadParameterError("--force overwrites the -o and --plot files: give one of them")
    # An output that is an input, or both naming one file, was refused before (sim.cli.paths).
    if args.output:
        if not args.output.lower().endswith(EXTENSIONS):
            raise BadParameterError(
                f"posterior file {args.output!r} has an unknown extension: name it .csv, .csv.gz or .parquet"
            )
        check_target(args.output, args.force, what="posterior file")
        check_series_path(args.output)
    if args.plot:
        check_target(args.plot, args.force, what="figure")
        check_figure_path(args.plot)


async def _cmd_fit(args: argparse.Namespace) -> int:
    _check_outputs(args)
    request = Fit.parse(
        {
            **request_fields(args, Fit.OPTIONS),
            "params": list(args.param),
            "predictive": 0 if args.predictive is None and not args.plot else (args.predictive or FIT_PREDICTIVE),
        }
    )
    with stderr_progress() as progress:
        result = await WorldFile(args.world, plugins=args.plugins).afit(request, progress=progress)
    if isinstance(result, ChoiceResult):
        return _choice_out(args, result)
    data = result.to_dict()
    if args.output:
        data["posterior_file"] = write_posterior(args.output, result)
    if args.plot:
        data["figure"] = plot_predictive(args.plot, result)
    for warning in result.warnings:
        sys.stderr.write(f"agora: warning: {warning}\n")
    emit(args, data, lambda: format_fit(data))
    if result.failed:
        sys.stderr.write(
            f"agora: {result.failed} of {result.simulations} simulations failed; the posterior is made of the others\n"
        )
        return EXIT_FAILED
    return 0


def _choice_out(args: argparse.Namespace, result: ChoiceResult) -> int:
    data = result.to_dict()
    for warning in result.warnings:
        sys.stderr.write(f"agora: warning: {warning}\n")
    emit(args, data, lambda: format_choice(data))
    if result.failed:
        sys.stderr.write(
            f"agora: {result.failed} of {result.simulations} simulations failed; the probabilities are made of "
            "the others\n"
        )
        return EXIT_FAILED
    return 0


def _g(x: float) -> str:
    return f"{x:.4g}"


def format_fit(data: dict[str, Any]) -> str:
    """The fit as plain text: a title, one row per parameter, the simulations and the check."""
    obs = data["observed"]
    lines = [f"{data['model']} fitted to {obs['kind']} {obs['path']} by {data['method']}"]
    reading = (obs.get("recorded") or {}).get("reading")
    if reading:
        lines.append(f"read as: {reading}")
    lines += imported_line(obs.get("recorded"))
    lines.append("")
    head = ["parameter", "median", "90% interval", "prior"]
    exact = data["method"] == "exact"
    if exact:
        head += ["MLE", "90% profile interval"]
    rows = []
    for name, p in data["params"].items():
        lo, hi, scale = p["prior"]
        row = [name, _g(p["median"]), f"{_g(p['ci90'][0])} .. {_g(p['ci90'][1])}", f"{_g(lo)} .. {_g(hi)} {scale}"]
        if exact:
            row += [_g(p["mle"]), f"{_g(p['profile90'][0])} .. {_g(p['profile90'][1])}"]
        rows.append(row)
    lines.append(render_table(head, rows))
    lines.append("")
    if exact:
        lines.append(f"exact likelihood; {data['population']:,} posterior draws; {data['seconds']:.1f} s")
    else:
        gens = data["generations"]
        last = gens[-1] if gens else None
        tol = f", final tolerance {last['epsilon']:.4g}" if last and last["epsilon"] is not None else ""
        lines.append(
            f"{data['simulations']:,} simulations ({data['failed']} failed) in {len(gens)} generations{tol}; "
            f"ESS {data['ess']:.0f} of {data['population']}; {data['seconds']:.1f} s on {data['workers']} "
            f"worker(s), {data['kernel']} kernel"
        )
        lines.append(f"stopped: {data['stopped']}")
        if data.get("adjusted"):
            lines.append("the final population is regression-adjusted (Beaumont et al. 2002; --no-adjust: as accepted)")
    pred = data.get("predictive")
    if pred and pred.get("inside90") is not None:
        lines.extend(predictive_lines(pred))
    if data.get("posterior_file"):
        lines.append(f"posterior samples: {data['posterior_file']['path']} ({data['posterior_file']['rows']} rows)")
    if data.get("figure"):
        lines.append(f"figure: {data['figure']}")
    return "\n".join(lines)


def predictive_lines(pred: dict[str, Any], of: str = "") -> list[str]:
    """The posterior predictive check in words: first, where it is so, that the simulations' median is 0 where the
    data count cases; then the share of points inside the band, the band's width beside the data, and the share
    of runs that died out (issue 73: a band of 0 to 700 around data of 5 to 56 holds them, and says little)."""
    cols = pred.get("columns") or {}
    zero = sum(c.get("zero_median", 0) for c in cols.values())
    counted = sum(c.get("counted", 0) for c in cols.values())
    died = pred.get("died_out")
    out = []
    if zero and counted:
        why = f" ({died:.0%} of the runs died out)" if died else ""
        out.append(
            f"posterior predictive check{of}: the simulations' median is 0 at {zero} of the {counted} observed points "
            f"that count cases{why}: the band holds the data without following them"
        )
    widths = [c["relative_width"] for c in cols.values() if c.get("relative_width") is not None]
    extra = ""
    if widths:
        extra += f"; the band's median width is {max(widths):.3g} times the data's median"
    if died is not None:
        extra += f"; {died:.0%} of the runs died out before the data's last week"
    out.append(
        f"posterior predictive check{of}: {pred['inside90']:.0%} of the observed points inside the 90% band of "
        f"{pred['simulations']} simulations{extra}"
    )
    return out


def format_choice(data: dict[str, Any]) -> str:
    """A choice between models as plain text: a row per model (its probability and its parameters' medians and
    intervals), the simulations, and the confusion matrix of the check."""
    obs = data["observed"]
    names = [m["model"] for m in data["models"]]
    lines = [f"{', '.join(names)} compared on {obs['kind']} {obs['path']} by ABC-SMC model choice", ""]
    rows = []
    for m in data["models"]:
        params = list(m["params"].items())
        for j, (name, p) in enumerate(params):
            first = j == 0
            rows.append(
                [
                    m["model"] if first else "",
                    f"{m['probability']:.3f}" if first else "",
                    f"{m['particles']}" if first else "",
                    name,
                    _g(p["median"]),
                    f"{_g(p['ci90'][0])} .. {_g(p['ci90'][1])}",
                ]
            )
    lines.append(render_table(["model", "probability", "particles", "parameter", "median", "90% interval"], rows))
    lines.append("")
    gens = data["generations"]
    last = gens[-1] if gens else None
    tol = f", final tolerance {last['epsilon']:.4g}" if last and last["epsilon"] is not None else ""
    choice = data.get("choice")
    seconds = data["seconds"] - (choice["seconds"] if choice else 0.0)  # the check's time is said below
    lines.append(
        f"{data['simulations']:,} simulations ({data['failed']} failed) in {len(gens)} generations{tol}; "
        f"ESS {data['ess']:.0f} of {data['population']}; {seconds:.1f} s on {data['workers']} worker(s)"
    )
    lines.append(f"stopped: {data['stopped']}")
    lines.append(f"most probable: {data['chosen']} (one adaptive distance over every model's simulations)")
    for m in data["models"]:
        pred = m.get("predictive")
        if pred and pred.get("inside90") is not None:
            lines.extend(predictive_lines(pred, f" of {m['model']}"))
    if choice:
        lines += ["", f"check of the choice: {choice['datasets']} data sets from each model's posterior, fitted back"]
        head = ["true \\ chosen", *choice["models"]]
        rows = [[name, *(str(c) for c in row)] for name, row in zip(choice["models"], choice["matrix"], strict=True)]
        lines.append(render_table(head, rows))
        lines.append(f"accuracy {choice['accuracy']:.0%} ({choice['seconds']:.1f} s)")
    return "\n".join(lines)
