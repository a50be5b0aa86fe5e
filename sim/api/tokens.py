"""Bearer tokens of the API: who may call it, under which name, and whether only to read.

A token comes from ``$AGORA_API_TOKEN`` (named ``env``) or from a file (``--token-file FILE``, named after
the file: ``admin.token`` is ``admin``; ``--read-token-file`` for tokens that may only read). A file
holds the token on its first non-empty line. A server given none makes one (:func:`generate_token_file`):
a random token named ``local``, written to ``WORLD.token`` beside the world file, readable by its owner
only (0600), replaced at every start and removed when the server stops; the server prints the file's
path, never the token. Tokens are compared in constant time
(:func:`hmac.compare_digest`) against every known token, so the time of a refusal says nothing of how
close a guess was. A token is never printed, logged or written anywhere: the audit log and the answers
carry only its name.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sim.errors import BadParameterError

#: Shortest token accepted: anything shorter is guessable.
MIN_LENGTH = 16
ENV_VAR = "AGORA_API_TOKEN"
#: WebSocket subprotocols: a browser cannot set ``Authorization`` on a WebSocket, so it offers
#: ``agora.v1`` and ``agora.bearer.<the token in unpadded base64url>`` (the way Kubernetes does); the
#: server answers ``agora.v1`` and never echoes the token.
WS_PROTOCOL = "agora.v1"
WS_BEARER_PREFIX = "agora.bearer."


@dataclass(frozen=True)
class Token:
    name: str
    secret: bytes
    read_only: bool

    def __repr__(self) -> str:  # never the secret
        return f"Token(name={self.name!r}, read_only={self.read_only})"


def _checked(secret: str, where: str) -> bytes:
    secret = secret.strip()
    if len(secret) < MIN_LENGTH:
        raise BadParameterError(
            f"the token in {where} is shorter than {MIN_LENGTH} characters: use a long random one "
            "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if any(c.isspace() for c in secret):
        raise BadParameterError(f"the token in {where} holds whitespace: put the token alone on the first line")
    return secret.encode()


def read_token_file(path: str) -> str:
    """The token of a token file (its first non-empty line).

    Raises:
        BadParameterError: the file cannot be read or holds no token.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    return line.strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise BadParameterError(
            f"token file {path!r} cannot be read ({reason}): give a file holding the token"
        ) from None
    raise BadParameterError(f"token file {path!r} is empty: put the token on its first line")


#: The name of a token the server made itself.
GENERATED_NAME = "local"


def token_file_for(world: str) -> str:
    """Where the token made for serving ``world`` is written: ``WORLD.token`` beside it (absolute)."""
    return os.path.abspath(world) + ".token"


def generate_token_file(path: str) -> Token:
    """Make a random token and write it to ``path``, readable by its owner only (0600). The file is written
    under a temporary name and renamed over ``path``, so a link or file already there is replaced, never
    followed or written through.

    Raises:
        BadParameterError: the file cannot be written.
    """
    secret = secrets.token_urlsafe(32)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, (secret + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise BadParameterError(
            f"cannot write a token to {path!r} ({exc.strerror or exc}): give a token_file or set ${ENV_VAR}",
            fields="token_file",
        ) from None
    return Token(GENERATED_NAME, secret.encode(), False)


def remove_token_file(path: str, token: Token) -> None:
    """Remove a generated token's file, if it still holds that token (another server may have replaced it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
        try:
            held = os.read(fd, 4096) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
        finally:
            os.close(fd)
        if hmac.compare_digest(held.strip(), token.secret):
            os.unlink(path)


class Tokens:
    """The tokens an API server accepts."""

    def __init__(self, tokens: list[Token]) -> None:
        names = [t.name for t in tokens]
        if len(set(names)) != len(names):
            raise BadParameterError("two tokens have the same name: name token files differently")
        self.tokens = tokens

    @classmethod
    def from_sources(
        cls,
        token_files: Sequence[str] = (),
        read_token_files: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> Tokens:
        """The tokens of ``$AGORA_API_TOKEN`` and the given files.

        Raises:
            BadParameterError: an unreadable file, a short token, two tokens of one name, or one secret
                given twice.
        """
        environ: Mapping[str, str] = os.environ if env is None else env
        tokens: list[Token] = []
        if environ.get(ENV_VAR, "").strip():
            tokens.append(Token("env", _checked(environ[ENV_VAR], f"${ENV_VAR}"), False))
        for path, read_only in [(p, False) for p in token_files] + [(p, True) for p in read_token_files]:
            name = os.path.splitext(os.path.basename(path))[0] or "token"
            tokens.append(Token(name, _checked(read_token_file(path), f"token file {path!r}"), read_only))
        secrets = [t.secret for t in tokens]
        if len(set(secrets)) != len(secrets):
            raise BadParameterError("the same token is given twice: each token (and each read-only token) must differ")
        return cls(tokens)

    def __bool__(self) -> bool:
        return bool(self.tokens)

    def check(self, authorization: str | None) -> Token | None:
        """The token an ``Authorization: Bearer ...`` header carries, or None (missing, malformed, unknown)."""
        if not authorization:
            return None
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return None
        return self._find(given.strip().encode("utf-8", errors="replace"))

    def check_protocols(self, offered: str | None) -> Token | None:
        """The token a WebSocket handshake carries in ``Sec-WebSocket-Protocol`` as
        ``agora.bearer.<unpadded base64url>``, or None."""
        for item in (offered or "").split(","):
            item = item.strip()
            if item.startswith(WS_BEARER_PREFIX):
                encoded = item[len(WS_BEARER_PREFIX) :]
                try:
                    candidate = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
                except (binascii.Error, ValueError):
                    return None
                return self._find(candidate) if candidate else None
        return None

    def _find(self, candidate: bytes) -> Token | None:
        found = None
        for t in self.tokens:  # every token compared, in constant time each
            if hmac.compare_digest(candidate, t.secret):
                found = t
        return found
