"""``agora bench analysis``: the igraph view, PageRank, Leiden and peak RSS at a million agents.

Figures are printed beside baselines measured in the same run: on a smaller world (100,000 agents by
default), igraph built from a ready Python edge list (``list(zip(...))``), from ``Graph.TupleList``
and from a numpy ``(E, 2)`` array, against our chunked view; networkx PageRank against ours (and the
largest difference between the two). The analysed world is symmetric (generated undirected), so the
view is one undirected igraph graph; the time a directed world of the same size would take (the
directed attention graph built as well, PageRank on it) is measured too.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from sim.analysis.structure import (
    AnalysisResult,
    detect_communities,
    fingerprint,
    nmi,
    pagerank_csr,
    pagerank_scores,
    store_analysis,
)
from sim.analysis.view import build_view, undirected_pairs
from sim.bench.measure import BenchWorld, PeakRSS, mb, timed
from sim.store.create import synthetic_world


@dataclass(frozen=True)
class AnalysisBench(BenchWorld):
    """What :func:`bench_analysis` measures on: the world, the agents of the world the baselines run on, and
    whether the graph is directed."""

    baseline_agents: int = 100_000
    directed: bool = True


def bench_analysis(bench: AnalysisBench | int = 1_000_000, **fields: Any) -> dict[str, Any]:
    """Run the analysis benchmark on ``bench`` (or a world of that many agents, the other fields of
    :class:`AnalysisBench` as keywords) and return its figures (see the module docstring)."""
    import igraph as ig  # noqa: PLC0415 - heavy (~0.5 s to import), needed only for analysis

    bench = AnalysisBench.of(bench, **fields)
    r = bench.report(
        "analysis",
        cpu_count=os.cpu_count(),
        load_average_at_start=[round(x, 2) for x in os.getloadavg()],
        igraph=ig.__version__,
    )
    with timed(r, "generate_s"):
        world = synthetic_world("bench", bench.agents, avg_degree=bench.avg_degree, seed=bench.seed)
    planted = world.columns["community"].copy()
    r["edges"] = world.num_edges
    gc.collect()
    r["rss_before_analysis_mb"] = mb(psutil.Process().memory_info().rss)
    with PeakRSS() as peak:
        with timed(r, "fingerprint_s"):
            fp = fingerprint(world)
        with timed(r, "build_view_s"):
            view = build_view(world)
        r["symmetric"] = view.symmetric
        r["view_edges"] = view.undirected.ecount()
        with timed(r, "pagerank_s"):  # what analyze uses: power iteration on the CSR arrays
            pr = pagerank_csr(world.graph)
        with timed(r, "pagerank_prpack_s"):  # igraph's PRPACK on the view, the cross-check
            ref = pagerank_scores(view)
        r["pagerank_vs_prpack_max_abs_diff"] = float(np.abs(ref - pr).max())
        del ref
        with timed(r, "leiden_s"):
            comm = detect_communities(view, method="leiden", seed=bench.seed)
        r["communities"] = comm.count
        r["isolated"] = comm.isolated  # agents without links: in no community, not counted above
        r["communities_size_2_plus"] = int(np.count_nonzero(comm.sizes >= 2))
        r["modularity"] = round(comm.modularity, 4)
        r["nmi_vs_planted"] = round(nmi(comm.membership, planted), 4)
        res = AnalysisResult(
            agents=world.n,
            edges=world.num_edges,
            pagerank=pr,
            communities=comm,
            fingerprint=fp,
            symmetric=view.symmetric,
        )
        with timed(r, "store_and_table_s"):
            table = store_analysis(world, res)
        r["flows"] = int(table.flows.shape[0]) if table is not None else 0
        del view, res, table
        gc.collect()
    r["peak_rss_analysis_mb"] = mb(peak.peak)
    if bench.directed:
        # The same graph taken as a directed world: the attention graph is built as well.
        gc.collect()
        with PeakRSS() as peak2:
            with timed(r, "directed_build_view_s"):
                dview = build_view(world, symmetric=False)
            with timed(r, "directed_pagerank_s"):
                dpr = pagerank_scores(dview)
            r["directed_pagerank_max_abs_diff"] = float(np.abs(dpr - pr).max())
            del dview, dpr
            gc.collect()
        r["directed_peak_rss_mb"] = mb(peak2.peak)
    del world, pr, comm, planted
    gc.collect()

    # Baselines on a smaller world, in the same run.
    b = _baselines(bench.baseline_agents, bench.avg_degree, bench.seed)
    r["baseline"] = b
    r["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    r["targets"] = {"build_view_s": 3, "pagerank_s": 5, "leiden_s": 30, "peak_rss_analysis_mb": 1536}
    r["within_targets"] = all(r[k] <= v for k, v in r["targets"].items())
    return r


def _baselines(agents: int, avg_degree: float, seed: int) -> dict[str, Any]:
    """On a world of ``agents``: our view and PageRank beside igraph graphs built from a Python list, a tuple
    list and a numpy array, and networkx's graph and PageRank (with the largest difference from ours)."""
    import igraph as ig  # noqa: PLC0415 - heavy (~0.5 s to import), needed only for analysis

    b: dict[str, Any] = {"agents": agents}
    small = synthetic_world("baseline", agents, avg_degree=avg_degree, seed=seed)
    b["edges"] = small.num_edges
    with timed(b, "ours_build_view_s"):
        build_view(small)
    with timed(b, "ours_pagerank_s"):
        spr = pagerank_csr(small.graph)
    a_, b_ = undirected_pairs(small.graph)
    with timed(b, "igraph_from_python_list_s"):
        el = list(zip(a_.tolist(), b_.tolist()))
        g1 = ig.Graph(n=small.n, edges=el, directed=False)
    del g1
    with timed(b, "igraph_tuplelist_s"):
        g2 = ig.Graph.TupleList(el, directed=False)
    del g2, el
    with timed(b, "igraph_from_numpy_array_s"):
        g3 = ig.Graph(n=small.n, edges=np.column_stack([a_, b_]).astype(np.int64), directed=False)
    del g3
    import networkx as nx  # noqa: PLC0415 - heavy (~0.5 s to import), needed only here

    with timed(b, "networkx_build_s"):
        G = nx.Graph()
        G.add_nodes_from(range(small.n))
        G.add_edges_from(zip(a_.tolist(), b_.tolist()))
    t0 = time.perf_counter()
    nxpr = nx.pagerank(G, alpha=0.85, tol=1e-10)
    b["networkx_pagerank_s"] = round(time.perf_counter() - t0, 3)
    nxv = np.fromiter((nxpr[i] for i in range(small.n)), dtype=np.float64, count=small.n)
    b["pagerank_max_abs_diff_vs_networkx"] = float(np.abs(nxv - spr).max())
    b["ratio_list_build_to_ours"] = round(b["igraph_from_python_list_s"] / max(b["ours_build_view_s"], 1e-9), 2)
    b["ratio_numpy_build_to_ours"] = round(b["igraph_from_numpy_array_s"] / max(b["ours_build_view_s"], 1e-9), 2)
    b["ratio_networkx_pagerank_to_ours"] = round(b["networkx_pagerank_s"] / max(b["ours_pagerank_s"], 1e-9), 1)
    return b
