"""The outcome of ``agora plugins check``: a :class:`CheckReport` (its ``to_dict()`` is what ``--json``
prints, its ``render()`` what a terminal shows), and :class:`PluginCheck`, one plugin's checks being
written into it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

from sim.core.world import World

#: An optional ``(phase, fraction)`` callback.
Progress = Callable[[str, float], None] | None

_KIND_TITLES = {"model": "model", "recommender": "content recommender", "friend-recommender": "friend recommender"}


class Where(TypedDict, total=False):
    """The keywords of :meth:`CheckReport.add` past the traceback: the parameter set and world a failure
    was found at, and the few words the verdict line shows."""

    params: dict[str, Any] | None
    world: str | None
    summary: str | None


def plural(n: int, word: str) -> str:
    """``1 round``, ``2,000 rounds``."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


@dataclass
class CheckReport:
    """The outcome of :func:`~sim.authoring.check.check_plugin`.

    Attributes:
        path: the model file checked.
        models: names of the models found in it.
        checks: one dict per check: ``model``, ``name``, ``ok``, ``status`` (``pass``, ``fail`` or
            ``skip`` — a check that could not be judged because an earlier one failed or it does not
            apply; it does not fail the report), ``detail`` (the reason, one line) and ``traceback``.
        figures: per model name, the speed figures (``agents``, ``edges``, ``rounds``, ``attempts``,
            ``seconds_per_round``, ``model_seconds_per_round``, ``attempts_per_second``, ``reached``) or
            an ``error``.
    """

    path: str
    models: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    world: dict[str, Any] = field(default_factory=dict)
    #: Names of the recommenders found in the file (their checks carry the name in ``model`` too).
    recommenders: list[str] = field(default_factory=list)
    #: Names of the forecasters found in the file (:mod:`sim.authoring.forecaster_checks`).
    forecasters: list[str] = field(default_factory=list)
    #: What each checked plugin is, by name: ``model``, ``recommender`` or ``friend-recommender``.
    kinds: dict[str, str] = field(default_factory=dict)
    #: Per plugin, one dict per exploring run: ``params`` (the values set; the rest default), ``how``
    #: (``defaults``, ``one``, ``draw``), ``world`` (``scale-free``, ``directed``), ``status`` (``ok``,
    #: ``fail``), ``kind`` (of the failure), ``rounds`` or ``ticks``, ``error``.
    explored: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: The small worlds parameters are explored on: key -> agents, edges, isolated agents, what.
    explore_worlds: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Every check passed or was skipped, and at least one plugin (model or recommender) was checked."""
        return bool(self.models or self.recommenders or self.forecasters) and all(c["ok"] for c in self.checks)

    @property
    def failed(self) -> list[dict[str, Any]]:
        """The checks that failed, in order."""
        return [c for c in self.checks if c["status"] == "fail"]

    def add(
        self,
        model: str | None,
        name: str,
        status: str,
        detail: str,
        tb: str | None = None,
        *,
        params: dict[str, Any] | None = None,
        world: str | None = None,
        summary: str | None = None,
    ) -> dict[str, Any]:
        """Add one check.

        Args:
            model: the plugin's name (a model or a recommender; None for the file).
            name: the check's name.
            status: ``pass``, ``fail`` or ``skip``.
            detail: the reason, one line.
            tb: the traceback of a failure.
            params: the parameter set a failure was found at.
            world: the world a failure was found on.
            summary: the few words the verdict line shows after the check's name.

        Returns:
            The check as added.
        """
        check = {
            "model": model,
            "name": name,
            "ok": status != "fail",
            "status": status,
            "detail": detail,
            "traceback": tb or None,
            "params": params,
            "world": world,
            "summary": summary,
        }
        self.checks.append(check)
        return check

    def check(self, name: str, model: str | None = None) -> dict[str, Any]:
        """The first check called ``name`` (of ``model`` when given).

        Raises:
            KeyError: no such check in this report.
        """
        for c in self.checks:
            if c["name"] == name and (model is None or c["model"] == model):
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data: what ``agora plugins check --json`` prints."""
        return {
            "path": self.path,
            "ok": self.ok,
            "models": list(self.models),
            "checks": [dict(c) for c in self.checks],
            "figures": {k: dict(v) for k, v in self.figures.items()},
            "world": dict(self.world),
            "failed": len(self.failed),
            "recommenders": list(self.recommenders),
            "forecasters": list(self.forecasters),
            "kinds": dict(self.kinds),
            "explored": {k: [dict(r) for r in v] for k, v in self.explored.items()},
            "explore_worlds": {k: dict(v) for k, v in self.explore_worlds.items()},
        }

    def _check_lines(self, c: dict[str, Any]) -> list[str]:
        mark = {"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[c["status"]]
        out = [f"  {mark}  {c['name']:<17} {c['detail']}"]
        if c["status"] == "fail" and c.get("traceback"):
            out += ["          " + ln for ln in _short_traceback(c["traceback"], self.path).splitlines()]
        return out

    def _world_lines(self) -> list[str]:
        lines = []
        if self.world:
            w = self.world
            lines.append(
                f"contract runs on a synthetic world of {w['agents']:,} agents and {w['edges']:,} edges, seed "
                f"{w['seed']}"
            )
        if self.explore_worlds:
            lines.append(
                "parameters explored on "
                + " and ".join(
                    f"a {v['agents']:,}-agent {v['what']} ({v['edges']:,} edges)" for v in self.explore_worlds.values()
                )
            )
        return lines

    def _plugin_lines(self, name: str) -> list[str]:
        kind = self.kinds.get(name, "model")
        lines = [_KIND_TITLES.get(kind, kind) + f" {name}"]
        for c in self.checks:
            if c["model"] == name:
                lines += self._check_lines(c)
        fig = self.figures.get(name)
        if fig and "error" not in fig:
            lines.append(_speed_line(kind, fig))
        elif fig:
            lines.append(f"  speed not measured: {fig['error']}")
        return lines

    def _verdict(self) -> str:
        n_fail = len(self.failed)
        if not (self.models or self.recommenders or self.forecasters) and not n_fail:
            return "result: no plugin found"
        if not n_fail:
            return f"result: all {len(self.checks)} checks passed"
        several = len(self.models) + len(self.recommenders) + len(self.forecasters) > 1
        parts = []
        for c in self.failed:
            text = c["name"] + (f" of {c['model']}" if several and c["model"] else "")
            parts.append(text + (f" {c['summary']}" if c.get("summary") else ""))
        return f"result: {n_fail} of {len(self.checks)} checks failed ({'; '.join(dict.fromkeys(parts))})"

    def render(self) -> str:
        """What a terminal shows: every check with its reason, the plugin's frames of each traceback,
        the speed figures and a verdict that names each failed check (and the parameter set it failed at)."""
        lines = [f"checking {self.path}", *self._world_lines()]
        for c in self.checks:
            if c["model"] is None:
                lines += self._check_lines(c)
        for name in [*self.models, *self.recommenders, *self.forecasters]:
            lines += self._plugin_lines(name)
        lines.append(self._verdict())
        return "\n".join(lines)


def _speed_line(kind: str, fig: dict[str, Any]) -> str:
    """The speed figure of one plugin, in words."""
    if kind == "recommender":
        return (
            f"  speed on {fig['agents']:,} agents, {fig['edges']:,} edges: {fig['ticks']} ticks, "
            f"{fig['readers_per_tick']:,.0f} readers x {fig['messages']} live messages per tick, "
            f"{fig['seconds_per_tick'] * 1000:.1f} ms per tick in score ({fig['feed_seconds_per_tick'] * 1000:.1f} ms "
            f"building feeds in all), {_fmt_rate(fig['scores_per_second'])} scores/s"
        )
    if kind == "friend-recommender":
        return (
            f"  speed on {fig['agents']:,} agents, {fig['edges']:,} edges: {fig['ticks']} ticks, "
            f"{fig['agents_per_tick']:,.0f} agents looking per tick, {fig['seconds_per_tick'] * 1000:.1f} ms "
            "per tick in "
            f"suggest, {fig['suggestions_per_tick']:,.0f} suggestions per tick, "
            f"{_fmt_rate(fig['agents_per_second'])} agents/s"
        )
    return (
        f"  speed on {fig['agents']:,} agents, {fig['edges']:,} edges: {fig['rounds']} rounds, "
        f"{fig['attempts']:,} edge attempts, {fig['seconds_per_round'] * 1000:.1f} ms per round "
        f"({fig['model_seconds_per_round'] * 1000:.1f} ms in the model), "
        f"{_fmt_rate(fig['attempts_per_second'])} edge attempts/s"
    )


def _fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.1f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def _short_traceback(tb: str, path: str) -> str:
    """The traceback's header, the frames in the plugin file (or the last frame) and the error lines."""
    lines = tb.rstrip("\n").splitlines()
    frame_starts = [i for i, ln in enumerate(lines) if ln.startswith('  File "')]
    if not frame_starts:
        return tb.rstrip("\n")
    tail_start = len(lines)
    for i in range(frame_starts[-1] + 1, len(lines)):
        if not lines[i].startswith(" "):
            tail_start = i
            break
    blocks = []
    for j, start in enumerate(frame_starts):
        end = frame_starts[j + 1] if j + 1 < len(frame_starts) else tail_start
        blocks.append(lines[start:end])
    real = os.path.realpath(path)
    mine = [b for b in blocks if f'"{path}"' in b[0] or f'"{real}"' in b[0]]
    keep = mine or blocks[-1:]
    out = ["Traceback (most recent call last):"]
    if len(keep) < len(blocks):
        out.append("  ...")
    for b in keep:
        out += b
    out += lines[tail_start:]
    return "\n".join(out)


@dataclass
class PluginCheck:
    """One plugin being checked: the report its checks go into under its ``label``, the file it comes
    from, the contract world its checks run on, the speed world (built on demand), the seed, and the
    share ``frac`` of the progress bar its checks fill."""

    report: CheckReport
    path: str
    label: str
    base: World
    speed_base: Callable[[], World]
    seed: int
    progress: Progress = None
    frac: tuple[float, float] = (0.0, 1.0)

    def add(self, name: str, status: str, detail: str, tb: str | None = None, **where: Unpack[Where]) -> None:
        """Add one check of this plugin (see :meth:`CheckReport.add`)."""
        self.report.add(self.label, name, status, detail, tb, **where)

    def skip(self, names: Iterable[str], why: str) -> None:
        """Add each check of ``names`` as skipped, for the same reason."""
        for name in names:
            self.add(name, "skip", why)

    def step(self, what: str, i: int, total: int) -> None:
        """Tell the progress callback that step ``i`` of ``total`` (``what``) begins."""
        if self.progress is not None:
            lo, hi = self.frac
            self.progress(f"{self.label}: {what}", lo + (hi - lo) * i / total)

    def speed_world(self) -> World | None:
        """The world the speed figure is measured on; None (an error figure kept) when it cannot be built."""
        try:
            return self.speed_base()
        except Exception as exc:  # pragma: no cover - only a machine out of memory
            self.report.figures[self.label] = {"error": f"could not build the speed world: {exc}"}
            return None
