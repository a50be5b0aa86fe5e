"""What `make check` still finds, counted per file: ruff's rules, unformatted files and mypy's errors.

For a clean-up pass (`make check-report`): it always exits 0; `make check` is the gate.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / args[0]), *args[1:]], cwd=ROOT, capture_output=True, text=True, check=False)


def main() -> int:
    per_file: dict[str, Counter[str]] = defaultdict(Counter)
    lint = json.loads(run("ruff", "check", "--output-format", "json", "--exit-zero", ".").stdout or "[]")
    for item in lint:
        per_file[str(Path(item["filename"]).relative_to(ROOT))][f"ruff {item['code'] or 'syntax'}"] += 1
    for item in json.loads(run("ruff", "format", "--check", "--output-format", "json", ".").stdout or "[]"):
        per_file[str(Path(item["filename"]).relative_to(ROOT))]["format"] += 1
    for line in run("mypy").stdout.splitlines():
        m = re.match(r"^([^:]+\.py):\d+: error: .*\[([a-z-]+)\]$", line)
        if m:
            per_file[m.group(1)][f"mypy {m.group(2)}"] += 1
    if not per_file:
        print("make check: nothing left to fix")
        return 0
    totals: Counter[str] = Counter()
    for path in sorted(per_file, key=lambda p: (-sum(per_file[p].values()), p)):
        counts = per_file[path]
        totals.update(counts)
        detail = ", ".join(f"{k} {v}" for k, v in counts.most_common())
        print(f"{sum(counts.values()):5d}  {path}: {detail}")
    print(
        f"\n{sum(totals.values())} in {len(per_file)} files: " + ", ".join(f"{k} {v}" for k, v in totals.most_common())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
