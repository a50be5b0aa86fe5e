"""Settings of the living network (``world.config["social"]``): their names, ranges and defaults, and
their validation. Here, below the store, because a world file's settings are checked when it is read."""

from __future__ import annotations

from typing import Any

from sim.errors import BadParameterError
from sim.plugin import Param

NONE = "none"

#: Settings of the living network (``world.config["social"]``), validated like plugin parameters.
SOCIAL_PARAMS: dict[str, Param] = {
    "recommender": Param(str, NONE, help="content recommender building the feeds ('none': no feeds)"),
    "friend_recommender": Param(str, NONE, help="friend recommender suggesting follows ('none': no suggestions)"),
    "feed_size": Param(int, 10, 1, 1000, "items per feed (K)"),
    "suggestions": Param(int, 10, 1, 1000, "friend suggestions per agent and tick"),
    "suggest_share": Param(float, 1.0, 0.0, 1.0, "share of online agents that look at friend suggestions each tick"),
    "accept_rate": Param(
        float, 0.05, 0.0, 1.0, "a suggestion is accepted with probability accept_rate * compatibility"
    ),
    "unfollow_trust": Param(float, 0.15, 0.0, 1.0, "followees trusted below this may be unfollowed"),
    "unfollow_rate": Param(float, 0.2, 0.0, 1.0, "chance per tick that an online agent drops a low-trust followee"),
    "fatigue_following": Param(int, 1000, 1, 10**9, "following more than this many agents tires an agent"),
    "fatigue_rate": Param(
        float, 0.05, 0.0, 1.0, "chance per tick that a tired online agent drops its least trusted followee"
    ),
    "join_rate": Param(float, 0.0, 0.0, 1.0, "share of created agents that join per tick"),
    "join_follows": Param(int, 5, 0, 1000, "agents a newcomer follows when it joins"),
    "leave_rate": Param(float, 0.0, 0.0, 1.0, "chance per tick that an active or idle agent leaves (deactivated)"),
    "idle_rate": Param(float, 0.0, 0.0, 1.0, "chance per tick that an active agent goes idle"),
    "return_rate": Param(float, 0.0, 0.0, 1.0, "chance per tick that an idle agent becomes active again"),
    "trust_gain": Param(float, 0.1, 0.0, 1.0, "an adoption along an edge moves its trust this share of the way to 1"),
    "trust_loss": Param(float, 0.02, 0.0, 1.0, "an ignored attempt moves the edge's trust this share of the way to 0"),
    "reputation_gain": Param(
        float, 0.02, 0.0, 1.0, "each adoption credited to an agent moves its reputation this share of the way to 1"
    ),
    "reputation_loss": Param(
        float, 0.001, 0.0, 1.0, "each ignored attempt moves the sender's reputation this share of the way to 0"
    ),
    "report_rate": Param(
        float, 0.02, 0.0, 1.0, "chance that an ignored message off the reader's interests is reported"
    ),
    "report_penalty": Param(
        float, 0.05, 0.0, 1.0, "each report moves the sender's reputation this share of the way to 0"
    ),
    "merge_every": Param(int, 6, 1, 10**6, "ticks between merges of follows and unfollows into the graph"),
}


def social_settings(current: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    """Validated settings: ``current`` (a world's stored settings) updated with ``changes``.

    Raises:
        BadParameterError: an unknown setting or a value out of range (named).
    """
    merged = {k: v for k, v in (current or {}).items() if k not in ("recommender_params", "friend_params")}
    merged.update(
        {k: v for k, v in changes.items() if k not in ("recommender_params", "friend_params") and v is not None}
    )
    unknown = sorted(set(merged) - set(SOCIAL_PARAMS))
    if unknown:
        raise BadParameterError(f"unknown social setting {unknown[0]!r}: the settings are {', '.join(SOCIAL_PARAMS)}")
    out = {k: (spec.coerce(k, merged[k]) if k in merged else spec.default) for k, spec in SOCIAL_PARAMS.items()}
    cur = current or {}
    for key, params in (("recommender", "recommender_params"), ("friend_recommender", "friend_params")):
        if changes.get(params) is not None:
            out[params] = dict(changes[params])
        elif out[key] == cur.get(key, NONE):
            out[params] = dict(cur.get(params) or {})
        else:  # another recommender: its own defaults, not the old one's parameters
            out[params] = {}
    return out
