"""Hourly activity: when agents are online.

Each agent has an activity profile (an index into :data:`PROFILES`, 24 relative weights per hour of
the simulated day) and an overall rate. The probability that an agent is online in a tick that falls
in hour ``h`` is ``min(1, rate * PROFILES[profile, h])``.
"""

from __future__ import annotations

import numpy as np

PROFILE_NAMES = (
    "early-bird",
    "nine-to-five",
    "evening",
    "night-owl",
    "lunch-breaks",
    "always-on",
    "weekend-ish",
    "commuter",
)


def _bump(centres: list[float], width: float, floor: float = 0.1) -> np.ndarray:
    hours = np.arange(24, dtype=np.float64)
    w = np.full(24, floor)
    for c in centres:
        d = np.minimum(np.abs(hours - c), 24 - np.abs(hours - c))
        w += np.exp(-0.5 * (d / width) ** 2)
    return w / w.mean()


#: (8, 24) float32: mean 1 per row, so ``rate`` is the mean online probability per tick.
PROFILES = np.stack(
    [
        _bump([7.0], 1.5),
        _bump([10.0, 15.0], 2.5),
        _bump([20.0], 2.0),
        _bump([0.5], 2.0),
        _bump([12.5], 1.0),
        _bump([12.0], 12.0, floor=1.0),
        _bump([11.0, 21.0], 3.0),
        _bump([8.0, 18.0], 1.0),
    ]
).astype(np.float32)


def draw_profiles(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw profile indices ``(n,) uint8`` and rates ``(n,) float32`` (lognormal, median 0.1)."""
    profile = rng.integers(0, len(PROFILES), size=n, dtype=np.uint8)
    rate = np.clip(rng.lognormal(mean=np.log(0.1), sigma=0.6, size=n), 0.0, 1.0).astype(np.float32)
    return profile, rate


def online_probability(profile: np.ndarray, rate: np.ndarray, hour: int) -> np.ndarray:
    """Probability of being online during ``hour`` (0..23) for every agent."""
    return np.minimum(rate * PROFILES[profile, hour % 24], np.float32(1.0))
