"""Errors a user can cause.

Every error that a user's input can provoke (a missing file, a malformed line, a bad number, an
existing target) is an :class:`AgoraError` whose message is one sentence naming the thing and what to
do. The CLI prints it on stderr and exits with code 2; the TUI shows it as a notification. Anything else
that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class AgoraError(Exception):
    """A problem caused by input, reported to the user as one clear sentence.

    ``fields`` names the request fields the sentence names (``budget``), as the sentence spells them: a front
    end that calls them otherwise says so when it prints (the command line's ``--budget``,
    :mod:`sim.cli.fields`). Below the command line no message spells a flag.
    """

    def __init__(self, *args: object, fields: str | tuple[str, ...] = ()) -> None:
        super().__init__(*args)
        self.fields: tuple[str, ...] = (fields,) if isinstance(fields, str) else tuple(fields)

    def __reduce__(self) -> tuple[object, ...]:  # a worker process's error keeps its fields
        return (_rebuild, (type(self), self.args, self.fields), self.__dict__)


def _rebuild(cls: type[AgoraError], args: tuple[object, ...], fields: tuple[str, ...]) -> AgoraError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.fields = fields
    return exc


class BadFileError(AgoraError):
    """A file is missing, unreadable, truncated, corrupt, foreign or of the wrong version."""


class BadParameterError(AgoraError):
    """A parameter value is out of range or of the wrong type."""


class TargetExistsError(AgoraError):
    """The output path exists and overwriting was not asked for."""


class ResourceError(AgoraError):
    """The machine cannot hold what was asked for (memory, disk)."""


class RuleError(BadParameterError):
    """Values each of the right type and in range that break a rule between them or with the world as it is
    (a model's ``gamma + mu <= 1``): HTTP 422 over the API, whose description states every rule it can and
    names these in words."""
