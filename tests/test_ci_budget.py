"""CI's CPU budget (.ci/budget.py, run by .ci/run around ``make test``): it prints the command's wall time, CPU time
and the load whatever happens, passes a command's failure through, and fails a passing command that used more CPU
time than its budget, in one sentence."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

BUDGET = ROOT / ".ci" / "budget.py"
#: A command that uses about half a second of CPU time (its children's time is what the budget counts).
BURN = [sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass"]


def budget(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BUDGET), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_command_within_its_budget_passes_and_its_times_are_printed():
    done = budget("--cpu-minutes", "1", "--name", "burn", "--", *BURN)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("budget: burn: started at load ") and "cores" in lines[0]
    assert lines[-1].startswith("budget: burn: wall ") and "CPU 0.0 min" in lines[-1] and "budget 1 min" in lines[-1]
    assert done.stderr == ""


def test_a_command_over_its_budget_fails_in_one_sentence():
    done = budget("--cpu-minutes", "0.002", "--name", "burn", "--", *BURN)  # 0.12 s
    assert done.returncode == 3
    assert "budget: burn: wall " in done.stdout  # the times, whatever happens
    [line] = done.stderr.splitlines()
    assert line.startswith("budget: burn passed but used ") and "over its budget of 0.002" in line


def test_a_failing_command_fails_with_its_own_code_and_its_times():
    done = budget("--cpu-minutes", "25", "--", sys.executable, "-c", "raise SystemExit(7)")
    assert done.returncode == 7 and "wall " in done.stdout and done.stderr == ""


def test_ci_runs_make_test_under_the_budget():
    text = (ROOT / ".ci" / "run").read_text()
    assert '.ci/budget.py --cpu-minutes "${AGORA_TEST_CPU_MINUTES:-48}" --name "make test" -- make test' in text
    assert "--durations=25" in (ROOT / "Makefile").read_text()
