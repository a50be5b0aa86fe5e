"""`make run` installs what the README's walkthrough uses (issue 57: step 14's `agora sweep --design` and step
16's `--encrypt` failed after `make run`, which installed neither the `fit` nor the `crypto` extra).

The README's commands are read from its `sh` blocks; a command that needs an optional extra is recognised by
the option that needs it (the same options whose refusal names the extra), and the extras `make run`
installs are read from the Makefile's recipe. A new step that needs another extra fails here until the
Makefile installs it or the step says how to.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Options of `agora` commands that need an optional extra, and which (each refuses without it, naming it).
NEEDS = {
    r"--design\b": "fit",
    r"--encrypt\b": "crypto",
    r"--key-file\b": "crypto",
    r"\bagora (encrypt|decrypt|rekey)\b": "crypto",
}


def _sh_commands(text: str) -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("agora ")]


def _run_extras() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    extras = re.search(r"^RUN_EXTRAS\s*:=\s*(.*)$", makefile, flags=re.M)
    assert extras, "the Makefile names the extras make run installs in RUN_EXTRAS"
    stamp = re.search(r"^\$\(STAMP\):.*?\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert stamp and "$(RUN_EXTRAS)" in stamp.group(1), "make run's install recipe installs $(RUN_EXTRAS)"
    return {e.strip() for e in extras.group(1).split(",") if e.strip()}


def test_make_run_installs_every_extra_the_walkthrough_uses() -> None:
    commands = _sh_commands((ROOT / "README.md").read_text())
    assert len(commands) > 20  # the walkthrough was read
    needed = {extra: cmd for cmd in commands for pattern, extra in NEEDS.items() if re.search(pattern, cmd)}
    assert {"fit", "crypto"} <= set(needed), needed  # steps 14 and 16 are still there
    missing = {extra: cmd for extra, cmd in needed.items() if extra not in _run_extras()}
    assert not missing, f"make run does not install what these README commands need: {missing}"


def test_the_run_extras_exist_in_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert _run_extras() <= set(declared)


def test_readme_says_what_the_first_make_run_costs() -> None:
    intro = (ROOT / "README.md").read_text().split("## A ten-minute walkthrough")[0]
    assert re.search(r"first\s+`make run`.{0,300}?\babout \d+ minutes?\b", intro, flags=re.S)
