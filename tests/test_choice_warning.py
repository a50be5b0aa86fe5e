"""Model choice that says when it cannot be believed (issue 75): ``agora fit --model A,B`` warns when the model
probabilities have not settled, that is when a model's probability among the particles nearest the data differs
from its probability over the whole final population (:func:`sim.runs.fit.choice.unsettled`), and suggests
``--check-choice N``. An SIR curve fitted by ``sir`` and ``ic`` at a small budget warns; the same model offered
twice (whose probabilities are 1/2 each, exactly) does not; and on made-up populations the rule's false alarms
are rare and a model kept only far from the data is named."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import agora

import sim
from sim.runs.fit.choice import unsettled

TICKS = 20
#: The statistics compared: an SIR curve's peak, its tick and the final size, which an ``ic`` cascade can come
#: near at a loose tolerance but not at a tight one.
SUMMARY = "peak,peak_tick,final"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """tests/test_fit_choice.py's world (300 agents) and its SIR curve (beta 0.1, gamma 0.25: slow, long)."""
    folder = tmp_path_factory.mktemp("choice-warning")
    path = str(folder / "w.db")
    w = sim.new_world(path, agents=300, avg_degree=6, seed=11)
    run = w.ensemble(
        model="sir", params={"beta": 0.1, "gamma": 0.25}, seeds="random:5", runs=1, seed=3, steps=TICKS, workers=1
    )
    table = run.series.columns()
    ticks, measures, values = table["tick"], table["measure"], table["value"]
    new = [int(v[0]) if (v := values[(ticks == t) & (measures == "new")]).size else 0 for t in range(TICKS)]
    (folder / "sir.csv").write_text("tick,new\n" + "".join(f"{t},{n}\n" for t, n in enumerate(new)))
    return folder, path


def test_probabilities_still_moving_warn(world):
    """``agora fit --model sir,ic --summary peak,peak_tick,final --budget 2000 --json`` on the SIR curve: P(ic) is
    0.26, but 0.10 among the quarter of the final population nearest the data (the same seed gives 0.19 at a
    budget of 5,000 and 0 at 40,000: ic's cascades come near the curve's statistics only at a loose tolerance).
    The warning names both models and their numbers, suggests ``--check-choice N``, and reaches the JSON's
    ``warnings`` and the command's stderr."""
    folder, path = world
    args = ["fit", path, "--model", "sir,ic", "--observed", str(folder / "sir.csv"), "--summary", SUMMARY]
    args += ["--param", "beta=0.01..0.5", "--param", "gamma=0.05..0.5", "--param", "p=0.01..0.9"]
    out = agora(folder, *args, "--seeds", "random:5", "--budget", "2000", "--seed", "1", "--workers", "1", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    probs = {m["model"]: m["probability"] for m in data["models"]}
    assert 0.2 < probs["ic"] < 0.35, probs
    moving = [w for w in data["warnings"] if w.startswith("the model probabilities have not settled")]
    assert len(moving) == 1, data["warnings"]
    text = moving[0]
    assert "quarter of the final population nearest the data (51 of 200 particles)" in text, text
    assert "P(ic) is 0.10 and P(sir) 0.90, against 0.26 and 0.74" in text, text
    assert "ic's particles lie farther from the data" in text, text
    assert "--budget" in text and text.endswith("--check-choice N"), text
    assert f"agora: warning: {text}" in out.stderr


def test_the_same_model_twice_does_not_warn(world):
    """``model=["a=sir", "b=sir"]`` with the same priors: the two are one model, so P(a) = P(b) = 1/2 exactly at
    every tolerance and a's particles lie as near the data as b's; at small budgets, on the curve and on the
    three statistics, no warning that the probabilities have not settled (a false alarm by construction)."""
    folder, path = world
    w = sim.open_world(path)
    fields = {"params": {"beta": (0.01, 0.5), "gamma": (0.05, 0.5)}, "seeds": "random:5", "workers": 1}
    for budget, seed, summary in ((1000, 1, None), (3000, 2, None), (2000, 1, SUMMARY)):
        extra = {"summary": summary} if summary else {}
        result = w.fit(
            observed=str(folder / "sir.csv"), model=["a=sir", "b=sir"], budget=budget, seed=seed, **fields, **extra
        )
        assert abs(result.probabilities["a"] - 0.5) < 0.1, result.probabilities
        assert not [x for x in result.warnings if "not settled" in x], (budget, seed, result.warnings)


def _population(rng: np.random.Generator, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Importance weights (log-normal, as an SMC generation's) and distances (uniform, as within a tolerance)."""
    w = rng.lognormal(0.0, 0.5, n)
    return w / w.sum(), rng.random(n)


def test_the_rule_on_made_up_populations():
    """On populations whose model does not depend on the distance (settled by construction: 300 of them, two
    models at probabilities from 0.1 to 0.9, 500 particles) the rule warns at most 3 times (once with this seed;
    its four tests at 3 standard errors each warned for 0.2 to 0.6 % of 1,000 such populations of 100 to 1,000
    particles); a model whose particles all lie in the farther 60 % of the population, at probability 0.28, is
    named with its probability among the nearest (0); a model alone, distances all 0 (a tolerance of 0), or a
    population too small to compare, say nothing."""
    rng = np.random.default_rng(5)
    alarms = 0
    for i in range(300):
        w, d = _population(rng)
        model = (rng.random(w.size) < 0.1 + 0.8 * i / 299).astype(np.int64)
        alarms += unsettled(["a", "b"], model, w, d) is not None
    assert alarms <= 3, alarms

    w, d = _population(rng)
    far = d > np.quantile(d, 0.4)
    model = np.where(far & (rng.random(w.size) < 0.5), 1, 0)
    text = unsettled(["sir", "ic"], model, w, d)
    assert text is not None and "P(ic) is 0.00" in text and "--check-choice N" in text, text
    assert ". " not in text and text.endswith("--check-choice N"), text  # one sentence

    assert unsettled(["sir", "ic"], np.zeros(w.size, dtype=np.int64), w, d) is None
    assert unsettled(["sir", "ic"], model, w, np.zeros(w.size)) is None
    assert unsettled(["sir", "ic"], model[:30], w[:30] / w[:30].sum(), d[:30]) is None
