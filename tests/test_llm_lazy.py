"""The LLM machinery is built only when a run uses it: an offline run never makes the HTTP client nor
imports ``openai``; a run that sends a request makes it then."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sim.engine.simulation import Simulation
from sim.llm.config import LLMConfig
from sim.llm.service import LLMService
from sim.store.create import synthetic_world

ROOT = Path(__file__).resolve().parents[1]


def test_an_offline_run_never_builds_the_client():
    world = synthetic_world("lazy", 2000, avg_degree=6, seed=3)
    sim = Simulation(world, llm=LLMService(world, LLMConfig(offline=True)))
    sim.inject("hello", model="ic", seeds="random:20", seed=1)
    for _ in range(5):
        asyncio.run(sim.step())
    assert sim.world.tick == 5 and sim.metrics[-1]["llm_requests"] == 0
    assert sim.llm.stats()["mode"] == "offline" and sim.llm.stats()["servers"] == 1
    assert not sim.llm.built
    assert sim.llm.client.mode == "offline" and sim.llm.built  # asked for, it is made


def test_a_headless_run_does_not_import_openai(tmp_path):
    """``agora new`` then ``agora run`` offline, in their own process: the run completes and ``openai``
    was never imported."""
    path = str(tmp_path / "w.db")
    code = (
        "import sys\n"
        "from sim.cli.main import main\n"
        f"assert main(['new', {path!r}, '--agents', '3000']) == 0\n"
        f"rc = main(['run', {path!r}, '--model', 'ic', '--inject', 'hi', '--steps', '4', '--json'])\n"
        "assert rc == 0, rc\n"
        "assert 'openai' not in sys.modules, 'openai imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGORA_LLM"))}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"tick": 4' in proc.stdout
