"""A value as the command line spells it (``--param p=0.05``, ``--grid q=true,false``): what the CLI prints
and what ``agora plugins check`` quotes, so a value shown can be typed back."""

from __future__ import annotations


def spelled(value: object) -> str:
    """``True`` -> ``true``, ``0.05`` -> ``0.05`` (shortest ``g`` form), anything else ``str()``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
