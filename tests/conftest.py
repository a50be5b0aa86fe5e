from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Where the real networks are when ``$AGORA_DATA`` is not set: ``../shared/data`` beside the project.
FALLBACK_DATA = ROOT.parent / "shared" / "data"


def data_dir() -> Path:
    """The folder of the real networks (facebook_combined.txt, email-Eu-core*.txt, musae_facebook_edges.csv):
    ``$AGORA_DATA`` when set, else ``../shared/data`` relative to the project root."""
    env = os.environ.get("AGORA_DATA")
    return Path(env).expanduser() if env else FALLBACK_DATA


def data_file(name: str) -> Path:
    """The real dataset ``name`` (see :func:`data_dir`), or skip the test saying where it was looked for.

    The one lookup of every test that reads the real networks (``from conftest import data_file``)."""
    folder = data_dir()
    path = folder / name
    if not path.is_file():
        where = f"AGORA_DATA={os.environ['AGORA_DATA']}" if os.environ.get("AGORA_DATA") else "AGORA_DATA is not set"
        pytest.skip(
            f"real dataset {name} not found in {folder} ({where}): set AGORA_DATA to the folder holding it, "
            f"or put it in the fallback folder ../shared/data beside the project ({FALLBACK_DATA})"
        )
    return path


def one_sentence(out: subprocess.CompletedProcess) -> str:
    """The one line of a refused command (exit code 2, ``agora: error: ...``, no traceback)."""
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("agora: error: ") and "Traceback" not in out.stderr, out.stderr
    return lines[0]


def agora(cwd, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m sim ARGS`` in ``cwd`` as a user would run it (no progress bars; ``env`` added to the
    environment), its output captured as text."""
    full_env = {k: v for k, v in os.environ.items() if k != "AGORA_PROGRESS"}
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "sim", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        check=False,
    )


def digest(path) -> str:
    """The SHA-256 of a file's bytes (to show a command left it unchanged)."""
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture
def keep_notifications(monkeypatch):
    """Keep every notification a Textual app shows, for :func:`notified`, when the app calls ``notify``.
    ``App.notify`` only posts a message, which the app handles later (a test that reads right after a state
    change the same handler made would race it), and notifications expire after a few seconds (5 by
    default) and then leave ``app._notifications``: on a loaded machine that can happen before a test looks
    at them."""
    from textual.app import App

    notify = App.notify

    def notify_and_keep(self, message, *args, **kwargs):
        self.__dict__.setdefault("_kept_notifications", []).append(message)
        return notify(self, message, *args, **kwargs)

    notify_and_keep.keeps = True
    monkeypatch.setattr(App, "notify", notify_and_keep)


def notified(app) -> list[str]:
    """The messages of every notification ``app`` has shown so far, in order, expired ones included (the
    test must use the ``keep_notifications`` fixture)."""
    from textual.app import App

    assert getattr(App.notify, "keeps", False), "use the keep_notifications fixture"
    return [str(m) for m in app.__dict__.get("_kept_notifications", [])]


@pytest.fixture
def small_world():
    from sim.store.create import synthetic_world

    return synthetic_world("small", 3000, avg_degree=8, seed=7)


@pytest.fixture(autouse=True)
def _saves_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("AGORA_SAVES", str(tmp_path / "saves"))
    # Plain-text tables are as wide as the terminal: the tests read them at one width, whatever terminal (or
    # test worker without one) runs them.
    monkeypatch.setenv("COLUMNS", "160")
    # The LLM is offline in tests unless a test points it at its own local server.
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGORA_LLM_MODEL", "AGORA_LLM_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    yield
