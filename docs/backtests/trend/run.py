"""The built-in forecaster ``trend`` (plugins/forecasters.py) scored beside persistence on the eight curves of
docs/backtesting.md, at each plan's cuts and horizons (issue 74). Fixed before any score of it was seen: trend runs
with its default window (7 ticks), no other window is tried, and the plans' cuts, horizons and observations are
read from the committed plans (docs/backtests/NAME.toml) unchanged; no model is fitted (agora is not among the
methods). Run from the project root after docs/backtests/run.sh built the worlds:

    python docs/backtests/trend/run.py [OUT]      # OUT/NAME.json, default saves/backtests/trend

Prints the markdown table of docs/backtesting.md, "A forecaster of your own".
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
NAMES = ("flu1918", "sars2003", "measles1861", "smallpox1972", "flu2009", "nyc2009", "mers2014", "hagelloch")
KEYS = ("observed", "time", "tick", "observe", "cut", "horizon")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in NAMES:
        plan_path = ROOT / "docs" / "backtests" / f"{name}.toml"
        plan = tomllib.loads(plan_path.read_text())
        world = ROOT / "saves" / "backtests" / ("village.db" if name == "hagelloch" else f"bt-{name}.db")
        args = [str(ROOT / ".venv" / "bin" / "agora"), "backtest", str(world), "--method", "trend,persistence"]
        for key in KEYS:
            if key not in plan:
                continue
            value = plan[key]
            if key == "observed":
                value = str((plan_path.parent / value).resolve())
            for v in value if isinstance(value, list) else [value]:
                args += [f"--{key}", str(v)]
        got = subprocess.run([*args, "--json"], capture_output=True, text=True, check=True, cwd=ROOT)
        (out / f"{name}.json").write_text(got.stdout)
        data = json.loads(got.stdout)
        t = data["scores"]["trend"]
        rel = t["relative_wis"]
        rows.append(
            f"| {name} | {len(data['cuts'])} | {data['horizon']} | {t['all']['relative_wis']:.2f} "
            f"({t['all']['cover50']:.0%}, {t['all']['cover90']:.0%}) | {rel[0]:.2f} / {rel[-1]:.2f} |"
        )
    print("| data set | cuts | horizon | trend: rel. WIS (cover 50 %, 90 %) | at the first / last horizon |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "saves" / "backtests" / "trend")
