"""The backtest plans docs/backtesting.md reports: every committed plan under docs/backtests parses as a backtest
(its keys, its priors, its world), and each plan's sha256 the tables quote is the plan file's own, so a reader can
tell that the plan scored is the plan committed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sim.engine.requests.backtest import Backtest

ROOT = Path(__file__).resolve().parents[1]
PLANS = sorted((ROOT / "docs" / "backtests").rglob("*.toml"))
DOC = (ROOT / "docs" / "backtesting.md").read_text()


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: str(p.relative_to(ROOT / "docs" / "backtests")))
def test_every_committed_plan_parses_and_its_hash_is_quoted(plan):
    request = Backtest.parse({"plan": str(plan)})
    assert request.plan is not None and request.fit.observed
    digest = hashlib.sha256(plan.read_bytes()).hexdigest()
    assert request.plan.sha256 == digest
    assert f"| {digest[:12]} |" in DOC, f"docs/backtesting.md quotes no score of {plan.name} ({digest[:12]})"


def test_the_mers_plans_with_imports_simulate_the_imported_column():
    for name in ("mers2014-imported", "mers2014-imported-rate"):
        fit = Backtest.parse({"plan": str(ROOT / "docs" / "backtests" / f"{name}.toml")}).fit
        assert fit.imported == "imported" and fit.seeds == "none"
    rate = Backtest.parse({"plan": str(ROOT / "docs" / "backtests" / "mers2014-imported-rate.toml")}).fit
    assert "import" in rate.priors.names
