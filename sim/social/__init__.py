"""Social: the living network -- feeds, follows and unfollows, trust, agent lifecycle. Imports store,
model and core.

The helpers recommender plugins use are in the plugin contract (``from sim.plugin import aggregate_pairs``)."""

from sim.plugin import aggregate_pairs  # noqa: F401 (re-exported for code written before it moved to sim.plugin)
from sim.social.dynamics import (  # noqa: F401
    FeedContext,
    FriendContext,
    compatibility,
    top_k_per_group,
    top_k_per_row,
)
