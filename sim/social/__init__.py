"""Social: the living network -- feeds, follows and unfollows, trust, agent lifecycle. Imports store,
model and core.

Recommender authors import their helpers from here (``from sim.social import aggregate_pairs``)."""

from sim.social.dynamics import (  # noqa: F401 (the helpers recommender plugins use)
    FeedContext,
    FriendContext,
    aggregate_pairs,
    compatibility,
    top_k_per_group,
    top_k_per_row,
)
