"""The ensembles' yardsticks (``agora bench propagation``'s ``yardsticks``): the plain kernels are the
models they stand beside, and the benchmark reports every figure its verdicts read."""

from __future__ import annotations

import numpy as np
import pytest

from sim.bench.ensembles import measure_size, numpy_ic_kernel, numpy_lt_kernel, numpy_sir_kernel
from sim.cli.parser import build_parser


def _chain(n: int) -> tuple[np.ndarray, np.ndarray]:
    """0 -> 1 -> ... -> n-1 as an out-CSR."""
    indptr = np.concatenate(([0], np.arange(1, n), [n - 1])).astype(np.int64)
    return indptr, np.arange(1, n, dtype=np.int64)


def test_the_kernels_follow_their_rules_on_a_chain():
    indptr, indices = _chain(6)
    rng = np.random.default_rng(0)
    seeds = np.array([0])
    assert numpy_ic_kernel(indptr, indices, 6, seeds, 1.0, rng) == 6
    assert numpy_ic_kernel(indptr, indices, 6, seeds, 0.0, rng) == 1
    # Each agent follows one other: weight 1 reaches any threshold in (0, 1].
    assert numpy_lt_kernel(indptr, indices, np.array([0, 1, 1, 1, 1, 1]), 6, seeds, rng) == 6
    assert numpy_sir_kernel(indptr, indices, 6, seeds, 1.0, 1.0, rng) == 6
    assert numpy_sir_kernel(indptr, indices, 6, seeds, 0.0, 1.0, rng) == 1


def test_the_ic_kernel_reaches_the_analytic_mean_on_a_star():
    """A star of 200 leaves from its hub: the mean reach is 1 + 200 p."""
    leaves = 200
    indptr = np.concatenate(([0, leaves], np.full(leaves, leaves))).astype(np.int64)
    indices = np.arange(1, leaves + 1, dtype=np.int64)
    rng = np.random.default_rng(3)
    reach = [numpy_ic_kernel(indptr, indices, leaves + 1, np.array([0]), 0.3, rng) for _ in range(400)]
    sd = np.sqrt(leaves * 0.3 * 0.7 / 400)
    assert abs(np.mean(reach) - (1 + leaves * 0.3)) < 4.5 * sd


def test_measure_size_reports_every_figure_the_verdicts_read():
    r = measure_size(3000, 6.0, runs=3, seed=2, repeats=1, lt_runs=5)
    for model in ("ic", "lt", "sir"):
        row = r[model]
        assert row["runs"] == (5 if model == "lt" else 3)
        if row["cynetdiff"].get("available"):
            assert row["cynetdiff"]["cascades"] == row["runs"]
        assert row["agora_one_core_ms"] > 0 and row["numpy_kernel_ms"] > 0
        assert row["all_cores_over_numpy"] > 0
        if model != "sir" and row["cynetdiff"].get("available"):
            assert row["one_core_over_cynetdiff"] > 0
    assert r["sir"]["cynetdiff"] == {"available": False, "reason": "CyNetDiff has no sir model"}


def test_the_yardstick_flags_parse_and_refuse_in_one_sentence(capsys):
    parser = build_parser()
    args = parser.parse_args(["bench", "propagation", "--yardstick-sizes", "none", "--small-runs", "0"])
    assert args.yardstick_sizes == () and args.small_runs == 0
    args = parser.parse_args(["bench", "propagation", "--yardstick-sizes", "1000,2_000"])
    assert args.yardstick_sizes == (1000, 2000)
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["bench", "propagation", "--yardstick-sizes", "lots"])
    assert e.value.code == 2
    assert "is not a list of sizes" in capsys.readouterr().err


def test_a_failed_run_is_never_timed_into_the_benchmark(monkeypatch):
    """An ensemble with a failed run gives no time per cascade: the benchmark stops and says why."""
    import sim.bench.ensembles as ens
    from sim.store.create import synthetic_world

    async def failing(*_a, **_kw):
        return {"failed": 1, "completed": 1, "mean_reached": 3.0, "first_failure": {"error": "ValueError: boom"}}

    monkeypatch.setattr(ens, "run_cascades", failing)
    world = synthetic_world("bench", 200, avg_degree=4.0, seed=1)
    with pytest.raises(RuntimeError, match="1 of 2 ic runs failed in the benchmark: ValueError: boom"):
        ens._agora(world, ens.Registry([]), "ic", {"p": 0.1}, 2, 0, 1)
