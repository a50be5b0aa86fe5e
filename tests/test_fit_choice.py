"""Which model? ``agora fit --model A,B`` (issue 60): ABC-SMC model choice against exact posterior model
probabilities, the true model found in both directions on a small world, the same seed giving the same
probabilities (on any number of workers), the confusion matrix of ``--check-choice``, and bad input in one
sentence (exit 2)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import agora, one_sentence
from scipy import integrate, stats

import sim
from sim.engine.requests import Fit, Prior, Priors
from sim.errors import BadParameterError
from sim.runs.fit.abc import Settings, run_generations
from sim.runs.fit.choice import Candidate, _ChoiceSampler

#: The priors every real fit below gives: sir's beta and gamma, ic's p (each applies to the model that has it).
PRIORS = {"beta": (0.01, 0.5), "gamma": (0.05, 0.5), "p": (0.01, 0.9)}
TICKS = 20


def _curve(w: sim.World, path: str, model: str, params: dict[str, float], seed: int) -> list[int]:
    """One run's new adoptions per tick (0 after it ended), written as ``tick,new``."""
    run = w.ensemble(model=model, params=params, seeds="random:5", runs=1, seed=seed, steps=TICKS, workers=1)
    table = run.series.columns()
    ticks, measures, values = table["tick"], table["measure"], table["value"]
    new = []
    for t in range(TICKS):
        at = values[(ticks == t) & (measures == "new")]
        new.append(int(at[0]) if at.size else 0)
    with open(path, "w") as f:
        f.write("tick,new\n" + "".join(f"{t},{n}\n" for t, n in enumerate(new)))
    return new


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 300-agent world, an SIR curve (beta 0.1, gamma 0.25: slow, long) and an IC curve (p 0.3: a burst)."""
    folder = tmp_path_factory.mktemp("choice")
    path = str(folder / "w.db")
    w = sim.new_world(path, agents=300, avg_degree=6, seed=11)
    sir = _curve(w, str(folder / "sir.csv"), "sir", {"beta": 0.1, "gamma": 0.25}, 3)
    ic = _curve(w, str(folder / "ic.csv"), "ic", {"p": 0.3}, 3)
    assert max(ic) > 2 * max(sir)  # the two curves differ as described
    return folder, path


# -- the sampler against exact model probabilities ----------------------------------------------------------

N = 20


def _binomial(p_of):
    async def evaluate(x: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = p_of(x)
        out = np.array([[np.random.default_rng(int(s)).binomial(N, q)] for q, s in zip(p, seeds)], float)
        return out, np.zeros(x.shape[0], dtype=bool)

    return evaluate


def _binomial_choice(k: int, seed: int, population: int = 1000):
    """Two models of k successes in 20 trials: ``one`` with p uniform, ``two`` with p = a b, a and b uniform
    (two parameters: p's density is -log p). The statistic is discrete, so the tolerance reaches 0 and the
    model probabilities are exact but for Monte Carlo error."""
    one, two = Priors((Prior("p", 0, 1),)), Priors((Prior("a", 0, 1), Prior("b", 0, 1)))
    candidates = [Candidate("one", SimpleNamespace(priors=one), 1), Candidate("two", SimpleNamespace(priors=two), 2)]
    evaluators = [_binomial(lambda x: x[:, 0]), _binomial(lambda x: x[:, 0] * x[:, 1])]
    settings = Settings(population=population, budget=40000, seed=seed, distance="adaptive")
    sampler = _ChoiceSampler(candidates, evaluators, np.array([float(k)]), settings, None)
    result, _ = asyncio.run(run_generations(sampler, settings, None))
    return result, np.bincount(result.u[:, 0].astype(int), weights=result.weights, minlength=2)


@pytest.mark.parametrize("k", [3, 12])
def test_model_probabilities_match_the_exact_ones(k):
    """P(one | k) = m1 / (m1 + m2) with m1 = int Bin(k; 20, p) dp and m2 = int Bin(k; 20, p) (-log p) dp: 0.356
    for k = 3 (``two`` is the more probable), 0.648 for k = 12 (``one`` is). ABC's probabilities come within
    0.05 of them (about 3 standard deviations: over ten seeds they averaged 0.354 and 0.649, sd 0.012 and
    0.016), on either side of 1/2. The sampler weighs particles of a one- and a two-parameter model against
    each other; a wrong model-kernel term or a per-model normalisation would shift the probabilities."""
    m1 = integrate.quad(lambda p: stats.binom.pmf(k, N, p), 0, 1)[0]
    m2 = integrate.quad(lambda p: stats.binom.pmf(k, N, p) * -np.log(p), 0, 1)[0]
    exact = m1 / (m1 + m2)
    result, probs = _binomial_choice(k, seed=0)
    assert result.stopped.startswith("the tolerance reached 0"), result.stopped
    assert np.all(result.stats[:, 0] == k)
    assert abs(probs[0] - exact) < 0.05, (probs, exact)
    assert (probs[0] > 0.5) == (exact > 0.5)
    # Each model's particles hold their own parameters only (the other model's columns are empty).
    x = result.x
    assert np.all(np.isnan(x[x[:, 0] == 0, 2:])) and np.all(np.isnan(x[x[:, 0] == 1, 1]))


def test_a_model_far_less_probable_keeps_its_share():
    """k = 20 of 20: m1 = 1/21 and m2 = int p^20 (-log p) dp = 1/21^2, so P(one) = 21/22 = 0.955, far from
    1/2: the few particles ``two`` keeps weigh what they should (within 0.03), and the weights sum to 1."""
    _, probs = _binomial_choice(20, seed=3)
    assert abs(probs[0] - 21 / 22) < 0.03, probs
    assert probs.sum() == pytest.approx(1.0)


# -- on a world -------------------------------------------------------------------------------------------


def _choose(world, truth: str, **extra):
    folder, path = world
    fields = {"model": ["sir", "ic"], "params": PRIORS, "seeds": "random:5", "budget": 2000, "seed": 1, "workers": 1}
    return sim.open_world(path).fit(observed=str(folder / f"{truth}.csv"), **{**fields, **extra})


@pytest.mark.parametrize("truth", ["sir", "ic"])
def test_the_true_model_is_the_more_probable(world, truth):
    """An SIR curve and an IC curve on the same world, each fitted by ``sir`` and ``ic`` with the same budget:
    the model that made the curve gets the higher probability, in either direction (seed 1 gave 0.91 to sir on
    sir's curve and 0.81 to ic on ic's). Each model's posterior comes with it, with its own parameters."""
    result = _choose(world, truth)
    assert set(result.probabilities) == {"sir", "ic"}
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    assert result.chosen == truth, result.probabilities
    assert result.probabilities[truth] > 0.6, result.probabilities
    assert set(result.fits["sir"].params) == {"beta", "gamma"} and set(result.fits["ic"].params) == {"p"}
    assert result.simulations <= 2000
    assert sum(f.simulations for f in result.fits.values()) == result.simulations
    data = result.to_dict()
    assert [m["model"] for m in data["models"]] == ["sir", "ic"]
    assert data["models"][0]["probability"] == pytest.approx(result.probabilities["sir"], abs=1e-6)
    assert data["choice"] is None and data["distance"] == "adaptive"
    assert all(set(g["probabilities"]) == {"sir", "ic"} for g in data["generations"])


def test_the_same_seed_gives_the_same_probabilities(world):
    """The same seed gives the same probabilities and posteriors on one worker and on two; another seed gives
    other numbers (the check could fail)."""
    got = []

    def progress(what: str, fraction: float) -> None:
        got.append(fraction)

    a = _choose(world, "sir", budget=1000, progress=progress)
    b = _choose(world, "sir", budget=1000, workers=2)
    c = _choose(world, "sir", budget=1000, seed=2)
    assert a.probabilities == b.probabilities
    assert np.array_equal(a.fits["sir"].samples, b.fits["sir"].samples)
    assert np.array_equal(a.fits["ic"].weights, b.fits["ic"].weights)
    assert a.probabilities != c.probabilities
    # The progress bar of a single fit: fractions of the budget, never going back, up to at most 1.
    assert got and got == sorted(got) and 0 < got[-1] <= 1.0


def test_check_choice_counts_each_models_data_sets(world):
    """``check_choice=2``: two data sets from each model's posterior, each fitted back; each row of the matrix
    (the true model) counts 2, and the accuracy is the diagonal's share."""
    result = _choose(world, "sir", budget=600, check_choice=2)
    check = result.check
    assert check is not None and check.models == ["sir", "ic"]
    assert [sum(row) for row in check.matrix] == [2, 2]
    assert check.accuracy == (check.matrix[0][0] + check.matrix[1][1]) / 4
    assert all(sum(row) == pytest.approx(1.0) for row in check.probability)
    data = result.to_dict()["choice"]
    assert data["matrix"] == check.matrix and data["datasets"] == 2 and data["draws"] == "posterior"


# -- the request and bad input ------------------------------------------------------------------------------


def test_the_request_takes_several_models():
    assert Fit.parse({"observed": "x.csv", "model": ["sir", "seir"]}).models == ("sir", "seir")
    assert Fit.parse({"observed": "x.csv", "model": "sir, seir"}).model == "sir,seir"
    assert Fit(observed="x.csv", model=["sir", "si"]).models == ("sir", "si")  # type: ignore[arg-type]
    assert Fit.parse({"observed": "x.csv", "model": "sir"}).models == ("sir",)
    with pytest.raises(BadParameterError, match="twice"):
        Fit.parse({"observed": "x.csv", "model": "sir,sir"})
    with pytest.raises(BadParameterError, match="several models"):
        Fit.parse({"observed": "x.csv", "model": "sir", "check_choice": 3})


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--param", "zeta=0.1..0.5"), "--param 'zeta' is a parameter of none of the models sir, ic"),
        (("--model", "sir,ic,lt"), "model 'lt' has none of the fitted parameters"),
        (("--check-choice", "2", "--model", "sir"), "--check-choice checks the choice between several models"),
        (("--method", "exact"), "--method exact fits one model"),
        (("-o", "post.csv"), "-o writes one model's posterior, and --model names several"),
        (("--model", "sir,nosuchmodel"), "nosuchmodel"),
    ],
)
def test_bad_choices_are_one_sentence(world, args, expected, capsys, monkeypatch):
    """A parameter none of the models has, a model with none of the fitted parameters, a check without several
    models, the exact method, a posterior file: one sentence, exit 2, nothing run (in this process: the
    command line's own subprocess is the test below)."""
    from sim.cli.main import main

    folder, path = world
    monkeypatch.chdir(folder)
    assert main([*_base(folder, path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("agora: error: ") and expected in err[0], err
    assert not (folder / "post.csv").exists()


def test_a_param_no_model_has_is_refused_by_the_command(world):
    """``agora fit --model sir,ic --param zeta=0.1..0.5`` (a parameter neither has): exit 2 and one sentence
    naming the parameter and the models."""
    folder, path = world
    line = one_sentence(agora(folder, *_base(folder, path), "--param", "zeta=0.1..0.5"))
    assert "--param 'zeta' is a parameter of none of the models sir, ic" in line, line


def _base(folder, path) -> list[str]:
    base = ["fit", path, "--model", "sir,ic", "--observed", str(folder / "sir.csv"), "--budget", "400"]
    return base + [a for name, value in PRIORS.items() for a in ("--param", f"{name}={value[0]}..{value[1]}")]


@pytest.mark.slow
def test_sir_against_si_from_the_command_line(world):
    """``agora fit --model sir,si --json`` on an SI curve and on an SIR curve of the same world, watching I: the
    model that made the curve is the more probable each time (si runs on the engine, about 20 ms a simulation
    here: slow-marked). The text report names both models and the more probable."""
    folder, path = world
    w = sim.open_world(path)
    for model, params in (("sir", {"beta": 0.15, "gamma": 0.3}), ("si", {"beta": 0.05})):
        run = w.ensemble(model=model, params=params, seeds="random:5", runs=1, seed=3, steps=15, workers=1)
        table = run.series.columns()
        ticks, measures, values = table["tick"], table["measure"], table["value"]
        rows = [f"{t},{int(values[(ticks == t) & (measures == 'I')][0])}\n" for t in range(15)]
        (folder / f"{model}-I.csv").write_text("tick,I\n" + "".join(rows))
    runs = {}
    for truth in ("sir", "si"):
        args = ["fit", path, "--model", "sir,si", "--observed", str(folder / f"{truth}-I.csv"), "--seeds", "random:5"]
        args += ["--param", "beta=0.01..0.5", "--param", "gamma=0.1..0.6", "--budget", "1000", "--seed", "1"]
        runs[truth] = agora(folder, *args, *(("--json",) if truth == "sir" else ()))
        assert runs[truth].returncode == 0, runs[truth].stderr
    data = json.loads(runs["sir"].stdout)
    probs = {m["model"]: m["probability"] for m in data["models"]}
    assert data["chosen"] == "sir" and probs["sir"] > 0.5 and data["simulations"] <= 1000, probs
    text = runs["si"].stdout
    assert "sir, si compared on series" in text and "most probable: si" in text, text


def test_one_model_twice_under_labels(world):
    """``model=["slow=sir", "fast=sir"]``: one model twice with different parameters, ``LABEL.NAME`` for one
    candidate alone and a plain name for every candidate that has it. On the SIR curve made with gamma 0.25,
    the candidate whose gamma is fixed at the truth beats the one fixed at 0.05 (about 5 times too slow a
    recovery); each candidate's fit keeps the model's name (a posterior for a forecast of sir)."""
    folder, path = world
    params = {"beta": (0.01, 0.5), "slow.gamma": 0.05, "fast.gamma": 0.25}
    fields = {"seeds": "random:5", "budget": 2000, "seed": 1, "workers": 1}
    w = sim.open_world(path)
    result = w.fit(observed=str(folder / "sir.csv"), model=["slow=sir", "fast=sir"], params=params, **fields)
    assert set(result.probabilities) == {"slow", "fast"}
    assert result.chosen == "fast", result.probabilities
    assert result.fits["fast"].model == "sir" and result.fits["fast"].fixed["gamma"] == 0.25
    assert set(result.fits["slow"].params) == {"beta"}
    data = result.to_dict()
    assert [(m["model"], m["plugin"]) for m in data["models"]] == [("slow", "sir"), ("fast", "sir")]


@pytest.mark.parametrize(
    ("model", "params", "says"),
    [
        ("a=sir,a=ic", {"beta": (0.1, 0.2)}, "model names 'a' twice"),
        ("1a=sir,ic", {"beta": (0.1, 0.2)}, "is not LABEL=MODEL"),
        ("a=sir", {"beta": (0.1, 0.2)}, "a label names one of several models"),
        ("a=sir,ic", {"a.p": (0.1, 0.2), "beta": (0.1, 0.2)}, "model 'a' has no parameter 'p'"),
        ("a=sir,ic", {"a.beta": (0.1, 0.2), "beta": (0.1, 0.2), "p": (0.1, 0.2)}, "gives 'beta' of model 'a' twice"),
    ],
)
def test_bad_labels_are_one_sentence(world, model, params, says):
    folder, path = world
    with pytest.raises(BadParameterError) as err:
        sim.open_world(path).fit(observed=str(folder / "sir.csv"), model=model, params=params, budget=100)
    assert says in str(err.value), err.value
