"""The world's two recommender roles as the UI names them, and the keys of ``sim.social.errors``."""

from __future__ import annotations

#: role -> (setting in ``sim.social.settings``, registry kind, words for notifications).
RECOMMENDER_ROLES = {
    "feed": ("recommender", "recommender", "feed recommender"),
    "friend": ("friend_recommender", "friend-recommender", "friend recommender"),
}
FRIEND_PREFIX = "friend:"


def error_key(kind: str, name: str) -> str:
    """The key under which ``sim.social.errors`` keeps a failed recommender of ``kind`` (a registry kind)."""
    return f"{FRIEND_PREFIX}{name}" if kind == "friend-recommender" else name


def recommender_label(key: str) -> str:
    """Words for a key of ``sim.social.errors`` or a RecommenderFailed event's name."""
    if key.startswith(FRIEND_PREFIX):
        return f"friend recommender {key[len(FRIEND_PREFIX) :]}"
    return f"content recommender {key}"
