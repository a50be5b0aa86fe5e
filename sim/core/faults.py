"""Fault injection for the crash tests: die by SIGKILL at a named point of the persistence code.

``AGORA_KILL_AT=POINT:N`` makes the process kill itself with SIGKILL (no cleanup, no ``finally``, exactly
as a power cut looks to the file, minus the page cache) the N-th time it reaches ``POINT``:

- ``events``: inside a batch of adoption/exposure rows, after the inserts and before the commit;
- ``checkpoint``: inside a checkpoint transaction, after the arrays and mirrors are written, before the commit;
- ``checkpoint-taken``: a checkpoint's state was taken (``WorldWriter.checkpoint``), before it is queued;
- ``checkpointed``: right after a checkpoint's commit;
- ``journal``: inside a transaction of audit and journal rows (acknowledged changes), before the commit;
- ``snapshot``: while writing a snapshot's temporary file, after the arrays and before the manifest and rename.

Unset (always, outside the tests) the check is one dictionary lookup per batch or checkpoint.
"""

from __future__ import annotations

import os
import signal

_POINT, _, _COUNT = os.environ.get("AGORA_KILL_AT", "").partition(":")
_seen: dict[str, int] = {}


def kill_point(name: str) -> None:
    """Die here by SIGKILL when ``AGORA_KILL_AT`` names this point and its count is reached."""
    if name != _POINT:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] >= int(_COUNT or 1):
        os.kill(os.getpid(), signal.SIGKILL)
