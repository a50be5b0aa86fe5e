"""``w.agents`` is an ``int`` that matplotlib, numpy, pandas and the standard library take as one (issue 60).

Before, ``Agents`` was an ``int`` with ``__getitem__`` (its columns by name), so Python's old sequence protocol made it
iterable: ``np.iterable(w.agents)`` was True and matplotlib, taking it for a list of values, asked for
``w.agents[0]`` — ``ax.axhline(w.agents)``, ``ax.set_ylim(0, w.agents)``, ``ax.bar(0, w.agents)``,
``ax.scatter``, ``ax.fill_between``, ``ax.errorbar`` and ``ax.hist(bins=w.agents)`` all raised "the agents have no
column 0". Each use is drawn here with real matplotlib on an Agg canvas, and what was drawn is read back.
"""

from __future__ import annotations

import collections.abc
import copy
import json
import math
import pickle

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import sim
from sim.errors import BadParameterError

N = 240


@pytest.fixture(scope="module")
def agents(tmp_path_factory) -> sim.Agents:
    path = tmp_path_factory.mktemp("agents_int") / "w.db"
    return sim.new_world(str(path), agents=N, avg_degree=6, seed=3).agents


def axes():
    fig = Figure()
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def drawn(fig) -> None:
    """Render the figure (what a notebook or savefig does): a value matplotlib cannot use fails here too."""
    fig.canvas.draw()


def test_it_is_no_sequence(agents):
    assert isinstance(agents, int) and not np.iterable(agents) and np.ndim(agents) == 0
    assert not isinstance(agents, collections.abc.Iterable) and np.isscalar(agents)
    with pytest.raises(TypeError, match="'Agents' object is not iterable"):
        iter(agents)
    with pytest.raises(TypeError, match="not iterable"):
        list(agents)
    # Its table views stay: columns by name, len, membership.
    assert len(agents) == N and agents["susceptibility"].shape == (N,) and "status" in agents
    with pytest.raises(BadParameterError, match=r"^the agents have no column 0: they have ids"):
        agents[0]


def test_axhline_axvline_and_limits(agents):
    fig, ax = axes()
    h = ax.axhline(agents, color="red")
    v = ax.axvline(agents)
    ax.set_ylim(0, agents)
    ax.set_xlim(0, agents)
    drawn(fig)
    assert list(h.get_ydata()) == [N, N] and list(v.get_xdata()) == [N, N]
    assert ax.get_ylim() == (0.0, float(N)) and ax.get_xlim() == (0.0, float(N))


def test_bar_scatter_fill_between_errorbar_text(agents):
    fig, ax = axes()
    (bar,) = ax.bar(0, agents)
    (named,) = ax.bar(["agents"], [agents])
    dots = ax.scatter(agents, agents)
    band = ax.fill_between([0, 1], [0, 0], [agents, agents])
    err = ax.errorbar([0], [agents], yerr=[1])
    label = ax.text(agents, agents, agents)
    ax.annotate("n", (agents, agents))
    ax.set_xticks([0, agents])
    drawn(fig)
    assert bar.get_height() == N and named.get_height() == N
    assert dots.get_offsets().tolist() == [[N, N]] and label.get_text() == str(N)
    assert band.get_paths()[0].vertices[:, 1].max() == N and err.lines[0].get_ydata().tolist() == [N]


def test_hist_and_plot(agents):
    fig, ax = axes()
    counts, edges, _ = ax.hist(np.arange(agents), bins=agents, range=(0, agents))
    (line,) = ax.plot([0, agents], [agents, 0])
    drawn(fig)
    assert counts.size == N and counts.sum() == N and edges[-1] == N
    assert line.get_xdata().tolist() == [0, N]


def test_numpy(agents):
    assert np.arange(agents).shape == (N,) and np.zeros(agents).shape == (N,)
    assert np.linspace(0, agents, 5)[-1] == N and np.full(3, agents).tolist() == [N] * 3
    assert np.asarray(agents).dtype == np.int64 and np.asarray(agents).shape == ()
    assert np.array([agents, agents]).dtype == np.int64
    assert np.float64(0.5) * agents == N / 2 and np.int64(1) + agents == N + 1
    assert (np.arange(3) / agents).tolist() == [0, 1 / N, 2 / N]
    rng = np.random.default_rng(0)
    assert rng.integers(0, agents, 50).max() < N and rng.choice(agents, 5, replace=False).max() < N


def test_python_and_json(agents):
    assert list(range(agents))[-1] == N - 1 and json.dumps({"n": agents, "l": [agents]}) == f'{{"n": {N}, "l": [{N}]}}'
    assert math.log(agents) == math.log(N) and round(agents / 7, 2) == round(N / 7, 2) and hash(agents) == hash(N)
    assert {agents: 1}[N] == 1 and bool(agents) and f"{agents:,}" == f"{N:,}" and str(agents) == str(N)
    assert copy.copy(agents) == N and type(pickle.loads(pickle.dumps(agents))) is int


def test_pandas(agents):
    pd = pytest.importorskip("pandas")
    assert not pd.api.types.is_list_like(agents) and pd.api.types.is_scalar(agents)
    assert pd.Series([agents, agents]).dtype == np.int64 and (pd.Series([1, 2]) * agents).tolist() == [N, 2 * N]
    assert pd.DataFrame({"n": agents}, index=[0, 1])["n"].tolist() == [N, N]
