"""Ctrl-C reaches a forked map whichever thread the kernel hands the signal to (``sim.runs.transport``): a
process-directed SIGINT may be taken by the thread that collects the workers' results, and Python runs
the handler only when the main thread runs; the map's main thread must not sleep until the map ends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sim.runs.transport import fork_available

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import asyncio, multiprocessing, signal, threading, time
from sim.runs.transport import map_forked

# Ctrl-C as a terminal's foreground program has it: a test worker's ignored or blocked SIGINT is inherited
# through exec (it made this test hang in the full suite, never alone).
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

def job(i, report):
    time.sleep(120)
    return i

def poke():
    # Once both workers run, SIGINT goes to the collecting thread, not to the main thread.
    while len(multiprocessing.active_children()) < 2:
        time.sleep(0.02)
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and t is not me]
    signal.pthread_kill(others[0].ident, signal.SIGINT)

me = threading.Thread(target=poke, daemon=True)
me.start()
start = time.monotonic()
try:
    asyncio.run(map_forked(job, 4, 2))
except KeyboardInterrupt:
    print("interrupted", multiprocessing.active_children(), round(time.monotonic() - start, 1))
"""


@pytest.mark.skipif(not fork_available(), reason="forked maps are Linux's")
def test_a_ctrl_c_taken_by_the_collecting_thread_stops_the_map():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=100, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr
    words = proc.stdout.split()
    assert words[:2] == ["interrupted", "[]"], proc.stdout  # and no worker left
    assert float(words[2]) < 100  # not after the jobs' 120 s
