"""The ``agora`` command run inside the test process: :func:`sim.cli.main.main` called with the words of a command
line, in the working directory and environment a subprocess would get, its output and exit code returned as
a :class:`subprocess.CompletedProcess`.

A subprocess pays for a new interpreter and the imports of numpy, scipy and the store at every call (1.5-3 s
on a loaded 2-core machine); in the test process they are paid once. What a command prints is captured at the
file descriptors (so output from C code and from the programs a command starts is caught too) as well as at
``sys.stdout`` and ``sys.stderr``; an exception that escapes ``main`` is printed as the interpreter would print
it, with exit code 1, and ``SystemExit`` (argparse's usage errors, ``--help``) gives its code, as in a process.

What the process itself does (signals, Ctrl-C, ``os._exit``, start-up before ``main``, memory and crash
checks) is not what this runs: those tests use :func:`conftest.agora_process` and the ``subprocess`` mark.
``tests/test_inprocess.py`` holds both ways to the same output on a sample of the suite's commands;
``AGORA_TEST_CLI=subprocess`` runs every command of the suite as a real process instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import io
import os
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence

#: One command at a time in a process: the working directory, the environment and the standard streams are
#: the process's own.
_ONE_AT_A_TIME = threading.RLock()


def _text(raw: bytes) -> str:
    """Bytes as ``subprocess.run(..., text=True)`` decodes them: UTF-8 (this machine's locale) with universal
    newlines."""
    return raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    env = dict(env)  # before the clear below: ``env`` may be os.environ itself
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _directory(cwd: str | os.PathLike[str] | None) -> Iterator[None]:
    saved = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved)


@contextlib.contextmanager
def _captured(stdin: bytes | None) -> Iterator[tuple[io.BufferedRandom, io.BufferedRandom]]:
    """File descriptors 1 and 2 (and ``sys.stdout``, ``sys.stderr``) sent to two temporary files; ``sys.stdin``
    reads ``stdin`` (nothing when None, as a subprocess whose input is not a terminal)."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    streams = sys.stdout, sys.stderr, sys.stdin
    for stream in streams[:2]:
        with contextlib.suppress(Exception):
            stream.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    new_out = io.TextIOWrapper(open(1, "wb", closefd=False), encoding="utf-8", line_buffering=False)  # noqa: SIM115
    new_err = io.TextIOWrapper(open(2, "wb", closefd=False), encoding="utf-8", line_buffering=True)  # noqa: SIM115
    new_err.reconfigure(errors="backslashreplace")  # as the interpreter's own stderr
    sys.stdout, sys.stderr = new_out, new_err
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="utf-8")
    try:
        yield out, err
    finally:
        for stream in (new_out, new_err):
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdout, sys.stderr, sys.stdin = streams
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])


def _reset_process_state() -> None:
    """What one command leaves in the process that the next command run as a new process would not see."""
    # What the command made and let go, freed now as a process's end frees it: a world in a reference cycle
    # keeps its read-only connection to the file (its personas) open until the cyclic collector runs, and while
    # it is open no other connection's close checkpoints the file's write-ahead log into it. Only the objects
    # made since the command began are looked at (run_cli froze the rest): a full pass over the test process's
    # heap took 0.06-0.2 s a command, a tenth of the suite's CPU time.
    gc.collect()
    gc.unfreeze()
    worldkey = sys.modules.get("sim.core.worldkey")
    if worldkey is not None:
        worldkey.settle()  # as the console script does before it exits
        worldkey.use_key(None)  # a --key-file's key is the command's, not the next one's
    for name in ("sim.model.registry", "sim.store.worldread"):  # notes and warnings said once per process
        module = sys.modules.get(name)
        if module is not None:
            module._told.clear()


def _call_main(argv: Sequence[str]) -> int:
    """``main(argv)`` with an exit code as a process would give it."""
    from sim.cli.main import main

    try:
        return int(main(list(argv)) or 0)
    except SystemExit as stop:
        code = stop.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        sys.stderr.write(f"{code}\n")
        return 1
    except BaseException:  # what the interpreter prints of an uncaught exception, and its exit code
        traceback.print_exc()
        return 1


def _in_this_thread_or_another(argv: Sequence[str]) -> int:
    """Run :func:`_call_main` here, or in a new thread when this thread runs an event loop (an async test):
    ``asyncio.run`` cannot start inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _call_main(argv)
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(_call_main(argv)), name="agora-in-process")
    worker.start()
    worker.join()
    return result[0] if result else 1


def _as_a_process(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None,
    env: Mapping[str, str],
    timeout: float,
    stdin: bytes | None,
    text: bool,
) -> subprocess.CompletedProcess:
    """``python -m sim ARGV`` in a new process, for ``AGORA_TEST_CLI=subprocess``."""
    done = subprocess.run(
        [sys.executable, "-m", "sim", *argv], cwd=cwd, env=dict(env), input=stdin, capture_output=True, timeout=timeout
    )
    if not text:
        return done
    return subprocess.CompletedProcess(done.args, done.returncode, _text(done.stdout), _text(done.stderr))


def run_cli(
    argv: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None,
    env: Mapping[str, str],
    timeout: float = 600,
    stdin: bytes | None = None,
    text: bool = True,
) -> subprocess.CompletedProcess:
    """``agora ARGV`` run in this process, in ``cwd`` with exactly the environment ``env``; stdout and stderr
    as text (bytes where ``text`` is false). ``timeout`` bounds a hang: past it every thread's stack is printed
    and the test process ends (the run reports the crash), as a subprocess would be killed."""
    # Bytes on a command line reach a process as sys.argv gives them: decoded with surrogateescape.
    args = ["agora", *(os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in argv)]
    if env.get("AGORA_TEST_CLI", "inprocess") == "subprocess":  # the whole suite run as real processes
        return _as_a_process(args[1:], cwd=cwd, env=env, timeout=timeout, stdin=stdin, text=text)
    with _ONE_AT_A_TIME:
        # The hang's stacks go to the process's own stderr: the test's may be a capture with no descriptor.
        faulthandler.dump_traceback_later(timeout, exit=True, file=sys.__stderr__)
        try:
            with _environment(env), _directory(cwd), _captured(stdin) as (out, err):
                # What the test let go of lately (its own world, say) is freed first, as before a process starts;
                # the rest it holds goes out of the collector's reach until the command ends.
                gc.collect(1)
                gc.freeze()
                try:
                    code = _in_this_thread_or_another(args[1:])
                finally:
                    _reset_process_state()
        finally:
            faulthandler.cancel_dump_traceback_later()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        if text:
            result = subprocess.CompletedProcess(args, code, _text(stdout), _text(stderr))
        else:
            result = subprocess.CompletedProcess(args, code, stdout, stderr)
        out.close()
        err.close()
        return result
