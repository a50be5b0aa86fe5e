"""A live world's snapshots: saved to and loaded from a folder of its own by name (a client names no path),
or to and from any file the terminal UI's user names."""

from __future__ import annotations

import asyncio
import os
import stat
from typing import TypedDict

from sim.core import sealed, worldkey
from sim.core.world import World
from sim.errors import BadFileError, BadParameterError, ResourceError
from sim.live.policy import SNAPSHOT_NAME, Host, NotFoundError
from sim.store.eventrows import History
from sim.store.snapshot import load_snapshot_history as read_snapshot_file
from sim.store.snapshot import save_snapshot as write_snapshot_file


class Saved(TypedDict):
    """A snapshot saved to a file: where, its size and the world's tick."""

    path: str
    size_bytes: int
    tick: int


class Loaded(TypedDict):
    """A snapshot loaded from a file: which, the world's tick and state."""

    path: str
    tick: int
    state: str


#: The largest snapshot file the server reads (bytes): a larger one is refused before it is opened.
MAX_SNAPSHOT_BYTES = 8 * 2**30


class SnapshotShelf:
    """The snapshots of the world ``host`` keeps live, in ``folder`` (see the module docstring).

    Attributes:
        folder: where named snapshots are kept. max_bytes: the largest snapshot file read from it.
    """

    def __init__(self, host: Host, folder: str, *, max_bytes: int = MAX_SNAPSHOT_BYTES) -> None:
        self.host = host
        self.folder = os.path.abspath(folder)
        self.max_bytes = max_bytes

    def path(self, name: object) -> str:
        """The file of the snapshot called ``name`` in the folder.

        Raises:
            BadParameterError: not a name of letters, digits, '.', '-' and '_'.
        """
        if not isinstance(name, str) or not SNAPSHOT_NAME.fullmatch(name.removesuffix(".snap") or "-"):
            raise BadParameterError(
                f"snapshot name {str(name)[:60]!r} is invalid: use letters, digits, '.', '-' and '_' "
                "(up to 100, starting with a letter or digit)"
            )
        return os.path.join(self.folder, name.removesuffix(".snap") + ".snap")

    async def entries(self) -> list[dict[str, object]]:
        """The regular ``.snap`` files of the folder (read in a worker thread)."""
        return await asyncio.to_thread(self._list)

    def _list(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        try:
            entries = sorted(os.scandir(self.folder), key=lambda e: e.name)
        except OSError:  # no folder yet (or not readable): nothing saved there
            return []
        for entry in entries:
            name = entry.name
            if not (name.endswith(".snap") and SNAPSHOT_NAME.fullmatch(name[:-5] or "-")):
                continue
            try:
                st = os.stat(entry.path)  # never opened: a pipe or a device is only looked at
            except OSError:  # a dangling link
                continue
            if stat.S_ISREG(st.st_mode):
                out.append({"name": name[:-5], "size_bytes": st.st_size, "modified": st.st_mtime})
        return out

    def _read(self, path: str) -> tuple[World, History | None]:
        """The world in snapshot ``path`` and its history (in a worker thread; see
        ``sim.store.snapshot.load_snapshot_history``): a regular file inside the folder (a link may point only
        inside it), no larger than ``max_bytes``, opened without blocking and read through that one open
        file, so a file swapped in meanwhile is never read.

        Raises:
            NotFoundError: no such snapshot. BadParameterError: a pipe, a device, a link out of the folder,
            a file too large. BadFileError: a damaged snapshot.
        """
        shown = os.path.basename(path)[:-5]
        folder = os.path.realpath(self.folder)
        real = os.path.realpath(path)
        if os.path.commonpath([folder, real]) != folder:
            raise BadParameterError(
                f"snapshot {shown!r} is a link to a file outside the snapshot folder: the server "
                "reads snapshots only from its own folder"
            )
        try:
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise NotFoundError(f"no snapshot {shown!r}: GET /api/v1/snapshots lists them") from None
        except OSError as exc:
            raise BadParameterError(f"snapshot {shown!r} cannot be opened ({exc.strerror}): save it again") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise BadParameterError(
                    f"snapshot {shown!r} is not a regular file (a folder, a pipe or a device): the server "
                    "reads only snapshot files it can read at once"
                )
            if st.st_size > self.max_bytes:
                raise BadParameterError(
                    f"snapshot {shown!r} is {st.st_size:,} bytes, more than the "
                    f"{self.max_bytes:,} the server reads: load it with 'agora load' instead"
                )
            pinned = f"/proc/self/fd/{fd}"
            source = pinned if os.path.exists(pinned) else real  # Linux: the very file checked above
            try:
                return read_snapshot_file(source)
            except (BadFileError, ResourceError) as exc:
                message = str(exc).replace(repr(source), repr(shown)).replace(source, shown)
                raise type(exc)(message) from None
        finally:
            os.close(fd)

    def _refuse_clear_copy(self, path: str, shown: str) -> None:
        """An encrypted snapshot is never loaded into a clear world file (its contents would lie there clear).

        Raises:
            BadParameterError: it would be.
        """
        where = self.host.world.path
        if where and sealed.sealed_file(path) and not worldkey.is_encrypted(where):
            raise BadParameterError(
                f"snapshot {shown!r} is encrypted and this world's file is not: loading it would write its "
                f"contents in clear; encrypt the world first ('agora encrypt {os.path.basename(where)}')"
            )

    async def save(self, name: object, *, actor: str | None = None) -> dict[str, object]:
        """Save the world as snapshot ``name`` in the folder (replacing one of that name).

        Raises:
            BadParameterError: a bad name. ResourceError: the disk is full (nothing replaced).
        """
        path = self.path(name)
        os.makedirs(self.folder, exist_ok=True)
        done = await self._save(path, os.path.basename(path), actor)
        return {"name": os.path.basename(path)[:-5], "size_bytes": done["size_bytes"], "tick": done["tick"]}

    async def save_file(self, path: str, *, actor: str | None = None) -> Saved:
        """Save the world as a snapshot at ``path``, any file the user names (the terminal UI's save
        screen); audited with the whole path.

        Raises:
            AgoraError: it could not be written (the previous file is intact). OSError: likewise.
        """
        return await self._save(path, path, actor)

    async def _save(self, path: str, recorded: str, actor: str | None) -> Saved:
        host = self.host
        async with host.lock:
            await host.checkpoints.require()
            async with host.sim.lock:
                if host.sim.writer is not None:
                    # The snapshot takes the world's events and exposures from its file: all of them written first.
                    await host.sim.writer.flush()
                size = await asyncio.to_thread(write_snapshot_file, host.world, path, force=True)
            host.audit("save", {"snapshot": recorded, "tick": host.world.tick, "size_bytes": size}, actor)
            await host.checkpoints.after(
                f"snapshot {os.path.basename(path).removesuffix('.snap')!r} is saved", always=True
            )
        return {"path": path, "size_bytes": size, "tick": host.world.tick}

    async def load(self, name: object, *, actor: str | None = None) -> dict[str, object]:
        """Replace the world by snapshot ``name`` of the folder (its file rewritten; the run goes on if it
        was running).

        Raises:
            BadParameterError: a bad name. NotFoundError: no such snapshot. BadFileError: a damaged one
            (the world is left as it was).
        """
        path = self.path(name)
        self._refuse_clear_copy(path, os.path.basename(path)[:-5])
        # Checked whole, its history included, before anything changes.
        new_world, history = await asyncio.to_thread(self._read, path)
        await self.host.replace(new_world, history, os.path.basename(path), actor)
        return {"name": os.path.basename(path)[:-5], "tick": new_world.tick, "state": self.host.state}

    async def load_file(self, path: str, *, actor: str | None = None) -> Loaded:
        """Replace the world by the snapshot at ``path``, any file the user names (the terminal UI's load
        screen); audited with the path as given.

        Raises:
            AgoraError: no such file, or a damaged one (the world is left as it was).
        """
        self._refuse_clear_copy(path, path)
        # Checked whole, its history included, before anything changes.
        new_world, history = await asyncio.to_thread(read_snapshot_file, path)
        await self.host.replace(new_world, history, path, actor)
        return {"path": path, "tick": new_world.tick, "state": self.host.state}
