"""Progress reporting for long work: a callback ``(phase, fraction)`` that core functions call, and a
rich progress bar on stderr for the CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Progress = Callable[[str, float], None]


@contextmanager
def stderr_progress(enabled: bool | None = None) -> Iterator[Progress | None]:
    """A progress bar on stderr while the block runs; ``None`` when stderr is not a terminal
    (unless ``AGORA_PROGRESS=1``), so pipes and logs stay clean."""
    if enabled is None:
        enabled = sys.stderr.isatty() or os.environ.get("AGORA_PROGRESS") == "1"
    if not enabled:
        yield None
        return

    # rich is imported only to draw a bar (on a terminal): headless runs, pipes and tests never load it.
    from rich.console import Console  # noqa: PLC0415 - see above
    from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn  # noqa: PLC0415
    from rich.progress import Progress as RichProgress  # noqa: PLC0415

    console = Console(stderr=True)
    bar = RichProgress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task("starting", total=1.0)

    def update(phase: str, fraction: float) -> None:
        bar.update(task, description=phase, completed=max(0.0, min(1.0, fraction)))

    with bar:
        yield update
