"""The plugin registry: propagation models and recommenders from four places.

1. the built-in ``plugins`` package (imported at discovery);
2. user folders — ``--plugins DIR`` and the ``AGORA_PLUGINS`` environment variable (folders separated by
   ``os.pathsep``) — every ``*.py`` file not starting with ``_`` (imported at discovery, re-imported by
   :meth:`Registry.reload`);
3. installed packages through the entry-point group ``agora.plugins``: listed from metadata without
   importing, imported on first use.

Plugins are code and run with your rights; only folders you name are loaded. A ``<world>.plugins/``
folder beside a world file (``saves/city.plugins`` beside ``saves/city.db``) travels with the world when
it is shared, so it is *not* named by having a world: it is loaded only when named (``--plugins``,
``AGORA_PLUGINS``) or after you trusted it (:func:`trust_plugin_folder`, ``agora plugins trust WORLD``),
which is remembered outside the world, in ``trusted.json`` of Agora's user folder
(:func:`user_config_dir`), by the folder's real path and a hash of every file in it: a folder changed
since is not loaded until trusted again. :func:`world_plugin_folders` says what to load and, for a folder
left out, the one sentence to tell the user. What is loaded of a trusted folder is exactly what was
hashed: each file is read once, and those bytes are imported (:class:`TrustedFolder`), never the file
again, so a file swapped after the check never runs.

A file that fails to import is kept as a failed entry with its traceback, under the file's stem; using
it fails only the session that asked for it.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import json
import linecache
import os
import pkgutil
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from sim.core.events import EventBus, PluginFailed, PluginLoaded
from sim.core.safe import shown
from sim.errors import AgoraError, BadFileError, BadParameterError
from sim.model.guard import PluginRunner, is_plugin_fault, plugin_budget
from sim.plugin import (
    ContentRecommender,
    Forecaster,
    FriendRecommender,
    Plugin,
    PropagationModel,
    Recommender,
    SeedMethod,
)

ENTRY_POINT_GROUP = "agora.plugins"
ENV_VAR = "AGORA_PLUGINS"


class PluginError(AgoraError):
    """A plugin could not be loaded; ``traceback`` holds the details."""

    def __init__(self, message: str, tb: str = "") -> None:
        super().__init__(message)
        self.traceback = tb


@dataclass
class PluginInfo:
    """One registry entry: a loaded plugin class, a lazy entry point, or a failed file."""

    name: str
    #: "model", "recommender" (content) or "friend-recommender"; "unknown" for an entry point not imported
    #: yet; for a failed plugin, the kind its source declares (``"none"``: no plugin class in it).
    kind: str
    source: str  # "builtin", a file path, or "entry-point:<dist>"
    cls: type[Plugin] | None = None
    error: str | None = None
    traceback: str | None = None
    entry_point: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> bool:
        return self.cls is not None

    @property
    def key(self) -> str:
        """The registry key: the name, prefixed for friend recommenders (so ``random`` can be both a
        content and a friend recommender)."""
        return _key(self.name, self.kind)

    def to_dict(self) -> dict[str, Any]:
        cls = self.cls
        return {
            "name": self.name,
            "kind": self.kind,
            "version": getattr(cls, "version", None),
            "description": getattr(cls, "description", None),
            "source": self.source,
            "loaded": self.loaded,
            "params": cls.schema() if cls is not None else None,
            "error": self.error,
            "traceback": self.traceback,
            "notes": self.notes,
        }


def is_plugin_file(fname: str) -> bool:
    """Whether a file of a plugin folder is imported as a plugin: ``*.py`` not starting with ``_``; tests
    written beside plugins (``test_*.py``, ``conftest.py``: ``agora plugins new``) are not plugins."""
    return fname.endswith(".py") and not fname.startswith(("_", "test_")) and fname != "conftest.py"


class TrustedFolder(str):
    """The path of a trusted plugin folder, carrying the bytes of its plugin files (:func:`is_plugin_file`)
    read when its trust was checked — the bytes that were hashed. A :class:`Registry` given one imports
    those bytes and never reads the files again, so a file swapped after the check is never run. It is a
    ``str`` (the folder's path) wherever a folder name is expected, and pickles with its bytes."""

    sources: dict[str, bytes]

    def __new__(cls, path: str, sources: dict[str, bytes]) -> TrustedFolder:
        folder = super().__new__(cls, path)
        folder.sources = dict(sources)
        return folder

    def __reduce__(self) -> tuple[Any, ...]:
        return (TrustedFolder, (str(self), self.sources))


def plugin_classes(module: ModuleType) -> list[type[Plugin]]:
    """Plugin classes defined in ``module`` (not imported into it), with a name."""
    found = []
    for _, obj in inspect.getmembers(module, inspect.isclass):
        if issubclass(obj, Plugin) and obj.__module__ == module.__name__ and obj.name:
            if obj in (Plugin, PropagationModel, Recommender, ContentRecommender, FriendRecommender, SeedMethod):
                continue
            found.append(obj)
    return found


def load_file(path: str, source: bytes | None = None) -> ModuleType:
    """Import a plugin file as a fresh module (a new module object every call, so edits take effect).

    ``source``: the file's bytes as already read (a trusted folder's, hashed when its trust was checked);
    those are run, and the file is not read again. Without, the file is read once, and what was read is
    what runs. Tracebacks and ``inspect`` show the lines that ran, whatever the file holds later.
    """
    path = os.path.abspath(path)
    digest = hashlib.sha1(path.encode()).hexdigest()[:10]
    stem = os.path.splitext(os.path.basename(path))[0]
    mod_name = f"agora_user_plugins.{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        # Compile the source every time (no __pycache__): an edit within the same second that keeps
        # the file's size would otherwise reload stale bytecode.
        if source is None:
            with open(path, "rb") as fh:
                source = fh.read()
        code = compile(source, path, "exec")
        text = source.decode("utf-8", errors="replace")
        linecache.cache[path] = (len(source), None, text.splitlines(keepends=True), path)
        exec(code, module.__dict__)  # noqa: S102 - plugins are code the user chose to load
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    return module


def _guard_validate(cls: type[Plugin]) -> None:
    """Make a user plugin's own ``validate`` raise only :class:`BadParameterError` (a bad value, named) or
    :class:`PluginError` (anything else it raised, with the traceback), so a plugin whose parameter check
    crashes fails the session that asked for it instead of the caller (the app's inject)."""
    for klass in cls.__mro__:
        if klass.__module__ == Plugin.__module__ or "validate" not in klass.__dict__:
            continue
        own = klass.__dict__["validate"]
        func = getattr(own, "__func__", None)
        if func is None or getattr(func, "_agora_guarded", False):
            continue

        def guarded(c: type[Plugin], params: dict[str, Any], _func: Any = func) -> dict[str, Any]:
            try:
                return _func(c, params)
            except (BadParameterError, PluginError):
                raise
            except BaseException as exc:
                if not is_plugin_fault(exc):
                    raise
                tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                raise PluginError(
                    f"plugin {getattr(c, 'name', c.__name__)}: checking its parameters raised "
                    f"{type(exc).__name__}: {exc}",
                    tb,
                ) from exc

        guarded._agora_guarded = True  # type: ignore[attr-defined]
        guarded.__name__, guarded.__doc__, guarded.__wrapped__ = "validate", func.__doc__, func  # type: ignore[attr-defined]
        klass.validate = classmethod(guarded)  # type: ignore[attr-defined]


def _key(name: str, kind: str | None) -> str:
    return f"{kind}:{name}" if kind in (FRIEND, SEEDER, FORECASTER) else name


FRIEND = "friend-recommender"
#: Seed methods (:class:`sim.plugin.SeedMethod`) have their own names: ``degree`` may name a model too.
SEEDER = "seeder"
#: Forecasters (:class:`sim.plugin.Forecaster`) have their own names too: ``renewal`` may name a model.
FORECASTER = "forecaster"


_BASE_KINDS = {
    "PropagationModel": "model",
    "ContentRecommender": "recommender",
    "Recommender": "recommender",
    "FriendRecommender": FRIEND,
    "SeedMethod": SEEDER,
    "Forecaster": FORECASTER,
}


def declared_kind(path: str | None) -> str:
    """The kind of plugin a file declares, read from its source without running it (for files that fail
    to import): the kind of its first class deriving, directly or through a class of the same file,
    from ``PropagationModel``, ``ContentRecommender`` or ``FriendRecommender``. A file Python cannot
    parse is judged by the names it mentions; ``"none"`` when it declares no plugin class."""
    try:
        with open(path or "", encoding="utf-8", errors="replace") as fh:
            text = fh.read(4 * 1024 * 1024)
    except OSError:
        return "none"
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        for base in ("FriendRecommender", "ContentRecommender", "PropagationModel"):
            if re.search(rf"\(\s*[\w.]*{base}\b", text):
                return _BASE_KINDS[base]
        return "none"
    local: dict[str, str] = {}
    first = None
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for b in node.bases:
            base_name = b.attr if isinstance(b, ast.Attribute) else b.id if isinstance(b, ast.Name) else None
            kind = _BASE_KINDS.get(base_name or "") or local.get(base_name or "")
            if kind:
                local[node.name] = kind
                first = first or kind
                break
    return first or "none"


def _kind_of(cls: type[Plugin]) -> str:
    if issubclass(cls, PropagationModel):
        return "model"
    if issubclass(cls, FriendRecommender):
        return FRIEND
    if issubclass(cls, Recommender):
        return "recommender"
    if issubclass(cls, SeedMethod):
        return SEEDER
    if issubclass(cls, Forecaster):
        return FORECASTER
    return str(getattr(cls, "kind", "plugin"))


def _entry_point_file(ep: Any) -> str | None:
    """The source file of an entry point's module, found without importing it (None when not found)."""
    module = str(getattr(ep, "value", "")).partition(":")[0].strip()
    try:
        spec = importlib.util.find_spec(module) if module else None
    except Exception:  # noqa: BLE001 - a parent package that fails to import: no file to read
        return None
    return getattr(spec, "origin", None) if spec is not None else None


class Registry:
    """Plugins by name. See the module docstring for discovery."""

    def __init__(
        self,
        user_dirs: list[str] | tuple[str, ...] = (),
        *,
        bus: EventBus | None = None,
        builtins: bool = True,
        entry_points: bool = True,
        env: bool = True,
    ) -> None:
        dirs = list(user_dirs)
        if env and os.environ.get(ENV_VAR):
            dirs += [d for d in os.environ[ENV_VAR].split(os.pathsep) if d]
        # A trusted folder stays what it is: the bytes it carries are what is imported (here, and in the
        # sweep workers it is handed to).
        self.user_dirs = [d if isinstance(d, TrustedFolder) else os.path.abspath(d) for d in dict.fromkeys(dirs)]
        self.bus = bus
        self._builtins = builtins
        self._entry_points = entry_points
        self.entries: dict[str, PluginInfo] = {}
        self.failures: list[PluginInfo] = []
        self.discover()

    # -- discovery -------------------------------------------------------------------------------
    def discover(self) -> None:
        """(Re)build the registry from every source."""
        self.entries = {}
        self.failures = []
        if self._builtins:
            self._discover_builtins()
        if self._entry_points:
            self._discover_entry_points()
        for folder in self.user_dirs:
            self._discover_folder(folder)
        self._importer().close()

    def reload(self) -> list[PluginInfo]:
        """Re-import user plugins (and re-list entry points) without a restart; returns the failures."""
        self.discover()
        return list(self.failures)

    def add_folder(self, folder: str) -> None:
        """Add a user folder (for example the one beside a world) and load its plugins."""
        folder = os.path.abspath(folder)
        if folder not in self.user_dirs:
            self.user_dirs.append(folder)
            self._discover_folder(folder)
            self._importer().close()

    def _add(self, info: PluginInfo) -> None:
        old = self.entries.get(info.key)
        if old is not None:
            info.notes.append(f"overrides {old.name} from {old.source}")
        self.entries[info.key] = info
        if self.bus is not None:
            self.bus.publish(PluginLoaded(info.name, info.kind, info.source))

    def _fail(self, name: str, source: str, exc: BaseException) -> None:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        info = PluginInfo(
            name=name, kind=declared_kind(source), source=source, error=f"{type(exc).__name__}: {exc}", traceback=tb
        )
        self.failures.append(info)
        if name not in self.entries or self.entries[name].source == source:
            self.entries[name] = info
        if self.bus is not None:
            self.bus.publish(PluginFailed(name, source, info.error or "", tb))

    def _register_module(self, module: ModuleType, source: str) -> int:
        count = 0
        for cls in plugin_classes(module):
            if source != "builtin":
                _guard_validate(cls)
            self._add(PluginInfo(name=cls.name, kind=_kind_of(cls), source=source, cls=cls))
            count += 1
        return count

    def _discover_builtins(self) -> None:
        try:
            pkg = importlib.import_module("plugins")
        except Exception as exc:  # pragma: no cover - the package ships with Agora
            self._fail("plugins", "builtin", exc)
            return
        for mod in pkgutil.iter_modules(pkg.__path__):
            if mod.name.startswith("_"):
                continue
            try:
                module = importlib.import_module(f"plugins.{mod.name}")
            except Exception as exc:
                self._fail(mod.name, "builtin", exc)
                continue
            self._register_module(module, "builtin")

    def _discover_entry_points(self) -> None:
        try:
            eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        except Exception:  # pragma: no cover - broken metadata of some other package
            return
        for ep in eps:
            dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
            self._add(PluginInfo(name=ep.name, kind="unknown", source=f"entry-point:{dist}", entry_point=ep))

    def _discover_folder(self, folder: str) -> None:
        if isinstance(folder, TrustedFolder):  # the bytes hashed when its trust was checked, never re-read
            files: list[tuple[str, bytes | None]] = sorted(folder.sources.items())
        elif os.path.isdir(folder):
            files = [(f, None) for f in sorted(os.listdir(folder)) if is_plugin_file(f)]
        else:
            return
        for fname, source in files:
            path = os.path.join(folder, fname)
            stem = fname[:-3]
            try:
                # Import-time code is plugin code: under the plugin budget, so a file that hangs on import
                # is listed as failed instead of freezing discovery (and the app's reload).
                module = self._importer().call(
                    load_file,
                    path,
                    source,
                    what=f"plugin file {fname}",
                    where="while being imported",
                    then="not loaded",
                )
            except BaseException as exc:  # a plugin may raise anything, even SystemExit
                if not is_plugin_fault(exc):
                    raise
                self._fail(stem, path, exc)
                continue
            if self._register_module(module, path) == 0:
                self._fail(
                    stem,
                    path,
                    ImportError(
                        f"{fname} defines no plugin class (a subclass of PropagationModel or Recommender with a name)"
                    ),
                )

    def _importer(self) -> PluginRunner:
        runner = getattr(self, "_runner", None)
        if runner is None:
            runner = self._runner = PluginRunner(plugin_budget())
        return runner

    def register(self, cls: type[Plugin], source: str = "runtime") -> PluginInfo:
        """Register a plugin class directly (tests, notebooks, the conformance checker)."""
        if not (inspect.isclass(cls) and issubclass(cls, Plugin) and cls.name):
            raise BadParameterError("only a Plugin subclass with a name can be registered")
        info = PluginInfo(name=cls.name, kind=_kind_of(cls), source=source, cls=cls)
        self._add(info)
        return info

    # -- lookup ----------------------------------------------------------------------------------
    def _resolve(self, info: PluginInfo) -> type[Plugin]:
        if info.cls is not None:
            return info.cls
        if info.entry_point is not None and info.error is None:
            try:
                obj = info.entry_point.load()
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                info.error = f"{type(exc).__name__}: {exc}"
                info.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                info.kind = declared_kind(_entry_point_file(info.entry_point))
            else:
                classes = (
                    [obj]
                    if inspect.isclass(obj) and issubclass(obj, Plugin)
                    else (plugin_classes(obj) if isinstance(obj, ModuleType) else [])
                )
                match = [c for c in classes if c.name == info.name] or classes
                if match:
                    _guard_validate(match[0])
                    info.cls = match[0]
                    info.kind = _kind_of(match[0])
                    return match[0]
                info.error = f"entry point {info.name} does not name a plugin class"
                info.traceback = ""
        raise PluginError(f"plugin {info.name} from {info.source} failed to load: {info.error}", info.traceback or "")

    def get(self, name: str, kind: str | None = "model") -> type[Plugin]:
        """The plugin class registered as ``name``.

        Raises:
            BadParameterError: no plugin has that name (or it is of another kind).
            PluginError: the plugin failed to import; carries the traceback.
        """
        info = self.entries.get(_key(name, kind))
        if info is None and kind in (FRIEND, SEEDER, FORECASTER):
            info = self.entries.get(name)  # an entry point not imported yet
        if info is None:
            names = ", ".join(
                sorted(e.name for e in self.entries.values() if kind is None or e.kind in (kind, "unknown"))
            )
            what = "seed method" if kind == SEEDER else kind or "plugin"
            raise BadParameterError(
                f"unknown {what} {name!r}: available are {names or 'none'} (see 'agora plugins list')"
            )
        cls = self._resolve(info)
        if kind is not None and info.kind != kind:
            raise BadParameterError(f"plugin {name!r} is a {info.kind}, not a {kind}")
        return cls

    def model(self, name: str) -> type[PropagationModel]:
        cls = self.get(name, "model")
        assert issubclass(cls, PropagationModel)
        return cls

    def content_recommender(self, name: str) -> type[ContentRecommender]:
        cls = self.get(name, "recommender")
        if not issubclass(cls, ContentRecommender):
            raise BadParameterError(f"plugin {name!r} is not a content recommender")
        return cls

    def friend_recommender(self, name: str) -> type[FriendRecommender]:
        cls = self.get(name, FRIEND)
        if not issubclass(cls, FriendRecommender):
            raise BadParameterError(f"plugin {name!r} is not a friend recommender")
        return cls

    def seeder(self, name: str) -> type[SeedMethod]:
        cls = self.get(name, SEEDER)
        if not issubclass(cls, SeedMethod):
            raise BadParameterError(f"plugin {name!r} is not a seed method")
        return cls

    def forecaster(self, name: str) -> type[Forecaster]:
        cls = self.get(name, FORECASTER)
        if not issubclass(cls, Forecaster):
            raise BadParameterError(f"plugin {name!r} is not a forecaster")
        return cls

    def list(self, kind: str | None = None) -> list[PluginInfo]:
        """Entries sorted by kind and name (failed ones included)."""
        out = [e for e in self.entries.values() if kind is None or e.kind == kind]
        return sorted(out, key=lambda e: (e.kind, e.name))

    def __contains__(self, name: str) -> bool:
        return name in self.entries or any(f"{k}:{name}" in self.entries for k in (FRIEND, SEEDER, FORECASTER))


def world_plugin_dir(world_path: str) -> str:
    """The plugin folder that belongs to a world file: ``saves/city.db`` -> ``saves/city.plugins``.
    It is loaded only when named or trusted: see :func:`world_plugin_folders`."""
    root, _ = os.path.splitext(os.path.abspath(world_path))
    return root + ".plugins"


# -- trusting the plugin folder beside a world ---------------------------------------------------------

#: Where Agora keeps what a user decided (the trusted plugin folders): this variable, else
#: ``$XDG_CONFIG_HOME/agora``, else ``~/.config/agora``. Never inside a world or beside one.
CONFIG_ENV = "AGORA_CONFIG_HOME"
TRUST_FILE = "trusted.json"


def user_config_dir() -> str:
    """Agora's folder of user settings (see :data:`CONFIG_ENV`)."""
    if os.environ.get(CONFIG_ENV):
        return os.path.abspath(os.environ[CONFIG_ENV])
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(os.path.abspath(base), "agora")


def trust_file() -> str:
    """The file that remembers trusted plugin folders."""
    return os.path.join(user_config_dir(), TRUST_FILE)


def folder_digest(folder: str) -> tuple[str, int]:
    """A SHA-256 of every file under ``folder`` (names, and contents; compiled ``__pycache__`` left out; a
    linked folder by where it points) and how many files: any added, removed, renamed or edited file
    changes it."""
    digest, count, _ = read_folder(folder)
    return digest, count


def read_folder(folder: str) -> tuple[str, int, dict[str, bytes]]:
    """:func:`folder_digest`, and the bytes of the folder's plugin files (:func:`is_plugin_file`, at its top)
    by name: each file is read once, and the bytes returned are the bytes hashed (import those, not the
    file again: it may have changed since)."""
    h = hashlib.sha256()
    count = 0
    sources: dict[str, bytes] = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for d in dirs:
            p = os.path.join(root, d)
            if os.path.islink(p):  # not walked into: where it points is what is trusted
                h.update(
                    b"L\0"
                    + os.path.relpath(p, folder).encode("utf-8", "surrogateescape")
                    + b"\0"
                    + os.readlink(p).encode("utf-8", "surrogateescape")
                    + b"\0"
                )
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(b"F\0" + os.path.relpath(p, folder).encode("utf-8", "surrogateescape") + b"\0")
            plugin = root == folder and is_plugin_file(f)
            try:
                with open(p, "rb") as fh:
                    if plugin:  # kept whole: these bytes are what will be imported
                        data = fh.read()
                        h.update(data)
                        sources[f] = data
                    else:
                        while chunk := fh.read(1 << 20):
                            h.update(chunk)
            except OSError as exc:  # unreadable (a dangling link, a socket): its name and the error count
                h.update(f"unreadable {exc.errno}".encode())
            h.update(b"\0")
            count += 1
    return h.hexdigest(), count, sources


def _read_trusted() -> dict[str, Any]:
    try:
        with open(trust_file(), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    folders = data.get("folders") if isinstance(data, dict) else None
    return {k: v for k, v in folders.items() if isinstance(v, dict)} if isinstance(folders, dict) else {}


def _write_trusted(folders: dict[str, Any]) -> None:
    """Write the trusted folders (a temporary file renamed over the old one; readable by you only)."""
    path = trust_file()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".trusted-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "about": "plugin folders beside worlds that Agora loads (agora plugins trust WORLD)",
                    "folders": folders,
                },
                fh,
                indent=1,
                sort_keys=True,
            )
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def plugin_folder_of(target: str) -> str:
    """The plugin folder ``target`` means: a world file's ``<world>.plugins/`` folder, or a folder itself.

    Raises:
        BadParameterError: there is no such folder.
    """
    folder = target if os.path.isdir(target) else world_plugin_dir(target)
    if not os.path.isdir(folder):
        raise BadParameterError(
            f"there is no plugin folder {folder!r}: give a world whose <world>.plugins folder exists, "
            "or the folder itself"
        )
    return os.path.realpath(folder)


def trust_plugin_folder(target: str) -> dict[str, Any]:
    """Trust the plugin folder of ``target`` (a world file or the folder) as it is now: remembered in
    :func:`trust_file` by its real path and :func:`folder_digest`. Returns ``folder``, ``sha256``,
    ``files`` and ``trust_file``.

    Raises:
        BadParameterError: there is no such folder.
    """
    folder = plugin_folder_of(target)
    digest, files = folder_digest(folder)
    trusted = _read_trusted()
    trusted[folder] = {"sha256": digest, "files": files, "trusted_at": time.time()}
    _write_trusted(trusted)
    return {"folder": folder, "sha256": digest, "files": files, "trust_file": trust_file()}


def untrust_plugin_folder(target: str) -> bool:
    """Forget that the plugin folder of ``target`` was trusted; whether it was.

    Raises:
        BadParameterError: there is no such folder.
    """
    folder = plugin_folder_of(target)
    trusted = _read_trusted()
    if trusted.pop(folder, None) is None:
        return False
    _write_trusted(trusted)
    return True


def plugin_folder_trust(folder: str) -> str:
    """``"trusted"`` (as it was when trusted), ``"changed"`` (trusted, but a file differs since) or
    ``"untrusted"``. Only a folder that has a record is hashed."""
    return _trusted_sources(folder)[0]


def _trusted_sources(folder: str) -> tuple[str, dict[str, bytes] | None]:
    """:func:`plugin_folder_trust`, and when trusted the bytes of its plugin files that were hashed."""
    record = _read_trusted().get(os.path.realpath(folder))
    if record is None:
        return "untrusted", None
    digest, _, sources = read_folder(os.path.realpath(folder))
    return ("trusted", sources) if digest == record.get("sha256") else ("changed", None)


def world_plugin_folders(
    world_path: str | None, named: list[str] | tuple[str, ...] = (), *, env: bool = True
) -> tuple[list[str], str | None]:
    """What to load of the plugin folder beside ``world_path``: ``([folder], None)`` when you trusted it
    as it is (a :class:`TrustedFolder`: its files' bytes as they were hashed, which is what a
    :class:`Registry` imports); ``([], None)`` when there is none or it is among the ``named`` folders
    (``--plugins``, and ``AGORA_PLUGINS`` with ``env``: loaded as named); else ``([], notice)``: it is not
    loaded, and ``notice`` is the one sentence to tell the user (the folder, and how to load it).
    """
    if world_path is None:
        return [], None
    folder = world_plugin_dir(world_path)
    if not os.path.isdir(folder):
        return [], None
    given = list(named) + (os.environ.get(ENV_VAR, "").split(os.pathsep) if env else [])
    real = os.path.realpath(folder)
    if any(d and os.path.isdir(d) and os.path.realpath(d) == real for d in given):
        return [], None
    status, sources = _trusted_sources(folder)
    if sources is not None:  # the files as they were hashed: what the registry imports (TrustedFolder)
        return [TrustedFolder(folder, sources)], None
    where, world = shown(folder, 300), shown(world_path, 300)
    if status == "changed":
        return [], (
            f"plugin folder {where} changed since you trusted it and was not loaded (plugins are code): read "
            f"it, then trust it again with 'agora plugins trust {world}', or load it with --plugins {where}"
        )
    return [], (
        f"plugin folder {where} beside the world was not loaded: plugins are code that runs with your rights, so "
        f"Agora loads only folders you name; read it, then load it with --plugins {where} or trust it with "
        f"'agora plugins trust {world}'"
    )


_told: set[str] = set()


def tell_once(notice: str | None) -> None:
    """Write ``notice`` on stderr (``agora: note: ...``), once per process."""
    if notice and notice not in _told:
        _told.add(notice)
        with contextlib.suppress(Exception):
            sys.stderr.write(f"agora: note: {notice}\n")


def _check_plugin_dirs(plugin_dirs: Iterable[str], world_path: str | None) -> list[str]:
    """The user folders of a sweep: those named, and the world's ``<world>.plugins/`` folder only when
    named or trusted (a folder left out is said once on stderr; see ``world_plugin_folders``)."""

    dirs = list(plugin_dirs)
    for d in dirs:
        if not os.path.isdir(d):
            raise BadFileError(f"plugin folder {d!r} does not exist: give a folder of .py plugin files")
    extra, notice = world_plugin_folders(world_path, dirs)
    tell_once(notice)
    return dirs + extra


def plugin_registry(world_path: str | None, plugin_dirs: Iterable[str] = ()) -> Registry:
    """The plugin registry of a command on the world at ``world_path``: built-ins, entry points,
    ``AGORA_PLUGINS``, the named folders, and the world's ``<world>.plugins/`` folder when named or trusted.

    Raises:
        BadFileError: a named folder does not exist.
    """

    return Registry(_check_plugin_dirs(plugin_dirs, world_path))
