"""The injection of one message (``Inject``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.engine.requests.common import _frozen, _text, _topics, parse_seeds, whole
from sim.errors import BadParameterError
from sim.model.registry import PluginError, Registry
from sim.model.seeds import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, LOCAL, Limits, SeedSpec
from sim.social.dynamics import NONE


@dataclass(frozen=True, slots=True)
class Inject:
    """A message to inject and how its cascade runs (``agora run --inject``, ``POST /api/v1/messages``,
    the terminal UI's form, ``live.inject``).

    Attributes:
        text: the message, kept literally ("" when ``author`` writes it).
        model: the propagation model's name; params: its parameters, checked against its schema and typed
            (as given when the model could not be loaded: its session then fails and says why).
        seeds: the seed selection. topics: topic names. author: the writing agent's original id.
        priority: higher runs first when more sessions are queued than may run (a 32-bit integer).
        seed: the session's seed (an ensemble's run r uses ``seed + r``).
        recommender: the content recommender that puts it in feeds (None: the world's; ``"none"``: none).
    """

    text: str = ""
    model: str = "ic"
    params: Mapping[str, object] = field(default_factory=lambda: _frozen({}))
    seeds: SeedSpec = field(default_factory=lambda: SeedSpec("random", k=10))
    topics: tuple[str, ...] = ()
    author: int | None = None
    priority: int = 0
    seed: int = 0
    recommender: str | None = None

    #: The fields a request may name.
    FIELDS = ("text", "model", "params", "seeds", "topics", "author", "priority", "seed", "recommender")

    @classmethod
    def parse(cls, data: Mapping[str, object], registry: Registry | None = None, limits: Limits = LOCAL) -> Inject:
        """The injection ``data`` asks for (the keys of :attr:`FIELDS`, all optional but a text or author),
        its model, seed method and recommender known to ``registry`` (None: the built-in plugins and
        ``$AGORA_PLUGINS``).

        Raises:
            BadParameterError: an unknown field, a value of the wrong type or out of range, an unknown
                model, parameter, seed method, topic or recommender, or no text and no author: one sentence.
            PluginError: not raised; a model that cannot be loaded keeps its parameters as given.
        """
        extra = sorted(set(data) - set(cls.FIELDS))
        if extra:
            raise BadParameterError(f"unknown field {str(extra[0])[:60]!r}: the fields are {', '.join(cls.FIELDS)}")
        registry = Registry() if registry is None else registry
        text = _text(data.get("text"), limits)
        model = data.get("model", "ic")
        if isinstance(model, bool) or not isinstance(model, str):
            raise BadParameterError(
                f'model must be a model name such as "ic", got {type(model).__name__}', fields="model"
            )
        params = data.get("params")
        if params is None:
            params = {}
        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            raise BadParameterError(
                f"params must be an object of parameter names and values, got {type(params).__name__}", fields="params"
            )
        seeds = parse_seeds(data.get("seeds", "random:10"), registry, limits)
        topics = _topics(data.get("topics"))
        author = data.get("author")
        if author is not None:
            author = whole(author, "author", INT64_MIN, INT64_MAX, "an agent's original id, which fits in 64 bits")
        priority = whole(
            0 if data.get("priority") is None else data.get("priority"),
            "priority",
            INT32_MIN,
            INT32_MAX,
            "a whole number from -2,147,483,648 to 2,147,483,647",
        )
        seed = whole(
            0 if data.get("seed") is None else data.get("seed"),
            "session seed",
            0,
            INT64_MAX,
            "a whole number from 0 to 2^63 - 1",
        )
        recommender = data.get("recommender")
        if recommender is not None:
            if isinstance(recommender, bool) or not isinstance(recommender, str):
                raise BadParameterError(
                    f"recommender must be a content recommender's name, got {type(recommender).__name__}",
                    fields="recommender",
                )
            if recommender != NONE:
                registry.content_recommender(recommender)
        if not text.strip() and author is None:
            raise BadParameterError("the message has no text: write one, or name an author to write it")
        try:
            clean = registry.model(model).validate(dict(params))
        except PluginError:  # the model's code cannot be loaded: its session fails, with the traceback
            clean = dict(params)
        return cls(
            text=text,
            model=model,
            params=_frozen(clean),
            seeds=seeds,
            topics=topics,
            author=author,
            priority=priority,
            seed=seed,
            recommender=recommender,
        )

    def to_dict(self) -> dict[str, object]:
        """The request as JSON (what ``parse`` takes back)."""
        return {
            "text": self.text,
            "model": self.model,
            "params": dict(self.params),
            "seeds": str(self.seeds),
            "topics": list(self.topics),
            "author": self.author,
            "priority": self.priority,
            "seed": self.seed,
            "recommender": self.recommender,
        }
