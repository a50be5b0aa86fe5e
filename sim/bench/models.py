"""``agora bench models``: every built-in propagation model's tick at scale, and NDlib beside it.

For each built-in model (the ``llm`` model wraps a rule model and is left out) one session runs on a
synthetic world of N agents (default 1,000,000 agents, about 10,000,000 edges) for up to ``ticks``
rounds after its seeding tick; the figure is the wall time of whole simulation ticks (the model's step,
the engine's checks and bookkeeping, the series, edge merges): the median is held to the 0.5 s target,
the maximum is reported beside it. Parameters and seeds are chosen so every model is busy
(``BENCH_RUNS``): cascades start from 1,000 random seeds, opinion models from half the agents.

Beside it, where NDlib (the standard diffusion library, ``pip install 'agora-sim[bench]'``) has the
model, both run on a smaller world (default 100,000 agents) with the same parameters: Agora's tick and
NDlib's ``iteration()``. NDlib's epidemic and threshold models, WHK, algorithmic bias and the
cognitive model update every node in an iteration, as an Agora round does; its voter, q-voter, Sznajd
and majority-rule models update one agent (or one group) per iteration. NDlib's HK computes a new
opinion for N drawn nodes per iteration but stores only the last one's (6.0.1): it is counted at N, the
work it does, so its speedup is that of work done, not of opinions changed. The comparable figure is
therefore agent updates per second (agents decided per round or iteration, divided by its time), and
``speedup`` is Agora's rate over NDlib's. NDlib's set-up (graph conversion, per-node configuration) is
reported but not timed into the rate.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.bench.measure import BenchWorld, PeakRSS, Progress, mb
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.llm.service import LLMService
from sim.model.registry import Registry
from sim.store.create import synthetic_world

#: The 0.5 s per tick at 1M agents / 10M edges that every built-in model must keep.
TARGET_TICK_S = 0.5

#: A sequential schedule's tick is a sweep of N updates applied one after another (issue 34 sets 1 s for
#: ``deffuant``'s at 1M agents / 10M edges); a model run with ``schedule=sequential`` is held to it.
SEQUENTIAL_TARGET_TICK_S = 1.0

#: Parameters and the share of agents seeded per model for the benchmark (defaults otherwise): chosen
#: so that rounds are busy (1,000 seeds of a million for cascades, half the agents for binary opinions).
BENCH_RUNS: dict[str, tuple[dict[str, Any], float]] = {
    "ic": ({"p": 0.15}, 0.001),
    "lt": ({}, 0.02),
    "threshold": ({"threshold": 0.1}, 0.02),
    "sir": ({"beta": 0.08, "gamma": 0.2}, 0.001),
    "sis": ({"beta": 0.08, "gamma": 0.2}, 0.001),
    "seir": ({"beta": 0.1, "gamma": 0.2, "sigma": 0.5}, 0.001),
    "si": ({"beta": 0.05}, 0.001),
    "seis": ({"beta": 0.1, "gamma": 0.2, "sigma": 0.5}, 0.001),
    "sirs": ({"beta": 0.08, "gamma": 0.2}, 0.001),
    "swir": ({}, 0.001),
    "adaptive-sis": ({}, 0.001),
    "viral": ({}, 0.001),
    "diffusion": ({}, 0.001),
    "hybrid": ({}, 0.001),
    "generalised-threshold": ({}, 0.02),
    "kertesz-threshold": ({}, 0.02),
    "profile": ({}, 0.02),
    "profile-threshold": ({}, 0.02),
    "voter": ({}, 0.5),
    "q-voter": ({}, 0.5),
    "majority-rule": ({}, 0.5),
    "sznajd": ({}, 0.5),
    "deffuant": ({}, 0.001),
    "hegselmann-krause": ({}, 0.001),
    "weighted-hk": ({}, 0.001),
    "algorithmic-bias": ({}, 0.001),
    "cognitive-opinion": ({}, 0.001),
    "seir-ct": ({"beta": 0.1, "sigma": 0.5, "gamma": 0.2}, 0.001),
    "seis-ct": ({"beta": 0.1, "sigma": 0.5, "gamma": 0.2}, 0.001),
    "sair": ({"beta": 0.1, "beta_a": 0.06}, 0.001),
    "sird": ({"beta": 0.08}, 0.001),
    "sveir": ({"beta": 0.1, "theta": 0.01}, 0.001),
    "forest-fire": ({"p": 0.05, "f": 1e-5}, 0.001),
    "utldr": ({"beta": 0.1, "phi_e": 0.05, "phi_i": 0.1, "omega": 0.01, "p": 0.02}, 0.001),
    "ice": ({}, 0.01),
    "icp": ({"p": 0.15}, 0.001),
    "icep": ({"p": 0.15}, 0.001),
    "nls": ({}, 0.5),
    "voter-zealots": ({"zealots_0": 0.01}, 0.01),
    "altafini": ({}, 0.001),
    "friedkin-johnsen": ({}, 0.001),
    "algorithmic-bias-media": ({}, 0.001),
    "arwhk": ({}, 0.001),
}

#: NDlib's counterpart of a model: (module, class, model parameters, per-node parameters, per-edge
#: parameters, agents updated per iteration: "n" for all, else a number), with Agora's parameter
#: values translated to NDlib's names (in ``_ndlib_parameters``).
NDLIB_MODELS: dict[str, tuple[str, str, str]] = {
    "ic": ("epidemics", "IndependentCascadesModel", "n"),
    "si": ("epidemics", "SIModel", "n"),
    "sir": ("epidemics", "SIRModel", "n"),
    "sis": ("epidemics", "SISModel", "n"),
    "seir": ("epidemics", "SEIRModel", "n"),
    "seis": ("epidemics", "SEISModel", "n"),
    "sirs": ("epidemics", "SIRSModel", "n"),
    "swir": ("epidemics", "SWIRModel", "n"),
    "threshold": ("epidemics", "ThresholdModel", "n"),
    "generalised-threshold": ("epidemics", "GeneralisedThresholdModel", "n"),
    "kertesz-threshold": ("epidemics", "KerteszThresholdModel", "n"),
    "profile": ("epidemics", "ProfileModel", "n"),
    "profile-threshold": ("epidemics", "ProfileThresholdModel", "n"),
    "voter": ("opinions", "VoterModel", "1"),
    "q-voter": ("opinions", "QVoterModel", "1"),
    "majority-rule": ("opinions", "MajorityRuleModel", "q"),
    "sznajd": ("opinions", "SznajdModel", "1"),
    "hegselmann-krause": ("opinions", "HKModel", "n"),
    "weighted-hk": ("opinions", "WHKModel", "n"),
    "algorithmic-bias": ("opinions", "AlgorithmicBiasModel", "n"),
    "deffuant": ("opinions", "AlgorithmicBiasModel", "n"),  # algorithmic bias with gamma = 0 is Deffuant's model
    "cognitive-opinion": ("opinions", "CognitiveOpDynModel", "n"),
    "seir-ct": ("epidemics", "SEIRctModel", "n"),
    "seis-ct": ("epidemics", "SEISctModel", "n"),
    "sair": ("epidemics", "SAIRModel", "n"),
    "sird": ("epidemics", "SIRDModel", "n"),
    "sveir": ("epidemics", "SVEIRModel", "n"),
    "forest-fire": ("epidemics", "ForestFireModel", "n"),
    "utldr": ("epidemics", "UTLDRModel", "n"),
    "ice": ("epidemics", "ICEModel", "n"),
    "icp": ("epidemics", "ICPModel", "n"),
    "icep": ("epidemics", "ICEPModel", "n"),
    "voter-zealots": ("opinions", "VoterZealotModel", "1"),
    "altafini": ("opinions", "AltafiniModel", "n"),
    "friedkin-johnsen": ("opinions", "FJModel", "n"),
    "algorithmic-bias-media": ("opinions", "AlgorithmicBiasMediaModel", "n"),
    "arwhk": ("opinions", "ARWHKModel", "n"),
}

#: Models NDlib has but the benchmark does not run there, and why.
NDLIB_SKIPPED: dict[str, str] = {
    "nls": "NDlib's NLSModel precomputes all-pairs shortest paths (N**2 entries: 10**10 at 100,000 agents)",
}


def _ndlib_parameters(name: str, p: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """NDlib's (model, per-node, per-edge) parameters for Agora's model ``name`` with parameters ``p``."""
    get = p.get
    model: dict[str, Any] = {}
    node: dict[str, Any] = {}
    edge: dict[str, Any] = {}
    if name == "ic":
        edge = {"threshold": get("p", 0.1)}
    elif name in ("si", "sir", "sis", "seir", "seis", "sirs"):
        model["beta"] = get("beta", 0.05)
        if name in ("sir", "seir", "sirs"):
            model["gamma"] = get("gamma", 0.2)
        if name in ("sis", "seis"):
            model["lambda"] = get("gamma", 0.2)
        if name in ("seir", "seis"):
            model["alpha"] = get("sigma", 0.3)
        if name == "sirs":
            model["eta"] = get("xi", get("eta", 0.05))
    elif name == "swir":
        model = {k: get(k, d) for k, d in (("kappa", 0.1), ("mu", 0.1), ("nu", 0.1))}
    elif name == "threshold":
        node = {"threshold": get("threshold", 0.2)}
    elif name == "generalised-threshold":
        model = {"tau": get("tau", 1), "mu": get("mu", 1)}
        node = {"threshold": get("threshold", 0.2)}
    elif name == "kertesz-threshold":
        model = {"adopter_rate": get("adopter_rate", 0.0), "percentage_blocked": get("percentage_blocked", 0.0)}
        node = {"threshold": get("threshold", 0.2)}
    elif name in ("profile", "profile-threshold"):
        model = {"blocked": get("blocked", 0.0), "adopter_rate": get("adopter_rate", 0.0)}
        node = {"profile": get("profile", 0.5)}
        if name == "profile-threshold":
            node["threshold"] = get("threshold", 0.2)
    elif name in ("q-voter", "majority-rule"):
        model = {"q": int(get("q", 3))}
    elif name in ("hegselmann-krause", "weighted-hk"):
        model = {"epsilon": get("epsilon", 0.2)}
        if name == "weighted-hk":
            edge = {"weight": 1.0}
    elif name in ("algorithmic-bias", "deffuant"):
        model = {"epsilon": get("epsilon", 0.2), "gamma": 0.0 if name == "deffuant" else get("gamma", 1.0)}
    elif name == "cognitive-opinion":
        model = {
            k: get(k, d)
            for k, d in (
                ("I", 0.15),
                ("T_range_min", 0.0),
                ("T_range_max", 1.0),
                ("B_range_min", 0.0),
                ("B_range_max", 1.0),
                ("R_fraction_negative", 1 / 3),
                ("R_fraction_neutral", 1 / 3),
                ("R_fraction_positive", 1 / 3),
            )
        }
    elif name in ("seir-ct", "seis-ct"):
        model = {"beta": get("beta", 0.1), "alpha": get("sigma", 0.3)}
        model["gamma" if name == "seir-ct" else "lambda"] = get("gamma", 0.2)
    elif name in ("sair", "sird", "forest-fire"):
        model = dict(p)
    elif name == "sveir":  # NDlib's sigma is the vaccine's leakage, its delta the incubation
        model = {"beta": get("beta", 0.05), "theta": get("theta", 0.01), "sigma": get("leak", 0.2)}
        model.update({"delta": get("sigma", 0.3), "gamma": get("gamma", 0.2)})
    elif name == "utldr":
        model = {k: v for k, v in p.items() if k not in ("icu_b", "lockdown", "lockdown_end")}
    elif name in ("icp", "icep"):
        model = {"permeability": get("permeability", 0.5)}
        edge = {"threshold": get("p", 0.1)}
    elif name == "altafini":
        edge = {"sign": 1}
    elif name == "friedkin-johnsen":
        node = {"stubbornness": get("stubbornness", 0.1)}
    elif name == "algorithmic-bias-media":
        media = [float(v) for v in str(get("media", "0.5")).split(",")]
        model = {k: get(k, d) for k, d in (("epsilon", 0.2), ("gamma", 1.0), ("gamma_media", 1.0), ("p", 0.1))}
        model |= {"k": len(media), "media_opinions": media}
    elif name == "arwhk":  # NDlib's epsilon is on [-1, 1]; its method_variant 3 is attraction-repulsion
        variants = {"base": 0, "attraction": 1, "repulsion": 2, "attraction-repulsion": 3}
        model = {"epsilon": 2 * get("epsilon", 0.2), "method_variant": variants[get("variant", "attraction-repulsion")]}
        node, edge = {"stubborn": 0}, {"weight": 0.5}
    return model, node, edge


def _ndlib_run(
    name: str, world: Any, params: dict[str, Any], seeds: np.ndarray, iterations: int, budget_s: float
) -> dict[str, Any]:
    """NDlib's model on ``world``'s graph (undirected: Agora's synthetic worlds store both directions;
    without isolated agents):
    seconds per ``iteration()`` (median of up to ``iterations``, within ``budget_s``), set-up apart."""
    try:
        import ndlib.models.ModelConfig as mc  # noqa: PLC0415 - optional (the bench extra)
        import networkx as nx  # noqa: PLC0415 - heavy (~0.5 s to import), needed only here

        module, cls_name, per_iteration = NDLIB_MODELS[name]
        cls = getattr(importlib.import_module(f"ndlib.models.{module}"), cls_name)
    except Exception as exc:  # noqa: BLE001 - any import problem means "not available"
        return {
            "available": False,
            "reason": f"NDlib is not installed or incomplete ({type(exc).__name__}: {exc}); "
            "pip install 'agora-sim[bench]'",
        }
    t_setup = time.perf_counter()
    # Isolated agents are left out: several NDlib opinion models fail on a node without neighbours.
    g = nx.Graph()
    src, dst = world.graph.sources(), world.graph.out_indices
    keep = src < dst
    g.add_edges_from(zip(src[keep].tolist(), dst[keep].tolist()))
    seeds = seeds[np.isin(seeds, np.fromiter(g.nodes(), dtype=np.int64, count=g.number_of_nodes()))]
    model_p, node_p, edge_p = _ndlib_parameters(name, params)
    try:
        model = cls(g)
        cfg = mc.Configuration()
        for k, v in model_p.items():
            cfg.add_model_parameter(k, v)
        for k, v in node_p.items():
            for v_node in g.nodes():
                cfg.add_node_configuration(k, v_node, v)
        for k, v in edge_p.items():
            for e in g.edges():
                cfg.add_edge_configuration(k, e, v)
        if name in ("ice", "icp", "icep"):  # NDlib's community-aware cascades read each node's community
            community = world.columns["community"]
            for v_node in g.nodes():
                cfg.add_node_configuration("com", v_node, int(community[v_node]))
        if module == "epidemics" or per_iteration != "n":
            cfg.add_model_initial_configuration("Infected", seeds.tolist())
        model.set_initial_status(cfg)
        setup = time.perf_counter() - t_setup
        model.iteration(node_status=False)  # NDlib's first iteration returns the initial status
        times: list[float] = []
        t_start = time.perf_counter()
        while len(times) < iterations and time.perf_counter() - t_start < budget_s:
            t0 = time.perf_counter()
            model.iteration(node_status=False)
            times.append(time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - NDlib's own failure is a figure we cannot take, not ours
        return {"available": False, "reason": f"NDlib's {cls_name} failed: {type(exc).__name__}: {exc}"}
    seconds = float(np.median(times))
    updates = g.number_of_nodes() if per_iteration == "n" else int(model_p.get("q", 1)) if per_iteration == "q" else 1
    return {
        "available": True,
        "model": f"{module}.{cls_name}",
        "parameters": model_p,
        "node_parameters": node_p,
        "iterations_timed": len(times),
        "iteration_ms_median": round(1000 * seconds, 3),
        "agents_per_iteration": updates,
        "agent_updates_per_second": updates / seconds if seconds > 0 else None,
        "setup_seconds": round(setup, 2),
    }


def _agora_ticks(
    world: Any, registry: Any, name: str, params: dict[str, Any], seeds: str, ticks: int
) -> dict[str, Any]:
    """One session of ``name`` on a fork of ``world``: whole-tick seconds of up to ``ticks`` rounds."""

    fork = world.fork()
    sim = Simulation(fork, registry=registry, llm=LLMService.offline(fork))
    s = sim.inject("bench", model=name, params=params, seeds=seeds, seed=0)
    asyncio.run(sim.step())  # the seeding tick
    seconds: list[float] = []
    for _ in range(ticks):
        if s.status != "running":
            break
        asyncio.run(sim.step())
        seconds.append(sim.metrics[-1]["seconds"])
    out = {
        "params": s.params,
        "seeds": seeds,
        "ticks_timed": len(seconds),
        "status": s.status,
        "reached": s.reached,
        "error": s.error,
    }
    if seconds:
        out.update(
            {
                "tick_ms_median": round(1000 * float(np.median(seconds)), 1),
                "tick_ms_max": round(1000 * float(np.max(seconds)), 1),
                "agent_updates_per_second": world.n / float(np.median(seconds)),
            }
        )
    del fork, sim, s
    gc.collect()
    return out


@dataclass(frozen=True)
class ModelsBench(BenchWorld):
    """What :func:`bench_models` measures on: the world, the rounds timed per model (``ticks``), and NDlib's
    side: its world's agents (0 skips it), the iterations timed and the seconds they may take; ``models``
    limits the run to some models (None: every built-in one)."""

    ticks: int = 10
    ndlib_agents: int = 100_000
    ndlib_iterations: int = 3
    ndlib_budget_s: float = 60.0
    models: tuple[str, ...] | None = None


def bench_models(bench: ModelsBench | int = 1_000_000, progress: Progress = None, **fields: Any) -> dict[str, Any]:
    """Every built-in model's tick on ``bench`` (or a world of that many agents, the other fields of
    :class:`ModelsBench` as keywords), and beside it NDlib at ``ndlib_agents`` (see the module docstring)."""

    bench = ModelsBench.of(bench, **fields)
    agents, ticks, ndlib_agents, models = bench.agents, bench.ticks, bench.ndlib_agents, bench.models
    registry = Registry(entry_points=False, env=False)
    names = sorted(i.name for i in registry.list("model") if i.source == "builtin" and i.name != "llm")
    if models:
        unknown = sorted(set(models) - set(names))
        if unknown:
            raise BadParameterError(f"no built-in model {unknown[0]!r}: the built-in models are {', '.join(names)}")
        names = [n for n in names if n in models]
    r = bench.report("models", ticks=ticks, target_tick_ms=1000 * TARGET_TICK_S, ndlib_agents=ndlib_agents)
    steps = 2 * len(names)
    done = 0
    out: dict[str, dict[str, Any]] = {name: {} for name in names}
    with PeakRSS() as peak:
        world = bench.generate(r, progress, f"building a world of {agents:,} agents")
        for name in names:
            params, share = BENCH_RUNS.get(name, ({}, 0.001))
            params = {k: v for k, v in params.items() if k in registry.model(name).params}
            seeds = f"random:{max(1, int(share * agents))}"
            if progress:
                progress(f"{name} on {agents:,} agents", done / steps)
            res = _agora_ticks(world, registry, name, params, seeds, ticks)
            # The target holds for the typical tick (the median); the slowest is reported beside it (the first
            # heavy round of a process also pays the page faults of fresh work arrays).
            target = SEQUENTIAL_TARGET_TICK_S if res["params"].get("schedule") == "sequential" else TARGET_TICK_S
            res["target_tick_ms"] = 1000 * target
            res["within_target"] = res.get("tick_ms_median") is not None and res["tick_ms_median"] <= 1000 * target
            out[name] = res
            done += 1
        del world
        gc.collect()
        if ndlib_agents:
            small = synthetic_world("ndlib", ndlib_agents, avg_degree=bench.avg_degree, seed=bench.seed)
            for name in names:
                done += 1
                if name not in NDLIB_MODELS:
                    why = NDLIB_SKIPPED.get(name, "NDlib has no such model")
                    out[name]["ndlib"] = {"available": False, "reason": why}
                    continue
                if progress:
                    progress(f"{name} on {ndlib_agents:,} agents, Agora and NDlib", done / steps)
                share = BENCH_RUNS.get(name, ({}, 0.001))[1]
                params = dict(out[name]["params"])
                k = max(1, int(share * ndlib_agents))
                ours = _agora_ticks(small, registry, name, params, f"random:{k}", ticks)
                seed_ids = np.random.default_rng(bench.seed).choice(small.n, size=k, replace=False)
                nd = _ndlib_run(name, small, params, np.sort(seed_ids), bench.ndlib_iterations, bench.ndlib_budget_s)
                nd["agora_tick_ms_median"] = ours.get("tick_ms_median")
                nd["agora_agent_updates_per_second"] = ours.get("agent_updates_per_second")
                if nd.get("available") and nd.get("agent_updates_per_second") and ours.get("agent_updates_per_second"):
                    nd["speedup"] = float(f"{ours['agent_updates_per_second'] / nd['agent_updates_per_second']:.3g}")
                out[name]["ndlib"] = nd
    r["models"] = out
    r["peak_rss_mb"] = mb(peak.peak)
    r["all_within_target"] = all(m.get("within_target") for m in out.values())
    return r
