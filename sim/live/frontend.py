"""What a front end of one live world needs beside its controller (:mod:`sim.live.controller`) and what its
screens show (:mod:`sim.live.views`): its one door to the rooms below.

The terminal UI imports ``sim`` only through ``sim.live``, the request and result values
(``sim.engine.requests``, ``sim.runs.results``), the plugins' schemas (``sim.plugin``) and ``sim.errors``
(``tests/test_layers.py`` holds it to that); what else it needs is here.

Made here, as a front end opens, serves and asks things of its live world:

- :class:`FrontEndOptions` and :func:`open_interactive`: the world a person watches, opened (the default
  world in the saves folder, made when none is named) with the interactive policy and its snapshots in the
  saves folder;
- :class:`ServedMetrics`: the world's Prometheus metrics and health served over HTTP, across snapshot loads;
- :data:`FORM` and :func:`slow_method`: what a person's form may ask (:class:`~sim.engine.requests.Inject`
  values parsed with these limits), and the slow seed method whose injection a front end hands to the
  controller's locked path in a worker (:meth:`~sim.live.controller.WorldController.inject`);
- :func:`export_spec`: the chart a front end shows drawn as PNG and SVG, its numbers as JSON, in the saves folder's
  ``exports``, never over an earlier export.

Named here from the rooms below as they are (plain re-exports: small shared helpers, constants, and types
for annotations): :func:`shown` (untrusted text shown literally), :func:`saves_dir`, :func:`load_warnings`,
:func:`isolated_text`, :func:`method_seeds`, :data:`NONE` (no recommender), :data:`STATUSES` (a session's
statuses), the engine's typed events a front end subscribes to (:class:`Event`, :class:`TickCompleted`...),
and the types of what the controller hands out (:class:`World`, :class:`Simulation`, :class:`Registry`,
:class:`WorldWriter`, :class:`Forest`, :class:`Completion`, :class:`MetricsServer`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sim.analysis.bygroup import SYNTAX as BY_SYNTAX
from sim.analysis.bygroup import By, parse_by
from sim.analysis.chartspec import Band, ChartSpec, Line, Mark, plot_spec, spec_data
from sim.analysis.structure import isolated_text
from sim.core.cascade import Forest
from sim.core.events import (
    Event,
    InterventionApplied,
    MessageInjected,
    PluginFailed,
    PropagationCompleted,
    PropagationFailed,
    PropagationStarted,
    RecommenderFailed,
    TickCompleted,
)
from sim.core.safe import shown
from sim.core.world import World
from sim.engine.observe import MetricsServer, Monitor
from sim.engine.requests import SERVED, Inject
from sim.engine.seeding import method_seeds
from sim.engine.simulation import Simulation
from sim.errors import BadParameterError
from sim.live.controller import WorldController
from sim.live.policy import INTERACTIVE
from sim.llm.client import Completion
from sim.model.registry import Registry, user_config_dir
from sim.model.session import STATUSES
from sim.social.dynamics import NONE
from sim.store.create import ensure_default_world, saves_dir
from sim.store.worldfile import load_warnings
from sim.store.writer import WorldWriter

__all__ = [
    "BY_SYNTAX",
    "Band",
    "By",
    "ChartSpec",
    "Line",
    "Mark",
    "FORM",
    "NONE",
    "STATUSES",
    "Completion",
    "Event",
    "Forest",
    "FrontEndOptions",
    "InterventionApplied",
    "MessageInjected",
    "MetricsServer",
    "PluginFailed",
    "PropagationCompleted",
    "PropagationFailed",
    "PropagationStarted",
    "RecommenderFailed",
    "Registry",
    "ServedMetrics",
    "Simulation",
    "TickCompleted",
    "World",
    "WorldWriter",
    "claim_names",
    "export_spec",
    "exports_dir",
    "isolated_text",
    "load_warnings",
    "method_seeds",
    "open_interactive",
    "parse_by",
    "saves_dir",
    "shown",
    "slow_method",
    "user_config_dir",
]


# -- the world a person watches ---------------------------------------------------------------------------


@dataclass
class FrontEndOptions:
    """How an interactive front end (the terminal UI) opens its world.

    Attributes:
        path: the world file (None: the default world in the saves folder, made when there is none).
        plugin_dirs: folders of user plugins to load.
        world: a world already in memory to drive instead of opening ``path``.
        writer: whether the world file is written (a world without one is not).
        metrics_port: serve Prometheus metrics and health on this port (None: no server; 0: a free port).
        metrics_host: the address the metrics server listens on.
        checkpoint_every: checkpoint the world into its file every this many ticks while it runs (0: off).
        checkpoint_seconds: ... or every this many seconds (None: off), so a crash loses at most the ticks
            since (see ``sim.store.check``).
        llm: LLM settings while it is open (``--llm``; ``local``: the local model, served until it closes).
    """

    path: str | None = None
    plugin_dirs: list[str] = field(default_factory=list)
    world: World | None = None
    writer: bool = True
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    checkpoint_every: int = 50
    checkpoint_seconds: float | None = None
    llm: Mapping[str, object] | None = None


async def open_interactive(options: FrontEndOptions, tell: Callable[[str | None], None]) -> WorldController:
    """Open the world a person watches: ``options.path`` (or ``options.world``), or else the default world
    in the saves folder, made first when there is none (``options.path`` is then set to it). The
    controller runs with the interactive policy (no wait for the disk after a change, runs not audited, a
    model that cannot be used a failed session rather than a refusal) and keeps its named snapshots in the
    saves folder; ``tell`` hears its notice about the plugin folder beside the world (which loads only when
    named or trusted: plugins are code).

    Raises:
        AgoraError: the world cannot be opened (one sentence).
    """
    if options.world is None and options.path is None:
        options.path = await ensure_default_world()
    return await WorldController.open(
        options.path,
        plugin_dirs=options.plugin_dirs,
        world=options.world,
        writer=options.writer,
        policy=INTERACTIVE,
        snapshots=saves_dir(),
        checkpoint_every=options.checkpoint_every,
        checkpoint_seconds=options.checkpoint_seconds,
        llm=dict(options.llm) if options.llm else None,
        tell=tell,
    )


class ServedMetrics:
    """A live world's Prometheus metrics and health, served on ``http://HOST:PORT/metrics`` and
    ``/healthz`` (``agora tui --metrics-port``): a :class:`~sim.engine.observe.Monitor` and its server,
    started here and watching each controller :meth:`attach` is given (across its snapshot loads).

    Args:
        host: the address to listen on. port: the port (0: a free one; :attr:`server` says which).

    Raises:
        BadParameterError: the port is in use, out of range, or the host cannot be bound.
    """

    def __init__(self, host: str, port: int) -> None:
        self.monitor = Monitor()
        self.server = MetricsServer(self.monitor, host, port).start()

    @property
    def url(self) -> str:
        """``http://HOST:PORT``."""
        return self.server.url

    def attach(self, controller: WorldController) -> None:
        """Watch ``controller``'s world: its ticks, writer, runs and checkpoints."""
        controller.attach_monitor(self.monitor)

    def stop(self) -> None:
        """Stop serving and let go of the world (idempotent)."""
        self.server.stop()
        self.monitor.detach()


# -- what a person's form asks ----------------------------------------------------------------------------

#: What a person's form may ask of a live world (the terminal UI's inject form): a served world's bounds
#: (:data:`~sim.engine.requests.SERVED`: no seed file, a bounded text and seed list) and a slow seed method
#: too, which the front end hands to the controller in a worker (:func:`slow_method`): the UI goes on answering
#: while it chooses, as a request that waits for its answer may not.
FORM = dataclasses.replace(SERVED, slow_methods=True)


def slow_method(request: Inject, registry: Registry) -> str | None:
    """The seed method of ``request`` when it can take minutes on a large world (celf, ris): a front end
    injects it through the controller's locked path in a worker
    (:meth:`~sim.live.controller.WorldController.inject`, which chooses the seeds with the world's ticks held).
    None for any other seed selection.

    Raises:
        PluginError: the method is no longer registered (plugins reloaded since the request was parsed).
    """
    seeds = request.seeds
    if seeds.kind == "method" and registry.seeder(seeds.method).expensive:
        return seeds.method
    return None


# -- charts -------------------------------------------------------------------------------------------------


def exports_dir() -> str:
    """Where charts are exported: the saves folder's ``exports``."""
    return os.path.join(saves_dir(), "exports")


def export_spec(spec: ChartSpec, base: str) -> list[str]:
    """Draw ``spec`` (the chart a front end shows) as ``BASE.png`` and ``BASE.svg`` in :func:`exports_dir`, and write
    its numbers (:func:`~sim.analysis.chartspec.spec_data`) as ``BASE.json`` beside them; ``BASE`` numbered where
    taken (:func:`claim_names`). Slow: a front end calls it off its event loop. Returns the three paths.

    Raises:
        AgoraError: the chart has nothing drawn (one sentence).
        OSError: the folder cannot be made or written.
    """
    if not spec.lines and not spec.bands:
        raise BadParameterError("the chart shown has nothing drawn yet: run the world first")
    folder = exports_dir()
    os.makedirs(folder, exist_ok=True)
    paths = claim_names(folder, base, ("png", "svg", "json"))
    try:
        plot_spec(spec, paths[0], "png")
        plot_spec(spec, paths[1], "svg")
        with open(paths[2], "w", encoding="utf-8") as f:
            json.dump(spec_data(spec), f, ensure_ascii=False, indent=1)
    except BaseException:
        for path in paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
    return paths


#: The most numbered names :func:`claim_names` tries after ``BASE`` itself (``BASE-2`` ... ``BASE-1000``).
MAX_NUMBERED = 1000


def claim_names(folder: str, base: str, extensions: Sequence[str]) -> list[str]:
    """Paths ``folder/NAME.EXT`` for every extension, none of which exists: ``NAME`` is ``base``, else ``base-2``,
    ``base-3``... (an earlier export is never overwritten). Each file is created empty, exclusively, so that two
    exports at once never get the same name; the caller writes over them.

    Raises:
        OSError: the folder cannot be written, or every name up to ``base-``:data:`MAX_NUMBERED` is taken.
    """
    for k in range(1, MAX_NUMBERED + 1):
        name = base if k == 1 else f"{base}-{k}"
        paths = [os.path.join(folder, f"{name}.{ext}") for ext in extensions]
        made: list[str] = []
        try:
            for path in paths:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
                made.append(path)
        except FileExistsError:
            for path in made:
                os.unlink(path)
            continue
        return paths
    raise OSError(f"every name from {base} to {base}-{MAX_NUMBERED} is taken in {folder}: move earlier exports away")
