"""``agora fit --summary`` (issue 60): the built-in statistics of a series on hand-made series (exact), a user's
summary function's contract and its errors (one sentence, exit 2; a function that raises is named with its own
traceback), and fits over chosen statistics from the command line and from Python."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import agora, digest, one_sentence

import sim
from sim.engine.requests import Fit
from sim.errors import BadParameterError
from sim.runs.fit.summaries import SeriesSummary, SummaryError, is_flow, series_statistics

TICKS = np.array([0, 1, 2, 3, 4, 5, 6])
SIR = ("--param", "beta=0.02..0.2", "--param", "gamma=0.05..0.5")


def _curves(**columns: list[list[float]]) -> dict[str, np.ndarray]:
    return {c: np.array(v, dtype=np.float64) for c, v in columns.items()}


# -- the built-ins, exact ----------------------------------------------------------------------------------------


def test_peak_peak_tick_and_final_of_hand_made_series():
    """Two runs of I (a state) and new (events per tick): peak is the largest value, peak_tick the tick of its
    first occurrence (the observed ticks, here not consecutive), final the last value of a state and the total
    of events."""
    ticks = np.array([0, 2, 4, 6, 8])
    curves = _curves(I=[[1, 4, 9, 9, 2], [3, 3, 1, 0, 0]], new=[[1, 3, 5, 0, 0], [0, 0, 2, 0, 7]])
    assert series_statistics("peak", curves, ticks).tolist() == [[9, 5], [3, 7]]
    assert series_statistics("peak_tick", curves, ticks).tolist() == [[4, 4], [0, 8]]
    assert series_statistics("final", curves, ticks).tolist() == [[2, 9], [0, 9]]
    assert series_statistics("curve", curves, ticks).tolist() == [[1, 4, 9, 9, 2, 1, 3, 5, 0, 0],
                                                                  [3, 3, 1, 0, 0, 0, 0, 2, 0, 7]]  # fmt: skip
    assert is_flow("new") and is_flow("new.E") and is_flow("onsets") and not is_flow("I") and not is_flow("reached")


def test_growth_is_the_log_linear_slope_up_to_the_peak():
    """log(1 + I) = 0.5 + 0.3 t exactly up to the peak at tick 4, then falling: the slope is 0.3 (the fall is
    not in it); a column whose peak is its first tick grows at 0; two points give their own slope."""
    rise = np.expm1(0.5 + 0.3 * np.arange(5))
    i = np.concatenate([rise, [rise[-1] / 2, 1.0]])
    flat = np.array([9.0, 5, 3, 2, 1, 1, 0])
    two = np.array([0.0, math.e - 1, 1, 1, 0, 0, 0])  # log(1 + x): 0 then 1, peak at tick 1
    got = series_statistics("growth", _curves(I=[i, flat, two]), TICKS)[:, 0]
    assert got == pytest.approx([0.3, 0.0, 1.0], abs=1e-12)
    # Ticks that are not consecutive: the slope is per tick of the data.
    ticks = np.array([0, 2, 4, 6])
    v = np.expm1(0.1 * ticks.astype(float))
    assert series_statistics("growth", _curves(I=[v]), ticks)[0, 0] == pytest.approx(0.1, abs=1e-12)


def test_waves_counts_rises_to_half_the_top_after_falls_below_a_quarter():
    """The rule (a centred 3-tick moving mean, a wave where it reaches half its largest value after having been
    below a quarter of it): two separate waves count 2; a dip that stays above a quarter is one wave; a series
    that starts high is one; zeros are none."""
    two = [0, 2, 10, 10, 2, 0, 0, 0, 0, 6, 9, 6, 0, 0]
    dip = [0, 2, 10, 10, 5, 4, 5, 9, 10, 6, 0, 0, 0, 0]
    high = [10, 10, 8, 6, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0]
    zero = [0] * 14
    ticks = np.arange(14)
    got = series_statistics("waves", _curves(I=[two, dip, high, zero]), ticks)[:, 0]
    assert got.tolist() == [2, 1, 1, 0]
    # The smoothing: a single-tick spike in a low series is a third of itself, under half the top.
    spike = [0, 0, 10, 10, 10, 0, 0, 0, 0, 0, 12, 0, 0, 0]
    assert series_statistics("waves", _curves(I=[spike]), ticks)[0, 0] == 1


def _runs(series: list[dict[str, list[float]]]) -> list[dict]:
    return [{"seed": k, "status": "completed", "series": s} for k, s in enumerate(series)]


def test_a_series_summary_of_chosen_statistics():
    """peak and final of the observed I and R, names in that order; a simulation's statistics are its runs'
    means (two replicates); a run that ended early keeps its last values (as curve reads it)."""
    columns = {"I": np.array([1.0, 5, 3, 2]), "R": np.array([0.0, 1, 4, 6])}
    s = SeriesSummary(columns, np.arange(4), ("S", "I", "R"), "sir", ("peak", "final"))
    assert s.names == ["peak(I)", "peak(R)", "final(I)", "final(R)"]
    assert s.observed.tolist() == [5, 6, 2, 6]
    runs = _runs([{"I": [1, 2, 8, 4], "R": [0, 0, 1, 5]}, {"I": [1, 3], "R": [0, 2]}])  # the second ended at tick 1
    assert s(runs).tolist() == [(8 + 3) / 2, (5 + 2) / 2, (4 + 3) / 2, (5 + 2) / 2]
    assert list(s.series) == ["I", "R"] and s.series["I"].tolist() == [1, 5, 3, 2]


def test_a_posterior_of_runs_that_died_out_is_warned_of():
    """extinct_warning: the weight on simulations with none of a column over the last 7 observed ticks where the
    data have some; above a tenth, one warning naming the share; none for a small share, for data that are 0
    there too, or for statistics that are not the curve."""
    from sim.runs.fit.fitting import extinct_warning  # noqa: PLC0415

    ticks = np.arange(12)
    data = np.array([1.0, 0, 2, 3, 5, 8, 9, 12, 10, 14, 15, 13])
    s = SeriesSummary({"new": data}, ticks, ("S", "I", "R"), "sir")
    alive = data + 1
    dead = np.where(ticks < 4, data, 0.0)  # took off, then died out before the last 7 ticks (5 .. 11)
    late = np.where(ticks < 6, data, 0.0)  # died out at tick 6: some cases in the window, not extinct by this rule
    stats = np.vstack([alive, dead, late, dead])
    warned = extinct_warning(s, stats, np.array([0.4, 0.3, 0.1, 0.2]))
    assert len(warned) == 1 and warned[0].startswith("50% of the posterior") and "where the data have 81" in warned[0]
    assert extinct_warning(s, stats, np.array([0.85, 0.05, 0.05, 0.05])) == []  # a tenth or less: no warning
    quiet = SeriesSummary({"new": np.where(ticks < 4, data, 0.0)}, ticks, ("S", "I", "R"), "sir")
    assert extinct_warning(quiet, stats, np.full(4, 0.25)) == []  # the data died out too
    peaks = SeriesSummary({"new": data}, ticks, ("S", "I", "R"), "sir", ("peak", "final"))
    assert extinct_warning(peaks, np.zeros((4, 2)), np.full(4, 0.25)) == []


# -- a user's function --------------------------------------------------------------------------------------------


def test_a_user_function_gets_read_only_columns_and_tick_and_its_answers_are_averaged():
    seen = []

    def ratio(series):
        seen.append(sorted(series))
        assert not series["I"].flags.writeable and series["I"].dtype == np.float64
        return [series["I"].max() / (1 + series["R"][-1]), series["tick"][-1]]

    columns = {"I": np.array([1.0, 5, 3]), "R": np.array([0.0, 1, 4])}
    s = SeriesSummary(columns, np.array([0, 2, 4]), ("S", "I", "R"), "sir", ("peak", ratio))
    assert s.observed.tolist() == [5, 4, 1.0, 4]
    assert s.names[:2] == ["peak(I)", "peak(R)"] and s.names[2].endswith("ratio[0]") and s.names[3].endswith("[1]")
    runs = _runs([{"I": [1, 1, 9, 9, 3], "R": [0, 0, 0, 1, 2]}, {"I": [1, 1, 3, 3, 3], "R": [0, 0, 0, 1, 5]}])
    assert s(runs).tolist() == [6, 3.5, (3 + 0.5) / 2, 4]
    assert seen == [["I", "R", "tick"]] * 3


def _summary(function) -> SeriesSummary:
    return SeriesSummary({"I": np.array([1.0, 5, 3])}, np.arange(3), ("S", "I", "R"), "sir", (function,))


def test_a_user_function_that_raises_is_named_with_its_own_traceback():
    def inner(series):
        raise ValueError("no peak here")

    def outer(series):
        return inner(series)

    with pytest.raises(SummaryError) as info:
        _summary(outer)
    text = str(info.value)
    assert "outer raised ValueError: no peak here at " in text and __file__ in text and "on the observed data" in text
    assert len(text.splitlines()) == 1
    tb = info.value.traceback
    assert "in outer" in tb and "in inner" in tb and tb.rstrip().endswith("ValueError: no peak here")
    assert "sim/runs/fit" not in tb  # Agora's own frames are not the author's business


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            np.zeros((2, 2)),
            "answered an array of shape (2, 2) on the observed data: it must answer one number or a 1-D",
        ),
        ([], "answered an array of shape (0,)"),
        ([1.0, math.nan], "answered nan (item 1) on the observed data: every number must be finite"),
        ([math.inf], "answered inf (item 0)"),
        ("text", "raised ValueError"),  # not a number at all: np.asarray(float) raises
    ],
)
def test_a_user_function_that_answers_what_a_summary_cannot_be_is_refused(answer, expected):
    with pytest.raises(SummaryError) as info:
        _summary(lambda series: answer)
    assert expected in str(info.value) and len(str(info.value).splitlines()) == 1


def test_a_user_function_must_answer_as_many_numbers_for_every_series():
    s = _summary(lambda series: np.ones(1 + int(series["I"].max() > 6)))
    assert s.observed.tolist() == [1.0]
    with pytest.raises(SummaryError) as info:
        s(_runs([{"I": [1, 9, 2]}]))
    assert "answered 2 numbers on a simulation (run seed 0) and 1 on the data" in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("peak,final", ("peak", "final")),
        (" growth , waves ", ("growth", "waves")),
        (["curve", "mystats:ratio"], ("curve", "mystats:ratio")),
        ("stats/my.py:f", ("stats/my.py:f",)),
        (None, ("curve",)),
    ],
)
def test_the_request_reads_summaries(value, expected):
    fields = {"observed": "x.csv"} if value is None else {"observed": "x.csv", "summary": value}
    assert Fit.parse(fields).summary == expected
    assert Fit(observed="x.csv", summary=value).summary == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("peek", "summary 'peek' is neither one of Agora's (curve, peak, peak_tick, final, growth, waves) nor"),
        ("peak,peak", "summary names 'peak' twice"),
        ("mod:", "summary 'mod:' is neither"),
        (":f", "summary ':f' is neither"),
        ("", "summary '' is neither"),
        (3, "summary must name statistics"),
    ],
)
def test_bad_summaries_in_a_request_are_one_sentence(value, expected):
    with pytest.raises(BadParameterError) as info:
        Fit.parse({"observed": "x.csv", "summary": value})
    assert expected in str(info.value) and info.value.fields == ("summary",)


# -- fits over chosen statistics ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 400-agent world, an SIR curve (S, I, R over 30 ticks, beta 0.08, gamma 0.2) and a user's module of
    summary functions beside it."""
    folder = tmp_path_factory.mktemp("summ")
    path = str(folder / "w.db")
    w = sim.new_world(path, agents=400, avg_degree=8, seed=4848)
    run = w.ensemble(model="sir", params={"beta": 0.08, "gamma": 0.2}, seeds="random:5", runs=1, seed=77, steps=30)
    table = run.series.columns()
    with open(folder / "curve.csv", "w") as f:
        f.write("tick,I,R\n")
        for t in range(30):
            at = table["tick"] == t
            i = table["value"][at & (table["measure"] == "I")][0]
            r = table["value"][at & (table["measure"] == "R")][0]
            f.write(f"{t},{int(i)},{int(r)}\n")
    (folder / "mystats.py").write_text(MYSTATS)
    return folder, path


MYSTATS = """
import numpy as np

def ratio(series):
    return [series["I"].max() / (1 + series["R"][-1]), float(np.argmax(series["I"]))]

def helper(series):
    return 1 / 0

def broken(series):
    return helper(series)

def square(series):
    return np.zeros((3, 3))

def late(series):
    # Fine on the data (a large outbreak), raises on the simulations of an outbreak that died out early.
    if series["R"][-1] < 30:
        raise RuntimeError("a simulation this function cannot read")
    return [1.0]
"""


def _fit(folder, path, *args):
    return agora(folder, "fit", path, "--model", "sir", "--observed", str(folder / "curve.csv"), *SIR,
                 "--seeds", "random:5", "--budget", "600", "--population", "100", *args)  # fmt: skip


@pytest.mark.slow
def test_cli_fits_over_chosen_and_user_statistics(world):
    """--summary peak,final,growth and a user's module:function: the fit runs over those statistics (the JSON
    names them and counts them) and the predictive check still draws the observed curve."""
    folder, path = world
    out = _fit(folder, path, "--summary", "peak,final,growth,mystats:ratio", "--predictive", "20", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["observed"]["summary"] == ["peak", "final", "growth", "mystats:ratio"]
    assert data["observed"]["statistics"] == 3 * 2 + 2
    observed = np.loadtxt(folder / "curve.csv", delimiter=",", skiprows=1)
    assert data["predictive"]["columns"]["I"]["observed"] == observed[:, 1].tolist()
    assert len(data["predictive"]["columns"]["R"]["q50"]) == 30


@pytest.mark.slow
def test_cli_summary_errors_are_one_sentence_and_a_raising_function_shows_its_traceback(world):
    """Exit 2 each time, the world untouched: an unknown name, a module that is not there, a function the module
    lacks, an answer of the wrong shape (one sentence each); a function that raises on the data or only on some
    simulations (in a worker): one sentence naming it and where, then its own frames."""
    folder, path = world
    before = digest(path)
    for summary, expected in (
        ("peek", "--summary 'peek' is neither one of Agora's"),
        ("nostats:ratio", "there is no module 'nostats' here"),
        ("mystats:nothing", "module 'mystats' has no 'nothing'"),
        ("mystats:square", "answered an array of shape (3, 3) on the observed data"),
    ):
        assert expected in one_sentence(_fit(folder, path, "--summary", summary)), summary
    for summary, what in (("mystats:broken", "the observed data"), ("mystats:late", "a simulation")):
        out = _fit(folder, path, "--summary", summary, "--workers", "2")
        assert out.returncode == 2, out.stderr
        first, *rest = out.stderr.strip().splitlines()
        assert first.startswith(f"agora: error: --summary function {summary} raised") and f"on {what}" in first
        assert "mystats.py:" in first and rest[0] == "Traceback (most recent call last):", out.stderr
        assert all("sim/runs" not in line for line in rest) and "mystats.py" in rest[1], out.stderr
    cascades = folder / "sizes.csv"
    cascades.write_text("size\n3\n8\n")
    out = agora(folder, "fit", path, "--model", "ic", "--observed", str(cascades), "--param", "p=0.01..0.2",
                "--summary", "peak")  # fmt: skip
    assert "summary chooses statistics of a series, and the observation is cascades" in one_sentence(out)
    assert digest(path) == before


def test_python_fit_takes_a_function(world):
    """world.fit(summary=[...]) takes a built-in's name and a function itself; the same seed gives the same
    posterior as the module:function spelling of the same function."""
    folder, path = world
    import importlib.util

    spec = importlib.util.spec_from_file_location("mystats_test", folder / "mystats.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    w = sim.open_world(path)
    params = {"beta": (0.02, 0.2), "gamma": (0.05, 0.5)}
    fields = {"observed": str(folder / "curve.csv"), "model": "sir", "params": params, "seeds": "random:5",
              "budget": 600, "population": 100, "predictive": 0, "workers": 1}  # fmt: skip
    one = w.fit(**fields, summary=["peak", module.ratio])
    two = w.fit(**fields, summary=f"peak,{folder / 'mystats.py'}:ratio")
    assert np.array_equal(one.samples, two.samples) and one.observed["statistics"] == 4
    assert one.observed["summary"][1].endswith(":ratio")
