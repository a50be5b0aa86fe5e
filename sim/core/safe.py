"""Text from agents, users, plugins, files and the LLM, made safe to show, log or export.

Such text is data: it is stored exactly as given (SQL parameters are always bound) and never parsed as
markup. What a terminal must not receive raw — control characters (C0 and C1: ESC and with it every ANSI
escape sequence, carriage return, backspace, NUL, BEL, DEL, the single-byte CSI ``\\x9b``), bidi overrides
and isolates, zero-width characters, the byte-order mark, line and paragraph separators and lone
surrogates — is shown as a visible escape in Python's notation (``\\x1b``, ``\\u202e``), so
``"\\x1b[31mred"`` appears as the nine characters ``\\x1b[31mred`` and turns nothing red. One function,
:func:`shown`, does it for the terminal UI (``tui.views.literal`` wraps it) and the command line's text
output and error messages. :func:`xml_safe` replaces what XML 1.0 cannot carry (and DEL and the C1
controls) with U+FFFD in GraphML/GEXF exports, so the files always parse.

:func:`csv_cell` guards spreadsheet users against formula injection: a text cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or their full-width forms) gets a leading ``'``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

#: What a one-line cut ends with.
ELLIPSIS = "…"

#: Characters XML 1.0 cannot carry (C0 controls but tab and line breaks, surrogates, U+FFFE/U+FFFF),
#: plus DEL and the C1 controls: allowed but "discouraged", and a terminal showing the file obeys them.
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
#: The first characters that make a spreadsheet read a cell as a formula.
_FORMULA_START = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def _escape(ch: str) -> str:
    o = ord(ch)
    if o < 0x100:
        return f"\\x{o:02x}"
    if o < 0x10000:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def _safe_char(ch: str, keep: str) -> str:
    if ch.isprintable() or ch in keep:
        return ch
    # Spaces of other widths (no-break, ideographic, ...) are harmless; everything else is escaped.
    if unicodedata.category(ch) == "Zs":
        return ch
    return _escape(ch)


def _one(s: str, limit: int | None, keep: str) -> str:
    if limit is not None and len(s) > limit:
        s = s[: limit + 1]  # never escape more than is shown (a name may be megabytes long)
    if not s.isprintable():
        s = "".join(_safe_char(ch, keep) for ch in s)
    if limit is not None and len(s) > limit:
        s = s[: max(0, limit - 1)] + ELLIPSIS
    return s


def shown(value: Any, limit: int | None = None, *, lines: bool = False) -> str:
    """``value`` as text that is safe to put on a terminal, literally.

    Args:
        value: anything (``str()`` is taken).
        limit: the most characters shown; longer text is cut and ends with ``…``. None: no limit.
        lines: keep line breaks (``\\n``; ``\\r\\n`` counts as one) and tabs, for text of several lines
            (each line then escaped on its own; ``limit`` bounds the whole). Otherwise the result is one
            line: a line break shows as ``\\x0a``.

    Returns:
        The text with control and invisible formatting characters replaced by visible escapes.
    """
    s = value if isinstance(value, str) else str(value)
    if not lines:
        return _one(s, limit, " ")
    if limit is not None and len(s) > limit:
        s = s[: limit + 1]
    out = "\n".join(_one(part, None, " \t") for part in s.replace("\r\n", "\n").split("\n"))
    if limit is not None and len(out) > limit:
        out = out[: max(0, limit - 1)] + ELLIPSIS
    return out


def xml_safe(text: str) -> str:
    """``text`` with the characters XML 1.0 cannot carry (C0 controls but tab and line breaks, surrogates,
    U+FFFE, U+FFFF), DEL and the C1 controls replaced by U+FFFD; everything else is left for the XML writer
    to escape."""
    return _XML_UNSAFE.sub("\ufffd", text)


def csv_cell(text: str) -> str:
    """A text cell for a CSV file: a leading ``'`` when the text would start a spreadsheet formula
    (``=``, ``+``, ``-``, ``@``, a tab or a carriage return, or their full-width forms); otherwise as it is."""
    return "'" + text if text and text[0] in _FORMULA_START else text


__all__ = ["ELLIPSIS", "csv_cell", "shown", "xml_safe"]
