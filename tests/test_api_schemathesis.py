"""Schemathesis against a served world, every check (tests/test_api_conformance.py holds the server's own
conformance tests and the helpers): in a file of its own, so that the test processes share the long run out."""

from __future__ import annotations

import pytest
from test_api_conformance import FEW_EXAMPLES, MAX_EXAMPLES, _serve_for_schemathesis, small_world  # noqa: F401 - a fixture


@pytest.mark.subprocess
def test_schemathesis_with_every_check_on_a_few_examples_finds_nothing(tmp_path, small_world):  # noqa: F811
    """The fast twin of the test below: the same checks and server, FEW_EXAMPLES examples an operation, in the
    phases whose size those set (the documented examples and fuzzing; the coverage and stateful phases, whose
    cases do not shrink with the examples, run in the full test)."""
    _serve_for_schemathesis(tmp_path, small_world, FEW_EXAMPLES, phases="examples,fuzzing")


@pytest.mark.subprocess
@pytest.mark.slow
def test_schemathesis_with_every_check_finds_nothing(tmp_path, small_world):  # noqa: F811
    """schemathesis 4 (``st run --checks all``: every phase, MAX_EXAMPLES examples an operation, one seed,
    deterministic) against a served world. A request valid by the description may be refused with 422 when it
    breaks a rule between two values that the description states in words (a model's ``gamma + mu <= 1``, a forecast's
    runs x arms x horizon): schemathesis is told so, and of nothing else."""
    _serve_for_schemathesis(tmp_path, small_world, MAX_EXAMPLES)
