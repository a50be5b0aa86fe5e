"""The long doc scenes of the terminal UI's screenshot and of README step 14's fit (about a minute of CPU each):
slow, in a file of their own so that the test processes share the long scenes out (tests/test_doc_quotes.py holds
the short ones and the checker's own tests)."""

from __future__ import annotations

import pytest
from test_doc_quotes import check_scene

SCENES_HERE = ["screenshot", "fit-report"]


@pytest.mark.subprocess
@pytest.mark.slow
@pytest.mark.parametrize("scene", SCENES_HERE)
def test_quotes_match_what_their_commands_print(scene):
    """Reruns the scene's commands and compares every quote."""
    check_scene(scene)
