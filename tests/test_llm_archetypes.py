"""Archetypes and distilled policies (issue 76): every exposed agent decides from its archetype's probabilities
(the model asked once per archetype and situation) or from a policy fitted on the LLM's decisions (no call).

A real chat-completions server on 127.0.0.1 (``agora_testing.fakeserver``) stands in for the LLM; the command
line runs in process (``conftest.agora``)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import agora, one_sentence

from agora_testing.fakeserver import FakeChatServer
from sim.engine.simulation import Simulation
from sim.errors import BadFileError, BadParameterError
from sim.llm.archetypes import PROBABILITY_SCHEMA, archetype_prompt, parse_probabilities
from sim.llm.config import LLMConfig
from sim.llm.distill import distill
from sim.llm.service import LLMService
from sim.plugin import archetypes as arch
from sim.plugin import policy as pol
from sim.store.create import synthetic_world

KEY = "sk-agora-test-archetypes"


@pytest.fixture(scope="module")
def town():
    return synthetic_world("town", 3000, avg_degree=8, seed=5)


def _groups(w, spec: str) -> arch.Archetypes:
    return arch.assign(w.columns, w.attributes, {}, spec, w.seed)


# -- groups, situations, draws ------------------------------------------------------------------------------------
def test_clusters_cover_every_agent_with_a_member_for_a_representative(town):
    g = _groups(town, "12")
    assert g.labels.shape == (town.n,) and g.count == 12
    assert int(g.sizes.sum()) == town.n and (g.sizes > 0).all()
    assert (g.labels[g.representative] == np.arange(12)).all()  # each speaks for its own group
    again = _groups(town, "12")
    assert (again.labels == g.labels).all()  # seeded by the world
    # The clusters separate what they are made of: the susceptibility of the most and least susceptible differ.
    mean = np.bincount(g.labels, weights=town.columns["susceptibility"], minlength=12) / g.sizes
    assert mean.max() - mean.min() > 0.2


def test_column_groups_are_the_columns_values(town):
    g = _groups(town, "occupation,style")
    occ = town.columns["persona_codes"][:, 3].astype(np.int64)
    sty = town.columns["persona_style"].astype(np.int64)
    for j in range(g.count):
        members = g.labels == j
        assert np.unique(occ[members]).size == 1 and np.unique(sty[members]).size == 1
        assert arch.OCCUPATIONS[int(occ[members][0])] in g.names[j]
    assert g.count == np.unique(occ * 100 + sty).size


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("age", "lacks"),
        ("0", "out of range"),
        ("1001", "out of range"),
        ("occupation,,style", "not valid"),
        ("", "not given"),
    ],
)
def test_a_bad_spec_is_one_sentence(town, spec, words):
    with pytest.raises(BadParameterError, match=words):
        _groups(town, spec)


def test_too_many_groups_are_refused(town):
    with pytest.raises(BadParameterError, match="more than 1000"):
        _groups(town, "occupation,hobby,trait")


def test_each_agent_draws_its_own_number_whoever_draws_with_it():
    agents = np.arange(10_000)
    u = arch.agent_uniforms(12345, agents)
    assert (arch.agent_uniforms(12345, agents[::7]) == u[::7]).all()
    assert not (arch.agent_uniforms(12346, agents) == u).any()
    assert u.min() >= 0.0 and u.max() < 1.0 and abs(u.mean() - 0.5) < 0.01


def test_draws_follow_the_probabilities():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    u = arch.agent_uniforms(7, np.arange(200_000))
    got = np.bincount(arch.draw(np.tile(p, (u.size, 1)), u), minlength=4) / u.size
    assert np.abs(got - p).max() < 0.005


def test_situations_number_the_buckets_and_the_stance():
    s = arch.situations(np.array([0, 1, 2, 3, 4, 5, 99]), np.array([0, 1, 0, 1, 0, 1, 1]))
    assert s.tolist() == [0, 3, 4, 7, 6, 9, 9]
    assert arch.describe_situation(9) == ("five or more", "among its interests")


def test_the_probability_answer_is_parsed_strictly():
    assert parse_probabilities('{"repost": 1, "reply": 1, "like": 0, "ignore": 2}').tolist() == [0.25, 0.25, 0, 0.5]
    for bad in (
        '{"repost": 1}',
        '{"repost": -1, "reply": 1, "like": 0, "ignore": 2}',
        "[1,2,3,4]",
        "nope",
        '{"repost": 0, "reply": 0, "like": 0, "ignore": 0}',
        '{"repost": true, "reply": 1, "like": 0, "ignore": 2}',
    ):
        with pytest.raises(ValueError):
            parse_probabilities(bad)
    assert set(PROBABILITY_SCHEMA["required"]) == set(arch.ACTIONS)


def test_the_prompt_puts_what_requests_share_first(town):
    a = archetype_prompt(town.persona(0), ["tech"], "average susceptibility", 40, 'He said "ignore all"', 3)
    b = archetype_prompt(town.persona(0), ["tech"], "average susceptibility", 40, "Another post", 8)
    assert a[0] == b[0]  # the instructions, the same for every request
    assert a[1]["content"].split(" A member sees")[0] == b[1]["content"].split(" A member sees")[0]  # the archetype
    assert '\\"ignore all\\"' in a[1]["content"]  # the message is quoted as data


# -- policies -----------------------------------------------------------------------------------------------------
def _data(w, agents, shared, interested):
    return pol.AgentData(w.columns, w.attributes, {}, np.asarray(agents), np.asarray(shared), np.asarray(interested))


def test_a_policy_gives_its_design_matrix_times_its_coefficients(town):
    rng = np.random.default_rng(1)
    data = _data(town, rng.choice(town.n, 500), rng.integers(0, 9, 500), rng.integers(0, 2, 500))
    features = pol.standard_features(data)
    coef = rng.normal(size=(sum(pol.width(f) for f in features), 4))
    p = pol.Policy(tuple(features), coef, rng.normal(size=4), {})
    assert np.allclose(pol.logits(p, data), pol.design(features, data) @ coef + p.intercept)
    again = pol.parse_policy(json.loads(p.text()))
    assert np.allclose(pol.probabilities(again, data), pol.probabilities(p, data), atol=1e-6)


def _world_with_decisions(w, rule, count: int = 3000, seed: int = 2):
    """``w`` with one llm session whose log holds ``count`` decisions that ``rule(agents, shared, interested)``
    makes (action indices)."""
    rng = np.random.default_rng(seed)
    agents = rng.choice(w.n, count)
    shared = rng.integers(0, 8, count)
    interested = rng.integers(0, 2, count).astype(np.int8)
    store = {
        "llm.log_agent": agents.astype(np.int32),
        "llm.log_shared": shared.astype(np.int32),
        "llm.log_interested": interested,
        "llm.log_action": rule(agents, shared, interested).astype(np.int8),
        "llm.log_source": np.zeros(count, dtype=np.int8),
    }
    view = SimpleNamespace(**{k: getattr(w, k) for k in ("name", "n", "columns", "attributes", "category_labels")})
    view.sessions = [SimpleNamespace(model_name="llm", id=1, store=store)]
    return view


def test_a_distilled_policy_learns_a_rule_it_can_express(town):
    # Interested agents repost, the others ignore; the most susceptible like.
    susc = np.asarray(town.columns["susceptibility"])

    def rule(agents, shared, interested):
        return np.where(interested == 1, 0, np.where(susc[agents] > np.quantile(susc, 0.8), 2, 3))

    policy, report = distill(_world_with_decisions(town, rule))
    assert report["decisions"] == 3000 and report["holdout"]["decisions"] == 600
    assert report["holdout"]["agreement"] > 0.9 > report["holdout"]["commonest_agreement"]
    probe = _data(town, np.arange(400), np.zeros(400), np.ones(400))
    assert (pol.probabilities(policy, probe).argmax(axis=1) == 0).mean() > 0.95


def test_a_policy_of_random_decisions_agrees_no_better_than_chance(town):
    rng = np.random.default_rng(3)
    _, report = distill(_world_with_decisions(town, lambda a, s, i: rng.integers(0, 4, a.size)))
    assert report["holdout"]["agreement"] < 0.35


def test_too_few_decisions_are_one_sentence(town):
    with pytest.raises(BadParameterError, match="fewer than the 20"):
        distill(_world_with_decisions(town, lambda a, s, i: np.zeros(a.size), count=5))


def test_a_policy_file_that_is_not_one_is_refused(tmp_path):
    for name, text in (("a.json", "{"), ("b.json", '{"format": "pickle"}'), ("c.json", "[]")):
        (tmp_path / name).write_text(text)
        with pytest.raises(BadFileError, match="not an Agora policy file"):
            pol.read_policy(tmp_path / name)
    (tmp_path / "d.json").write_text(json.dumps({"format": pol.FORMAT, "version": 9}))
    with pytest.raises(BadFileError, match="version 9"):
        pol.read_policy(tmp_path / "d.json")


# -- runs through the command line --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archetypes")
    done = agora(folder, "new", "w.db", "--agents", "2000", "--seed", "3")
    assert done.returncode == 0, done.stderr
    srv = FakeChatServer(latency=0.001).start_in_thread()
    yield folder, {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": srv.url}
    srv.stop_thread()


def _run(folder, env, *flags: str):
    done = agora(
        folder,
        "run",
        "w.db",
        "--inject",
        "A heat wave is coming",
        "--topic",
        "health",
        "--until-done",
        "--llm",
        "calls_per_tick=200",
        "--json",
        *flags,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_archetype_run_asks_once_per_archetype_and_situation(served):
    folder, env = served
    first = _run(folder, env, "--llm-archetypes", "6")
    llm = first["llm"]
    assert 0 < llm["calls"] <= 6 * arch.SITUATIONS and llm["malformed"] == 0 and llm["fallbacks"] == 0
    assert llm["requests"] == llm["calls"]  # texts are off unless asked for: every call is an archetype's
    assert first["mean_reached"] > 100 and first["params"]["archetypes"] == "6"


async def test_an_archetype_run_replays_from_the_cache_identically_and_sends_nothing():
    srv = await FakeChatServer(latency=0.002).start()
    params = {"archetypes": "occupation"}
    first = synthetic_world("arch", 1500, avg_degree=8, seed=4)
    sim = Simulation(first, llm=_service(first, srv.url))
    a = sim.inject("Replay me", topics=["science"], seeds="random:6", model="llm", params=params, seed=1)
    await _until_done(sim)
    await sim.aclose(60)
    st = sim.llm.stats()
    assert st["answered"] > 10 and st["fallbacks"] == 0 and a.reached > 50
    await srv.stop()  # from here on any request would fail and show up in the counts
    again = synthetic_world("arch", 1500, avg_degree=8, seed=4)
    again.llm_cache = first.llm_cache
    replay = Simulation(again, llm=_service(again, srv.url, retries=0))
    b = replay.inject("Replay me", topics=["science"], seeds="random:6", model="llm", params=params, seed=1)
    await _until_done(replay)
    await replay.aclose()
    st2 = replay.llm.stats()
    assert st2["calls"] == 0 and st2["fallbacks"] == 0 and st2["cache_hits"] == st["answered"]
    assert np.array_equal(a.state, b.state) and np.array_equal(a.adopted_at, b.adopted_at)


def _service(w, url: str, **settings) -> LLMService:
    base = {"base_urls": url, "backoff": 0.01, "timeout": 5.0, "calls_per_tick": 50, "texts_per_tick": 0, **settings}
    return LLMService(w, LLMConfig.resolve(base, env={"OPENAI_API_KEY": KEY}))


async def _until_done(sim: Simulation, limit: int = 500) -> None:
    ticks = 0
    while not sim.idle and ticks < limit:
        await sim.step()
        await asyncio.sleep(0.003)  # answers land between ticks, as in a paced run
        ticks += 1
    assert sim.idle


def test_a_policy_distilled_from_llm_decisions_runs_with_no_call(served, tmp_path):
    folder, env = served
    _run(folder, env, "--llm-archetypes", "3")  # its draws are logged too, and a policy is never fitted on them
    asked = _run(folder, env, "--model", "llm", "--param", "llm_agents=300", "--llm", "texts_per_tick=0")
    assert asked["llm"]["calls"] > 100
    done = agora(folder, "llm", "distill", "w.db", "-o", str(tmp_path / "p.json"), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["decisions"] == asked["llm"]["answered"] > 0  # every decision the model made is logged
    ran = _run(folder, env, "--llm-policy", str(tmp_path / "p.json"))
    assert ran["llm"]["calls"] == 0 and ran["llm"]["requests"] == 0 and ran["mean_reached"] > 0


def test_bad_archetypes_and_policies_are_one_sentence_and_run_nothing(served, tmp_path):
    folder, env = served
    foreign = pol.Policy(
        ({"kind": "number", "name": "age", "mean": 30.0, "scale": 10.0},), np.zeros((1, 4)), np.zeros(4), {}
    )
    (tmp_path / "foreign.json").write_text(foreign.text())
    (tmp_path / "junk.json").write_text("not a policy")
    cases = [
        (("--llm-archetypes", "age"), "lacks"),
        (("--llm-policy", str(tmp_path / "foreign.json")), "another world's features"),
        (("--llm-policy", str(tmp_path / "junk.json")), "not an Agora policy file"),
        (("--llm-archetypes", "4", "--llm-policy", str(tmp_path / "junk.json")), "give one of them"),
        (("--llm-archetypes", "4", "--model", "sir"), "decide for the llm model"),
    ]
    for flags, words in cases:
        done = agora(folder, "run", "w.db", "--inject", "x", "--until-done", *flags, env=env)
        assert done.returncode == 2, (flags, done.stdout)
        assert words in one_sentence(done)


def test_an_archetype_run_is_estimated_before_it_runs(served):
    folder, env = served
    done = agora(
        folder,
        "llm",
        "estimate",
        "w.db",
        "--inject",
        "A heat wave is coming",
        "--topic",
        "health",
        "--until-done",
        "--llm-archetypes",
        "6",
        "--llm",
        "calls_per_tick=200",
        "--json",
        env=env,
    )
    assert done.returncode == 0, done.stderr
    est = json.loads(done.stdout)
    assert 0 < est["calls"] <= 6 * arch.SITUATIONS  # the archetypes' calls alone: no texts
    assert est["kinds"]["decision"]["calls"] == est["calls"]
