"""``live.run(pace=...)``: a live world from Python ticks at the pace it is given (ticks per second), or as
fast as possible with none (issue 45: a new user's notebook ran hundreds of empty ticks a second unasked)."""

from __future__ import annotations

import time

import pytest

import sim


def ticks_reach(live, tick: int, seconds: float = 60.0) -> float:
    """Seconds until ``live`` reaches ``tick`` (polled; the deadline only bounds a hang)."""
    t0 = time.monotonic()
    while live.tick < tick:
        assert time.monotonic() - t0 < seconds, f"tick {live.tick} after {seconds} s, waiting for {tick}"
        time.sleep(0.005)
    return time.monotonic() - t0


def test_live_run_ticks_at_its_pace_and_as_fast_as_possible_without(tmp_path):
    path = tmp_path / "paced.db"
    sim.new_world(str(path), agents=300, avg_degree=4, seed=1)
    with sim.open_world(str(path)).simulation(checkpoint_every=0) as live:
        assert live.run(pace=20) == {"state": "running", "tick": 0, "ticks_per_second": 20.0}
        assert live.summary()["ticks_per_second"] == 20.0
        # Six ticks at 20 a second take at least five intervals of 50 ms (unpaced: a few ms on this world);
        # a loaded machine only makes it slower.
        start = live.tick
        assert ticks_reach(live, start + 6) >= 5 / 20 * 0.8
        resumed = live.run()  # running again changes the pace: none, as fast as possible
        assert (resumed["state"], resumed["ticks_per_second"]) == ("running", None)
        assert live.summary()["ticks_per_second"] is None and live.state == "running"
        live.pause()
        assert live.state == "paused"
        for bad in (0, -1, float("nan"), float("inf"), True, "10"):
            with pytest.raises(sim.BadParameterError, match=r"^pace .* is invalid: give ticks per second above 0"):
                live.run(pace=bad)
        assert live.state == "paused"
