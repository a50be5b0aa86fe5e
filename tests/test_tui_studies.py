"""Rt, a fit and a backtest on screen (issue 77), under Textual's Pilot, on the Hagelloch village and the Measles 1861
curve in ../shared/data: each from its key (the palette's entry runs the same action), a form whose fields are the
command's, the study beside the world in a thread of its own (the header says how far), its view drawn from the
result and exported as shown (the JSON's numbers are the screen's); a bad field is one line with the form kept
filled; K cancels a running fit.

The tests wait for conditions (a study finished, a view shown, a chart drawn), never for a time.
"""

from __future__ import annotations

import asyncio
import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from conftest import agora, data_file, notified, until
from textual.widgets import Input

import sim
from sim.analysis.chartspec import spec_data
from tui.app import AgoraApp
from tui.studies import StudyScreen, StudyView

pytestmark = pytest.mark.usefixtures("keep_notifications")

CURVE = "incidence-Measles1861.csv"
SEIR = {"observe": "cases=onsets", "model": "seir", "params": "beta=0.01..0.3 sigma=0.05..0.5 gamma=0.05..0.5"}


async def fill(app, pilot, key: str, values: dict[str, str]) -> None:
    await pilot.press(key)
    assert await until(pilot, lambda: isinstance(app.screen, StudyScreen))
    for name, value in values.items():
        app.screen.query_one(f"#study-{name}", Input).value = value
    app.screen.query_one(f"#study-{next(iter(values))}", Input).focus()
    await pilot.press("enter")


async def finished(app, pilot, count: int) -> StudyView:
    assert await until(pilot, lambda: app.studying.finished >= count), notified(app)[-3:]
    assert await until(pilot, lambda: isinstance(app.screen, StudyView)), notified(app)[-3:]
    view = app.screen
    assert await until(pilot, lambda: view.chart.settled and view.chart.spec is not None)
    return view


async def exported_as_shown(app, pilot, view: StudyView) -> dict:
    """e in the view: the JSON beside the figures holds the numbers of the chart on screen."""
    await pilot.press("e")
    assert await until(pilot, lambda: bool(view.exported))
    png, svg, data = view.exported[-1]
    assert Path(png).read_bytes().startswith(b"\x89PNG") and "<svg" in Path(svg).read_text()
    numbers = json.loads(Path(data).read_text())
    assert numbers == spec_data(view.chart.spec)
    return numbers


async def test_r_draws_rt_of_the_measles_curve_as_agora_rt_computes_it(village):
    curve, serial = str(data_file(CURVE)), str(data_file("serial-interval-Measles1861.csv"))
    reference = sim.rt(curve, serial, window=7)
    app = AgoraApp(village)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        said = len(notified(app))
        await fill(app, pilot, "r", {"observed": curve, "serial_interval": serial, "window": "a week"})
        assert await until(pilot, lambda: len(notified(app)) > said)
        assert "window must be a whole number from 1 to 10,000" in notified(app)[-1]
        assert isinstance(app.screen, StudyScreen) and app.screen.query_one("#study-observed", Input).value == curve
        app.screen.query_one("#study-window", Input).value = "7"
        await pilot.press("enter")
        view = await finished(app, pilot, 1)
        (band,) = view.chart.spec.bands
        assert band.x.tolist() == reference.end.tolist()
        assert np.allclose(band.median, reference.quantiles["median"])
        q = reference.quantiles
        assert np.allclose(band.low, q["q025"]) and np.allclose(band.high, q["q975"])
        assert "R 2.5-97.5%" in view.chart.text and "Rt of incidence-Measles1861.csv" in view.chart.text
        numbers = await exported_as_shown(app, pilot, view)
        assert numbers["bands"][0]["median"] == pytest.approx(reference.quantiles["median"].tolist())


async def test_f_fits_seir_to_the_measles_onsets_on_the_village_and_b_backtests_it(village):
    curve = str(data_file(CURVE))
    with open(curve) as fh:
        cases = [float(line.split(",")[1]) for line in fh.read().split()[1:]]
    app = AgoraApp(village)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        await fill(app, pilot, "F", {"observed": curve, **SEIR, "budget": "300", "more": "seed=1 workers=1"})
        view = await finished(app, pilot, 1)
        job = view.job
        (seen,) = view.chart.spec.lines
        assert seen.points and seen.y.tolist() == cases  # the observed onsets, as the file has them
        (band,) = view.chart.spec.bands
        predictive = job.result.predictive["columns"]["onsets"]
        assert band.median.tolist() == predictive["q50"] and band.high.tolist() == predictive["q95"]
        lines = str(view.query_one("#study-lines").render())
        assert "seir: " in lines and all(f"{p}: median" in lines for p in ("beta", "sigma", "gamma"))
        await exported_as_shown(app, pilot, view)
        # right: each parameter's posterior, the particles' weights in 20 bins of its prior's range, by hand
        res = job.result
        for j, name in enumerate(res.names):
            await pilot.press("right")
            assert await until(pilot, lambda j=j: view.chart.settled and view.chart.key == ("study", job.id, j + 1))
            (post,) = view.chart.spec.lines
            prior = res.params[name].prior
            edges = np.linspace(prior.lo, prior.hi, 21)
            by_hand = [
                res.weights[(res.samples[:, j] >= a) & (res.samples[:, j] < b)].sum() for a, b in pairwise(edges)
            ]
            by_hand[-1] += res.weights[res.samples[:, j] == prior.hi].sum()
            assert (
                np.allclose(post.y, by_hand)
                and abs(post.y.sum() - 1) < 1e-9
                and f"posterior of {name}" in view.chart.spec.title
            )
            marks = {m.label: m.x for m in view.chart.spec.marks}
            assert marks == {
                "median": res.params[name].median,
                "5 %": res.params[name].ci90[0],
                "95 %": res.params[name].ci90[1],
            }
            assert f"posterior of {name}" in view.chart.text
        await exported_as_shown(app, pilot, view)  # the posterior shown, exported as shown
        await pilot.press("right")  # round to the predictive band
        assert await until(pilot, lambda: view.chart.key == ("study", job.id, 0))
        await pilot.press("escape")

        backtest = {"observed": curve, **SEIR, "cuts": "2", "horizon": "7", "budget": "200", "more": "seed=1 workers=1"}
        await fill(app, pilot, "b", backtest)
        view = await finished(app, pilot, 2)
        result = view.job.result
        assert [b.label for b in view.chart.spec.bands] == [f"cut {c.label}" for c in result.cuts]
        for band, cut in zip(view.chart.spec.bands, result.cuts):
            assert band.x[0] == cut.tick + 1 and band.median.tolist() == cut.bands[result.methods[0]]["q50"]
        assert [m.x for m in view.chart.spec.marks] == [float(c.tick) for c in result.cuts]
        assert "relative WIS" in str(view.query_one("#study-lines").render())
        await exported_as_shown(app, pilot, view)


async def test_k_cancels_a_running_fit_and_the_world_runs_on(village):
    curve = str(data_file(CURVE))
    app = AgoraApp(village)
    async with app.run_test(size=(150, 48)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        big = {"observed": curve, **SEIR, "budget": "200000", "more": "seed=1 workers=1 population=50"}
        await fill(app, pilot, "F", big)
        assert await until(pilot, lambda: app.studying.job is not None and app.studying.job.progress > 0)
        tick = app.world.tick
        await app.sim.step()  # the world ticks while the fit runs
        assert app.world.tick == tick + 1 and "fit " in (app.studying.progress_text() or "")
        await pilot.press("K")
        assert await until(pilot, lambda: app.studying.finished == 1)
        assert app.studying.job.state == "cancelled" and "cancelled" in notified(app)[-1]
        assert not isinstance(app.screen, StudyView)


def test_a_fit_of_two_models_is_refused_by_the_form_not_when_it_runs():
    """The form's parse refuses what the study cannot do (one line, nothing started); before, a choice between
    models was refused only once the study had started, as a failed job."""
    from sim.errors import BadParameterError
    from sim.live.studies import parse_study, read_form

    fields = read_form("fit", {"observed": str(data_file(CURVE)), "model": "sir,seir", "params": "beta=0.01..0.3"})
    with pytest.raises(BadParameterError, match="the UI fits one model at a time"):
        parse_study("fit", fields)


async def test_a_study_cancelled_as_it_starts_stays_cancelled(village):
    """A cancel in the gap between a study's start and its first step stops it: before, the study ran on and its
    result overwrote the cancel."""
    from sim.live.controller import WorldController

    controller = await WorldController.open(village)
    try:
        fields = {
            "observed": str(data_file(CURVE)),
            "serial_interval": str(data_file("serial-interval-Measles1861.csv")),
        }
        job = await controller.studies.start("rt", fields)
        await controller.studies.cancel(job.id)
        job = await controller.studies.wait(job.id)
        assert job.state == "cancelled" and job.result is None, (job.state, job.error)
    finally:
        await controller.close(save=False)


async def test_the_rt_form_is_agora_rts_options_and_its_priors_reach_the_estimate(village, tmp_path):
    """The Rt form's fields are ``agora rt``'s options as declared once (sim.engine.fields.RT): the same names, the
    same help as ``agora rt --help`` gives, the priors and the run among them; an Rt with a prior of its own is
    ``sim.rt``'s with that prior."""
    from sim.engine.fields import RT
    from sim.live.controller import WorldController
    from sim.live.studies import form_fields

    fields = form_fields("rt")
    assert [f.name for f in fields] == list(RT.names) and {"prior_mean", "prior_sd", "run"} <= set(RT.names)
    helped = " ".join(agora(tmp_path, "rt", "--help").stdout.split())
    for f in fields:
        assert " ".join(f.help.split()) in helped, f.name
    curve, serial = str(data_file(CURVE)), str(data_file("serial-interval-Measles1861.csv"))
    controller = await WorldController.open(village)
    try:
        asked = {"observed": curve, "serial_interval": serial, "window": "7", "prior_mean": "2", "prior_sd": "1"}
        job = await controller.studies.wait((await controller.studies.start("rt", asked)).id)
    finally:
        await controller.close(save=False)
    reference = sim.rt(curve, serial, window=7, prior_mean=2, prior_sd=1)
    assert job.state == "done" and np.array_equal(job.result.mean, reference.mean)
    assert not np.array_equal(reference.mean, sim.rt(curve, serial, window=7).mean)  # the prior counts here
