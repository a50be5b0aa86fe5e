"""The batched kernels compare a draw with a probability in integers (``sim.runs.kernels._below``): the same
decision as numpy's ``Generator.random() < p`` for every output word, including probabilities that are
exact multiples of 2**-53 and the words either side of them."""

from __future__ import annotations

import numpy as np
import pytest

from sim.runs.kernels import kernel_below


def _decisions(p: float, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    k = words >> np.uint64(11)
    as_numpy = k.astype(np.float64) * (1.0 / 9007199254740992.0) < p  # numpy's next_double, then u < p
    return as_numpy, k < kernel_below(p)


@pytest.mark.parametrize("p", [0.0, -0.5, 1.0, 1.5, 0.5, 0.05, 0.15, 1e-300, 5e-324, 0.999999999, float("nan")])
def test_the_integer_threshold_decides_as_the_double(p):
    rng = np.random.default_rng(7)
    words = rng.integers(0, 2**64, size=200_000, dtype=np.uint64, endpoint=False)
    words[:4] = [0, 2**64 - 1, 1 << 11, (2**53 - 1) << 11]
    as_numpy, as_kernel = _decisions(p, words)
    assert np.array_equal(as_numpy, as_kernel)


def test_the_words_either_side_of_an_exact_threshold():
    """p = t * 2**-53 exactly: the word of k = t - 1 is below it, k = t is not."""
    for t in (1, 2, 3, 2**20 + 7, 2**52, 2**53 - 1):
        p = t / 9007199254740992.0
        ks = np.array([t - 1, t, t + 1], dtype=np.uint64) if t + 1 < 2**53 else np.array([t - 1, t], dtype=np.uint64)
        as_numpy, as_kernel = _decisions(p, ks << np.uint64(11))
        assert as_kernel.tolist()[:2] == [True, False]
        assert np.array_equal(as_numpy, as_kernel)
    # and p a hair above an exact multiple: the word at the multiple is below it
    p = np.nextafter(3 / 9007199254740992.0, 1.0)
    as_numpy, as_kernel = _decisions(float(p), np.array([3, 4], dtype=np.uint64) << np.uint64(11))
    assert as_kernel.tolist() == [True, False] and np.array_equal(as_numpy, as_kernel)
