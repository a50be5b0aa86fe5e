"""Agent attributes (issue 59): columns a world holds because data gave them, with where each came from.

A world's ``attributes`` (``World.attributes``, the metadata key ``attributes``) map each attribute's name, in
order, to ``{"kind": "number" | "category", "source": "people" | "set", "header": the column's name in the
file}``. Its values are the agent column of the same name:

- a number is a float64 column ``agent.NAME``; NaN marks a missing value (an empty cell of the people table);
  a value that is infinite is refused. A number named like a built-in measurement (``susceptibility``,
  ``reputation``, ``influence``, ``activity_rate``) is that built-in column itself: measured, not drawn.
  ``infectivity`` is a number of its own: at least 0, finite, none missing.
- a category is an int32 column of codes ``agent.NAME`` (-1: missing) into its labels, which are kept as two
  arrays beside it, never in the metadata (rewritten at every checkpoint): ``label.NAME``, the labels' UTF-8
  bytes one after the other (uint8), and ``label.NAME.offsets``, where each label starts and the last ends
  (int64, one more than the labels). :class:`Labels` holds the two; :meth:`Labels.tolist` gives the texts.

Everything here is checked when a file is read (:func:`check_labels`): a damaged or forged file is refused in
one sentence, before anything reads beyond an array or decodes more than the file holds.
"""

from __future__ import annotations

import numpy as np

from sim.errors import BadFileError

#: What an attribute may be, where it may come from, and the most a world holds.
KINDS = ("number", "category")
SOURCES = ("people", "set")
MAX_ATTRIBUTES = 1000
#: The longest original column name kept (``header``), and the longest label in bytes (a people table's line
#: is at most 64 KiB: ``sim.core.boundedio``).
MAX_HEADER = 200
MAX_LABEL_BYTES = 64 * 1024
#: The attribute giving how infectious each agent is (a number of at least 0, none missing).
INFECTIVITY = "infectivity"
#: The prefix of a category's label arrays in a world file or snapshot.
LABEL_PREFIX = "label."
OFFSETS_SUFFIX = ".offsets"


class Labels:
    """The labels of a category attribute, as two arrays: ``data`` (uint8, the UTF-8 bytes of every label one
    after the other) and ``offsets`` (int64, label ``i`` is ``data[offsets[i]:offsets[i + 1]]``). The texts
    are decoded once, when first asked for (:meth:`tolist`)."""

    __slots__ = ("_texts", "data", "offsets")

    def __init__(self, data: np.ndarray, offsets: np.ndarray) -> None:
        self.data = data
        self.offsets = offsets
        self._texts: tuple[str, ...] | None = None

    @classmethod
    def of(cls, labels: list[str] | tuple[str, ...]) -> Labels:
        """The labels ``labels`` (distinct texts, in code order) as arrays.

        Raises:
            UnicodeEncodeError: a label holds a lone surrogate (not text UTF-8 can carry).
        """
        encoded = [str(x).encode("utf-8") for x in labels]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        out = cls(np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets)
        out._texts = tuple(str(x) for x in labels)
        return out

    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    def tolist(self) -> tuple[str, ...]:
        """The labels as texts, in code order (label ``i`` for code ``i``).

        Raises:
            BadFileError: two labels are the same (a damaged file: ``agora check`` names the attribute).
        """
        if self._texts is None:
            raw = self.data.tobytes()
            ends = self.offsets.tolist()
            texts = tuple(raw[a:b].decode("utf-8") for a, b in zip(ends[:-1], ends[1:]))
            if len(set(texts)) != len(texts):
                raise BadFileError("two labels of a category attribute are the same: the world is damaged")
            self._texts = texts
        return self._texts

    def codes_of(self, values: np.ndarray) -> np.ndarray:
        """The code of each text of ``values`` (a numpy array of str): -1 for an empty text (missing), -2 for
        a text that is not one of the labels. No loop over the values: a sorted search."""
        labels = np.asarray(self.tolist() or ("",), dtype=str)
        order = np.argsort(labels, kind="stable")
        values = np.asarray(values, dtype=str)
        at = np.searchsorted(labels[order], values)
        at = np.minimum(at, len(labels) - 1)
        found = labels[order][at] == values
        codes = np.where(found, order[at], -2).astype(np.int32)
        if not len(self):
            codes[:] = -2
        codes[values == ""] = -1
        return codes


def label_arrays(labels: dict[str, Labels]) -> dict[str, np.ndarray]:
    """The arrays a world file or snapshot keeps for the categories' labels, by name."""
    out: dict[str, np.ndarray] = {}
    for name, lab in labels.items():
        out[LABEL_PREFIX + name] = lab.data
        out[LABEL_PREFIX + name + OFFSETS_SUFFIX] = lab.offsets
    return out


def label_names(name: str) -> tuple[str, str]:
    """The names of the two arrays of category ``name``'s labels."""
    return LABEL_PREFIX + name, LABEL_PREFIX + name + OFFSETS_SUFFIX


def labels_from_arrays(arrays: dict[str, np.ndarray]) -> tuple[dict[str, Labels], list[str]]:
    """The labels of each category among ``arrays`` (those named ``label.*``), and the problems of names that
    do not pair (empty when every ``label.NAME`` has its ``label.NAME.offsets`` and no other ``label.*``)."""
    names = [k for k in arrays if k.startswith(LABEL_PREFIX)]
    data = {k[len(LABEL_PREFIX) :] for k in names if not k.endswith(OFFSETS_SUFFIX)}
    offsets = {k[len(LABEL_PREFIX) : -len(OFFSETS_SUFFIX)] for k in names if k.endswith(OFFSETS_SUFFIX)}
    unpaired = sorted(data ^ offsets)
    if unpaired:
        return {}, [f"the labels of attribute {unpaired[0][:70]!r} lack their bytes or their offsets"]
    return {k: Labels(arrays[LABEL_PREFIX + k], arrays[LABEL_PREFIX + k + OFFSETS_SUFFIX]) for k in sorted(data)}, []


def check_labels(name: str, labels: Labels, codes: np.ndarray, n: int) -> list[str]:
    """Problems of category ``name`` (empty when consistent): ``codes`` one int32 per agent from -1 to the
    last label; the labels at most one per agent, each 1 to :data:`MAX_LABEL_BYTES` bytes of UTF-8. Only
    array operations: nothing is decoded label by label (:meth:`Labels.tolist` checks that none repeats)."""
    data, offsets = labels.data, labels.offsets
    if codes.dtype != np.int32 or codes.shape != (n,):
        return [f"attribute {name} has dtype {codes.dtype} and shape {codes.shape}, expected int32 codes ({n},)"]
    if data.dtype != np.uint8 or data.ndim != 1 or offsets.dtype != np.int64 or offsets.ndim != 1:
        return [f"the labels of attribute {name} are not bytes and int64 offsets"]
    k = offsets.size - 1
    if not 0 <= k <= n or offsets[0] != 0 or offsets[-1] != data.size:
        return [f"the label offsets of attribute {name} do not span its {data.size:,} bytes in at most {n:,} labels"]
    sizes = np.diff(offsets)
    if k and (sizes.min() < 1 or sizes.max() > MAX_LABEL_BYTES):
        return [f"a label of attribute {name} is empty or longer than {MAX_LABEL_BYTES:,} bytes"]
    # Valid UTF-8 as a whole, and no label starts inside a character (a continuation byte 10xxxxxx): then
    # each label is valid UTF-8 on its own.
    try:
        data.tobytes().decode("utf-8")
    except UnicodeDecodeError:
        return [f"the labels of attribute {name} are not UTF-8 text"]
    if k and np.any((data[offsets[:-1]] & 0xC0) == 0x80):
        return [f"a label of attribute {name} starts inside a character"]
    if n and (int(codes.min()) < -1 or int(codes.max()) >= k):
        return [f"attribute {name} holds a code that names none of its {k:,} labels"]
    return []


__all__ = [
    "INFECTIVITY",
    "KINDS",
    "MAX_ATTRIBUTES",
    "MAX_HEADER",
    "MAX_LABEL_BYTES",
    "SOURCES",
    "Labels",
    "check_labels",
    "label_arrays",
    "label_names",
    "labels_from_arrays",
]
