"""Run a command (``make test``) and hold it to a CPU budget: print its wall time, CPU time and the load average
whatever happens, and fail with one sentence when the CPU time is over the budget.

CPU time (user and system, of the command and every process it waited for: pytest's workers, the programs
they start) is the figure held, not wall time: the machine's load stretches wall time, hardly CPU time, so a
busy machine never fails a good submission and a slower suite fails on a quiet one.

    python3 .ci/budget.py --cpu-minutes 25 -- make test

Exit code: the command's own when it failed; 3 when it passed over its budget; 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

#: The exit code of a command that passed but took more CPU time than its budget.
OVER_BUDGET = 3


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min ({seconds:,.0f} s)"


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # pragma: no cover - not on this platform
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="budget.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-minutes", type=float, default=25.0, help="the CPU budget in minutes (default 25)")
    parser.add_argument("--name", default=None, help="what the command is called in the report (default: itself)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --, e.g. -- make test")
    if not args.cpu_minutes > 0:
        parser.error("--cpu-minutes must be a number above 0")
    name = args.name or " ".join(command)
    print(f"budget: {name}: started at load {_load()}", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    code = subprocess.call(command)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    cpu = user + system
    print(
        f"budget: {name}: wall {_minutes(wall)}, CPU {_minutes(cpu)} (user {user:,.0f} s, system {system:,.0f} s; "
        f"budget {args.cpu_minutes:g} min), load at the end {_load()}",
        flush=True,
    )
    if code != 0:
        return code
    if cpu > args.cpu_minutes * 60:
        print(
            f"budget: {name} passed but used {cpu / 60:.1f} minutes of CPU time, over its budget of "
            f"{args.cpu_minutes:g}: find what grew in the slowest tests above and make it cheaper (or mark it slow "
            "with a fast twin, docs/development.md)",
            file=sys.stderr,
            flush=True,
        )
        return OVER_BUDGET
    return 0


if __name__ == "__main__":
    sys.exit(main())
