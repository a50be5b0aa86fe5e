"""Saving and loading snapshots (s, l) and quitting (q): the screens that ask, and the workers that read and
write off the UI's critical path. The controller does the work (and audits it); what became of it is a
notification, a failure one sentence (``Notices.failed``)."""

from __future__ import annotations

import os

from rich.text import Text

from sim.errors import AgoraError
from sim.live.frontend import load_warnings, saves_dir, shown

from .host import AppHost
from .screens import LoadScreen, QuitScreen, SaveScreen
from .views import file_stem


class FileActions:
    """Snapshots saved and loaded, and the world file saved (or not) on quitting.

    Args:
        app: the app (its controller, its ``busy`` state, its screens and workers).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app

    # -- save -------------------------------------------------------------------------------------------
    def save(self) -> None:
        """Ask for a snapshot's name (the world's name and tick offered) and save it in the saves folder."""
        controller = self.app.controller
        if controller is None or self.app.busy:
            return
        # A file name from the world's name: anything but letters, digits, dot and dash becomes "_".
        default = file_stem(f"{controller.world.name}-tick{controller.world.tick}", 100)
        self.app.push_screen(SaveScreen(default), self._save_chosen)

    def _save_chosen(self, name: str | None) -> None:
        if name:
            self.app.run_worker(self._save(name), group="io", exclusive=True)

    async def _save(self, name: str) -> None:
        controller = self.app.controller
        if controller is None:
            return
        folder = saves_dir()
        os.makedirs(folder, exist_ok=True)
        base = os.path.basename(name)
        path = os.path.join(folder, base if base.endswith(".snap") else base + ".snap")
        self.app.busy = "saving"
        try:
            saved = await controller.shelf.save_file(path)  # audited there
        except AgoraError as exc:
            self.app.notices.failed(str(exc))
        except OSError as exc:
            self.app.notices.failed(
                f"could not save the snapshot ({exc.strerror}); the previous one is intact:", paths=[path]
            )
        else:
            self.app.notices.paths(
                f"snapshot saved at tick {saved['tick']} ({saved['size_bytes'] / 2**20:.1f} MB):", [path]
            )
        finally:
            self.app.busy = None

    # -- load -------------------------------------------------------------------------------------------
    def load(self) -> None:
        """Pick a snapshot in the saves folder and let it replace the world."""
        if self.app.controller is None or self.app.busy:
            return
        self.app.push_screen(LoadScreen(saves_dir()), self._load_chosen)

    def _load_chosen(self, path: str | None) -> None:
        if path:
            self.app.run_worker(self._load(path), group="io", exclusive=True)

    async def _load(self, path: str) -> None:
        controller = self.app.controller
        if controller is None:
            return
        self.app.busy = "loading"
        try:
            # Read and validate completely before anything live is touched; the run goes on if it ran.
            loaded = await controller.shelf.load_file(path)  # audited there; the app is told (on_replace)
        except AgoraError as exc:
            self.app.notices.failed(str(exc), timeout=10)
            return
        finally:
            self.app.busy = None
        for warning in load_warnings(controller.world):  # what the snapshot named and Agora ignored
            self.app.notify(warning, severity="warning", markup=False, timeout=30)
        self.app.notices.paths(f"snapshot loaded (tick {loaded['tick']}):", [path])

    # -- quit -------------------------------------------------------------------------------------------
    def quit(self) -> None:
        """Quit (q, ctrl+q, the palette's Quit); with changes the world file does not hold yet, ask first
        whether to save them into it. Without any, quit at once and say on the terminal that the file holds
        everything (``s`` checkpoints it too, so after a snapshot there is nothing left to save)."""
        controller = self.app.controller
        if isinstance(self.app.screen, QuitScreen):
            return  # already asking
        if controller is not None and controller.sim.dirty and controller.world.path:
            self.app.push_screen(
                QuitScreen(os.path.basename(controller.world.path), controller.disk_tick), self._quit_chosen
            )
            return
        said = None
        if controller is not None and controller.world.path:
            said = (
                f"agora: nothing to save: {os.path.basename(controller.world.path)} holds the world as it was "
                f"at tick {controller.disk_tick:,}"
            )
        self.app.run_worker(self._shutdown(save=False, said=said), group="io", exclusive=True)

    def _quit_chosen(self, choice: str | None) -> None:
        if choice in ("save", "discard"):
            self.app.run_worker(self._shutdown(save=choice == "save"), group="io", exclusive=True)

    async def _shutdown(self, save: bool, said: str | None = None) -> None:
        controller = self.app.controller
        if controller is not None:
            await controller.stop()
            if save:
                self.app.busy = "saving"
                try:
                    await controller.checkpoint()
                except AgoraError as exc:  # a full disk: say so and stay, the world still in memory
                    self.app.notify(str(exc), severity="error", markup=False, timeout=30)
                    self.app.busy = None
                    return
            await controller.close(save=False)
        self.app.exit(message=Text(shown(said, 300)) if said else None)  # a file's name is never markup
