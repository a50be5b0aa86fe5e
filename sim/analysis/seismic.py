"""SEISMIC: the final size of a cascade from its reshare times and its resharers' follower counts (Zhao, Erdogdu,
He, Rajaraman and Leskovec 2015, "SEISMIC: A Self-Exciting Point Process Model for Predicting Tweet Popularity",
KDD), as the authors' R package ``seismic`` (version 1.1, ``R/tweetfunctions.R``) computes it.

The model: post ``i`` (the original at time 0, then every reshare) shown to its ``n_i`` followers makes new
reshares at rate ``p * n_i * phi(t - t_i)``; ``p`` is the cascade's infectiousness and ``phi`` the human reaction
time's density, constant ``c`` up to ``s0`` seconds and a power law after::

    phi(s) = c                           for 0 <= s <= s0
    phi(s) = c * (s / s0) ** -(1 + theta) for s > s0

with the package's constants ``c = 6.265725e-4`` per second, ``s0 = 300`` s, ``theta = 0.2314843`` (they make
``phi`` a density: ``c * s0 * (1 + 1/theta) = 1.0000``). Every number below follows the package:

- **Infectiousness at a cut** ``t`` (``get.infectiousness``): the reshares in a window before ``t`` weighted by a
  triangle that is 1 at ``t`` and 0 at ``t - w``, divided by the same triangle's integral of the exposure
  ``sum_i n_i phi(s - t_i)``. The window is ``w = t/2`` clipped to ``[min_window, max_window]`` (300 s, 2 h);
  when it holds fewer than ``min_count`` (5) posts (the original counted), it is stretched back to the
  ``min_count + 1``-th latest post before ``t`` (or to the original post when there are fewer). The package's
  approximate 95 % interval is ``p * qchisq(0.05 | 0.95, 2k) / 2k`` for ``k`` reshares in the window. It has no
  prior: a cut with no weighted reshare in its window has ``p = 0`` (and interval 0, 0).
- **The final size** (``pred.cascade``): the reshares so far (posts at or before ``t``, the original left out),
  plus the expected direct reshares still to come from the posts so far, ``p * sum_i n_i (1 - Phi(t - t_i))``
  (``Phi`` the kernel's distribution function), multiplied by ``1 / (1 - p * n_star)``, the mean size of the
  subcritical branching process each of them starts (``n_star``: a new resharer's mean follower count, 100 by
  default). The package returns infinity when ``p > 1/n_star``; here ``p * n_star >= 1`` (where the package's
  division by ``1 - p * n_star`` gives infinity or a negative size) returns infinity.

The paper also scales the second term by factors fitted on a training set of cascades per cut (its section 4.3;
``pred.cascade(..., features.return = TRUE)`` returns what they are fitted on); the package's own prediction, which
is this module's, uses none. Times are seconds since the original post; a prediction counts reshares, not the
original post.

The window's triangle times the kernel is integrated in closed form, per post, in one numpy pass: no loop over
posts, so a cut costs O(number of posts before it).
"""

from __future__ import annotations

import math
from typing import NamedTuple, TypedDict, Unpack

import numpy as np
from numpy.typing import ArrayLike

from sim.core.numbers import float_of
from sim.errors import BadParameterError

#: The kernel's constant density before ``S0``, per second (the package's ``c = 0.0006265725``).
C = 6.265725e-4
#: Where the kernel turns from constant to a power law, in seconds (the package's ``cutoff = 300``).
S0 = 300.0
#: The power law's exponent beyond 1: ``phi(s) ~ s ** -(1 + THETA)`` (the package's ``theta = 0.2314843``).
THETA = 0.2314843
#: A new resharer's mean follower count, the package's default ``n.star = 100``.
N_STAR = 100.0
#: The infectiousness window's shortest span, in seconds (``min.window = 300``).
MIN_WINDOW = 300.0
#: Its longest span, in seconds (``max.window = 2 * 60 * 60``).
MAX_WINDOW = 7200.0
#: The fewest posts a window holds before it is stretched back (``min.count = 5``).
MIN_COUNT = 5


class Kernel(NamedTuple):
    """The memory kernel ``phi``'s constants (the package's defaults unless given)."""

    c: float = C
    s0: float = S0
    theta: float = THETA


KERNEL = Kernel()


class Estimate(NamedTuple):
    """SEISMIC at one cut: the prediction with the infectiousness behind it.

    ``size`` is the predicted final number of reshares (the original post not counted), ``size_low`` and
    ``size_high`` the same prediction at ``p_low`` and ``p_up`` (``inf`` where supercritical); ``observed`` the
    reshares at or before the cut; ``numerator`` the expected direct reshares still to come
    (``pred.cascade``'s feature ``numerator``), so ``size = observed + numerator / (1 - p * n_star)``.
    """

    size: float
    size_low: float
    size_high: float
    p: float
    p_up: float
    p_low: float
    observed: int
    numerator: float
    window: float


def kernel_density(s: ArrayLike, kernel: Kernel = KERNEL) -> np.ndarray:
    """``phi(s)``: the kernel's density at ``s`` seconds (0 before 0)."""
    s = np.asarray(s, dtype=np.float64)
    c, s0, theta = kernel
    tail = c * (np.maximum(s, s0) / s0) ** (-(1.0 + theta))
    return np.where(s < 0, 0.0, np.where(s <= s0, c, tail))


def kernel_ccdf(s: ArrayLike, kernel: Kernel = KERNEL) -> np.ndarray:
    """``1 - Phi(s)``, the package's ``memory.ccdf``: ``1 - c s`` up to ``s0``, ``c s0^(1+theta) s^-theta / theta``
    after (1 before 0)."""
    s = np.maximum(np.asarray(s, dtype=np.float64), 0.0)
    c, s0, theta = kernel
    tail = c * s0 ** (1.0 + theta) / theta * np.maximum(s, s0) ** (-theta)
    return np.where(s <= s0, 1.0 - c * s, tail)


def kernel_integral(a: ArrayLike, b: ArrayLike, kernel: Kernel = KERNEL) -> tuple[np.ndarray, np.ndarray]:
    """``(int_a^b phi(s) ds, int_a^b s phi(s) ds)`` for ``0 <= a <= b``, elementwise, in closed form.

    Up to ``s0``: ``c (b - a)`` and ``c (b^2 - a^2) / 2``; beyond it ``c s0^(1+theta)`` times
    ``(a^-theta - b^-theta) / theta`` and ``(b^(1-theta) - a^(1-theta)) / (1 - theta)`` (each written with
    ``expm1`` of the log-ratio, so a short interval far out keeps its digits).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    c, s0, theta = kernel
    a1, b1 = np.minimum(a, s0), np.minimum(b, s0)
    flat0 = c * (b1 - a1)
    flat1 = c * (b1 * b1 - a1 * a1) / 2.0
    a2, b2 = np.maximum(a, s0), np.maximum(b, s0)
    ratio = np.log(b2 / a2)
    scale = c * s0 ** (1.0 + theta)
    tail0 = scale * a2 ** (-theta) * -np.expm1(-theta * ratio) / theta
    tail1 = scale * a2 ** (1.0 - theta) * np.expm1((1.0 - theta) * ratio) / (1.0 - theta)
    return flat0 + tail0, flat1 + tail1


def window_integral(age: ArrayLike, window: float, kernel: Kernel = KERNEL) -> np.ndarray:
    """The exposure a post of age ``age`` (the cut minus its time) adds in a window of ``window`` seconds before
    the cut: ``int phi(s) (1 - (age - s) / window) ds`` over ``s`` from ``max(0, age - window)`` to ``age``, the
    triangle being 1 at the cut and 0 at the window's start (the package's ``integral.memory.kernel`` with
    ``slope = 1/window``; 0 for a post at or after the cut)."""
    age = np.maximum(np.asarray(age, dtype=np.float64), 0.0)
    i0, i1 = kernel_integral(np.maximum(age - window, 0.0), age, kernel)
    return ((window - age) * i0 + i1) / window


def _texts(values: ArrayLike) -> bool:
    """Whether ``values`` hold text (numpy reads every script's digits in it as numbers: ``"٣"`` as 3)."""
    raw = np.asarray(values)
    return raw.dtype.kind in "US" or (raw.dtype.kind == "O" and any(isinstance(x, str) for x in raw.ravel()))


def _checked(times: ArrayLike, followers: ArrayLike, at: float) -> tuple[np.ndarray, np.ndarray, float]:
    try:
        if _texts(times) or _texts(followers):
            raise ValueError("text")
        t = np.asarray(times, dtype=np.float64)
        n = np.asarray(followers, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadParameterError("SEISMIC's reshare times and follower counts must be numbers") from None
    if t.ndim != 1 or t.size == 0:
        raise BadParameterError("SEISMIC needs the reshare times as one list, the original post's time 0 first")
    if n.shape != t.shape:
        raise BadParameterError(
            f"SEISMIC needs one follower count per post: {t.size} times but {n.size} follower counts were given"
        )
    if not np.all(np.isfinite(t)) or t[0] != 0.0 or np.any(t < 0):
        raise BadParameterError(
            "SEISMIC's reshare times are seconds since the original post: give finite times from 0, the original "
            "post's 0 first"
        )
    if np.any(np.diff(t) < 0):
        raise BadParameterError("SEISMIC's reshare times must be sorted: give them in ascending order")
    if not np.all(np.isfinite(n)) or np.any(n < 0):
        raise BadParameterError(
            "SEISMIC needs every post's follower count, a number from 0: a count is missing or negative"
        )
    try:
        cut = float_of(at) if isinstance(at, str) else float(at)
    except (TypeError, ValueError):
        raise BadParameterError(f"SEISMIC's cut must be a number of seconds, not {at!r}") from None
    if not math.isfinite(cut) or cut < 0:
        raise BadParameterError(
            f"SEISMIC's cut {at!r} is before the original post (time 0): give a time in seconds from 0"
        )
    return t, n, cut


class Options(TypedDict, total=False):
    """The options of :func:`infectiousness`, :func:`estimate` and :func:`predict`, every one optional: the
    infectiousness window's shortest and longest spans in seconds (``min_window``, ``max_window``; default
    :data:`MIN_WINDOW`, :data:`MAX_WINDOW`), the fewest posts it holds before it is stretched back (``min_count``,
    :data:`MIN_COUNT`), and the memory kernel's constants (``kernel``, :data:`KERNEL`)."""

    min_window: float
    max_window: float
    min_count: int
    kernel: Kernel


class _Settings(NamedTuple):
    """:class:`Options` with the defaults filled in, checked."""

    min_window: float
    max_window: float
    min_count: int
    kernel: Kernel


def _settings(options: Options) -> _Settings:
    unknown = sorted(set(options) - set(Options.__annotations__))
    if unknown:  # what Python says of an unknown keyword argument
        raise TypeError(f"got an unexpected keyword argument {unknown[0]!r}")
    min_window = options.get("min_window", MIN_WINDOW)
    max_window = options.get("max_window", MAX_WINDOW)
    min_count = options.get("min_count", MIN_COUNT)
    kernel = options.get("kernel", KERNEL)
    if not (0 < min_window <= max_window < math.inf):
        raise BadParameterError(
            f"SEISMIC's windows must satisfy 0 < min_window <= max_window, not {min_window} and {max_window}"
        )
    if int(min_count) != min_count or min_count < 0:
        raise BadParameterError(f"SEISMIC's min_count must be a whole number from 0, not {min_count}")
    c, s0, theta = kernel
    if not (c > 0 and s0 > 0 and 0 < theta < 1):
        raise BadParameterError(
            f"SEISMIC's kernel needs c > 0, s0 > 0 and 0 < theta < 1, not c={c}, s0={s0}, theta={theta}"
        )
    return _Settings(min_window, max_window, int(min_count), kernel)


def _window(t: np.ndarray, cut: float, settings: _Settings) -> tuple[int, float]:
    """The number of posts before the cut and the window's span (``get.infectiousness``'s ``windows[j]``)."""
    min_window, max_window, min_count, _ = settings
    before = int(np.searchsorted(t, cut, side="left"))
    window = min(max(cut / 2.0, min_window), max_window)
    inside = before - int(np.searchsorted(t, cut - window, side="left"))
    if before and inside < min_count:
        # Back to the (min_count + 1)-th latest post before the cut: it lies on the triangle's zero, so min_count
        # posts carry weight (the package's ind2[max(lcv - min.count, 1)], counted from 1).
        window = cut - float(t[max(before - min_count - 1, 0)])
    return before, window


def _infectiousness(t: np.ndarray, n: np.ndarray, cut: float, settings: _Settings) -> tuple[float, float, float, float]:
    before, window = _window(t, cut, settings)
    if before == 0:  # nothing before the cut (a cut at 0): the package's weighted count is 0
        return 0.0, 0.0, 0.0, window
    slope = 1.0 / window
    reshares = t[1:before]
    inside = reshares[reshares >= cut - window]  # the package's test, so a post on the window's edge counts alike
    weighted = float(np.sum(slope * (inside - cut) + 1.0))
    if weighted == 0.0:
        return 0.0, 0.0, 0.0, window
    exposure = float(np.dot(n[:before], window_integral(cut - t[:before], window, settings.kernel)))
    if exposure == 0.0:  # reshares seen by nobody: the package divides by 0
        return math.inf, math.inf, math.inf, window
    p = weighted / exposure
    k = inside.size
    from scipy import special  # noqa: PLC0415 - heavy to import, needed only here

    # qchisq(q, 2k) / 2k = gammaincinv(k, q) / k.
    low = p * float(special.gammaincinv(k, 0.05)) / k
    up = p * float(special.gammaincinv(k, 0.95)) / k
    return p, up, low, window


def infectiousness(
    times: ArrayLike, followers: ArrayLike, at: float, **options: Unpack[Options]
) -> tuple[float, float, float]:
    """The cascade's infectiousness at the cut ``at``, as ``get.infectiousness`` estimates it.

    Args:
        times: each post's time in seconds since the original post, ascending, the original's 0 first.
        followers: each post's author's follower count (the original poster's first).
        at: the cut, in seconds since the original post; posts at or after it are not used.
        options: the window's bounds and the posts it holds before it is stretched, the memory kernel's
            constants (:class:`Options`: ``min_window``, ``max_window``, ``min_count``, ``kernel``).

    Returns:
        ``(p_t, p_up, p_low)``: the estimate and the package's approximate 95 % interval.

    Raises:
        BadParameterError: times not a sorted list from 0, a follower count missing or negative, a cut before 0,
            or options out of range.
    """
    t, n, cut = _checked(times, followers, at)
    p, up, low, _ = _infectiousness(t, n, cut, _settings(options))
    return p, up, low


def _size(observed: int, numerator: float, p: float, n_star: float) -> float:
    if p * n_star >= 1.0 or math.isinf(p):
        return math.inf
    return observed + numerator / (1.0 - p * n_star)


def estimate(
    times: ArrayLike, followers: ArrayLike, at: float, n_star: float = N_STAR, **options: Unpack[Options]
) -> Estimate:
    """SEISMIC at the cut ``at``: the predicted final size with the infectiousness and the terms behind it
    (arguments as :func:`predict`'s). The prediction is ``pred.cascade``'s at ``p.time = at``."""
    t, n, cut = _checked(times, followers, at)
    settings = _settings(options)
    if not (0 < n_star < math.inf):
        raise BadParameterError(f"SEISMIC's n_star (a resharer's mean follower count) must be above 0, not {n_star}")
    p, up, low, window = _infectiousness(t, n, cut, settings)
    known = int(np.searchsorted(t, cut, side="right"))  # posts at or before the cut (pred.cascade's <=)
    remaining = float(np.dot(n[:known], kernel_ccdf(cut - t[:known], settings.kernel)))
    observed = known - 1

    def term(rate: float) -> float:  # p * remaining, 0 where either is (an infinite p over no follower: 0, not NaN)
        return rate * remaining if rate > 0 and remaining > 0 else 0.0

    numerator = term(p)
    return Estimate(
        size=_size(observed, numerator, p, n_star),
        size_low=_size(observed, term(low), low, n_star),
        size_high=_size(observed, term(up), up, n_star),
        p=p,
        p_up=up,
        p_low=low,
        observed=observed,
        numerator=numerator,
        window=window,
    )


def predict(
    times: ArrayLike, followers: ArrayLike, at: float, n_star: float = N_STAR, **options: Unpack[Options]
) -> float:
    """SEISMIC's predicted final number of reshares (the original post not counted), from the posts up to ``at``.

    Args:
        times, followers: as :func:`infectiousness`'s.
        at: the cut, in seconds since the original post.
        n_star: a new resharer's mean follower count (the package's ``n.star``).
        options: as :func:`infectiousness`'s (:class:`Options`).

    Returns:
        ``observed + p * sum_i n_i (1 - Phi(at - t_i)) / (1 - p * n_star)``; ``inf`` when ``p * n_star >= 1``.

    Raises:
        BadParameterError: as :func:`infectiousness`, or ``n_star`` not above 0.
    """
    return estimate(times, followers, at, n_star, **options).size


def draw_delays(rng: np.random.Generator, size: int, kernel: Kernel = KERNEL) -> np.ndarray:
    """``size`` reaction times (seconds) drawn from the kernel's density ``phi`` by inverting its distribution
    function: uniform on ``[0, s0]`` with probability ``c * s0``, else ``s0 * (u / (c s0 / theta)) ** (-1/theta)``
    for ``u`` uniform below ``c s0 / theta`` (a Pareto tail: its mean is infinite for ``theta < 1``). The kernel is
    normalised first (``c`` rescaled so that ``c s0 (1 + 1/theta) = 1``; the package's constants are 1.00000
    already)."""
    c, s0, theta = kernel
    c = c / (c * s0 * (1.0 + 1.0 / theta))
    u = 1.0 - rng.random(size)  # in (0, 1]: the survival probability to invert
    flat = u > c * s0 / theta
    out = np.empty(size, dtype=np.float64)
    out[flat] = (1.0 - u[flat]) / c
    out[~flat] = s0 * (u[~flat] / (c * s0 / theta)) ** (-1.0 / theta)
    return out


def tree_times(
    parents: ArrayLike, generation: ArrayLike, rng: np.random.Generator, kernel: Kernel = KERNEL
) -> np.ndarray:
    """Times (seconds) for the nodes of a diffusion tree: each root at 0, each other node its parent's time plus
    a delay drawn from the kernel (:func:`draw_delays`, one per node in the given order). ``parents`` holds each
    node's parent as a position in the same arrays (-1 for a root) and ``generation`` its depth; one numpy step
    per generation, none per node."""
    parent = np.asarray(parents, dtype=np.int64)
    depth = np.asarray(generation, dtype=np.int64)
    delays = draw_delays(rng, parent.size, kernel)
    times = np.zeros(parent.size, dtype=np.float64)
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(int(depth.max(initial=0)) + 2))
    for g in range(1, bounds.size - 1):
        level = order[bounds[g] : bounds[g + 1]]
        times[level] = times[parent[level]] + delays[level]
    return times
