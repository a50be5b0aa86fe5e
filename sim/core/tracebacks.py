"""A plugin's part of a traceback: the frames in its own file, and where it failed as ``file:line``.

A model or recommender that raises fails its run; its author needs the place in *their* code, not the
engine's frames around it. Tracebacks travel as text (from worker processes, in world files and
snapshots), so this module reads the text Python's ``traceback.format_exception`` writes:

- :func:`plugin_frames` — the frames of a traceback that are plugin code: neither Agora's engine
  (the ``sim`` package) nor the standard library or an installed package (numpy, ...), except the
  built-in ``plugins`` package, which is written exactly as a user's plugin is;
- :func:`plugin_location` — ``path:line`` of the innermost such frame (where the plugin failed);
- :func:`plugin_traceback` — the traceback cut to those frames and the error lines.

Only the last exception of a chain is read (``During handling of ...`` blocks before it are dropped).
"""

from __future__ import annotations

import inspect
import os
import re
import sysconfig

#: ``  File "PATH", line N, in NAME`` as the traceback module writes it.
_FRAME = re.compile(r'^  File "(?P<path>.*)", line (?P<line>\d+)(?:, in (?P<name>.*))?$')
_CHAIN = re.compile(
    r"\n(?:The above exception was the direct cause of the following exception:|"
    r"During handling of the above exception, another exception occurred:)\n"
)
_HEADER = "Traceback (most recent call last):"

_SIM_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The built-in plugins: a sibling of ``sim`` whether installed or run from a checkout.
_PLUGINS_DIR = os.path.join(os.path.dirname(_SIM_DIR), "plugins")


def _library_dirs() -> tuple[str, ...]:
    dirs = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            dirs.add(os.path.abspath(path))
    return tuple(sorted(dirs))


_LIBRARY_DIRS = _library_dirs()


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + os.sep)


def is_plugin_file(path: str) -> bool:
    """Whether a traceback's file is plugin code (see the module docstring)."""
    if not path or path.startswith("<"):
        return False
    full = os.path.abspath(path)
    if _inside(full, _PLUGINS_DIR):
        return True
    if _inside(full, _SIM_DIR):
        return False
    return not any(_inside(full, d) for d in _LIBRARY_DIRS)


def _last_block(tb: str) -> str:
    return _CHAIN.split(tb)[-1]


def plugin_frames(tb: str | None) -> list[tuple[str, int, str, str]]:
    """The plugin frames of ``tb``, outermost first: ``(path, line, function, source line)``."""
    if not tb:
        return []
    lines = _last_block(tb).splitlines()
    out = []
    for i, ln in enumerate(lines):
        m = _FRAME.match(ln)
        if m and is_plugin_file(m["path"]):
            code = lines[i + 1].strip() if i + 1 < len(lines) and lines[i + 1].startswith("    ") else ""
            out.append((m["path"], int(m["line"]), m["name"] or "", code))
    return out


def plugin_location(tb: str | None) -> str | None:
    """``path:line`` of the innermost plugin frame of ``tb`` (None when no frame is plugin code)."""
    frames = plugin_frames(tb)
    if not frames:
        return None
    path, line, _, _ = frames[-1]
    return f"{path}:{line}"


def plugin_traceback(tb: str | None) -> str | None:
    """``tb`` cut to its plugin frames and its error lines (the whole last block when no frame is
    plugin code: then the fault is in the engine, or the engine refused the plugin's answer)."""
    if not tb:
        return None
    block = _last_block(tb).rstrip("\n")
    frames = plugin_frames(block)
    if not frames:
        return block
    lines = block.splitlines()
    # The error lines: everything after the last frame's source lines (the exception and its notes).
    last = max((i for i, ln in enumerate(lines) if _FRAME.match(ln)), default=-1)
    j = last + 1
    while j < len(lines) and lines[j].startswith("    "):
        j += 1
    error = lines[j:]
    out = [_HEADER]
    for path, line, name, code in frames:
        out.append(f'  File "{path}", line {line}' + (f", in {name}" if name else ""))
        if code:
            out.append(f"    {code}")
    return "\n".join(out + error)


def with_method_frame(tb: str, obj: object, method: str) -> str:
    """``tb`` with a frame naming where ``obj``'s ``method`` is defined, when no frame of ``tb`` is plugin
    code: the engine refused what the method answered (a wrong shape, a state out of range), so the
    author's place to look is that method. The frame goes just before the error lines."""

    if plugin_frames(tb):
        return tb
    try:
        func = getattr(type(obj), method)
        path = inspect.getsourcefile(func) or ""
        line = inspect.getsourcelines(func)[1]
    except (AttributeError, TypeError, OSError):
        return tb
    if not path:
        return tb
    frame = f'  File "{os.path.abspath(path)}", line {line}, in {method} (its answer was refused)'
    lines = tb.rstrip("\n").splitlines()
    last = max((i for i, ln in enumerate(lines) if _FRAME.match(ln)), default=-1)
    j = last + 1
    while j < len(lines) and lines[j].startswith("    "):
        j += 1
    if last < 0:
        lines = [_HEADER] + lines
        j = 1
    return "\n".join(lines[:j] + [frame] + lines[j:]) + "\n"


def one_line(error: str | None, limit: int = 500) -> str | None:
    """An error message as one line: its first non-empty line, cut at ``limit`` characters."""
    if error is None:
        return None
    first = next((ln.strip() for ln in str(error).splitlines() if ln.strip()), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"
