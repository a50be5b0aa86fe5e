"""The injection of one message (``Inject``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sim.engine.requests.common import _frozen, _text, _topics, json_kind, parse_seeds, whole
from sim.errors import AgoraError, BadParameterError, RuleError
from sim.model.registry import PluginError, Registry
from sim.model.seeds import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, LOCAL, Limits, SeedSpec
from sim.plugin import PropagationModel
from sim.social.dynamics import NONE

#: The parameters of a model that hands some agents' decisions to a rule model (the ``llm`` model's): the rule
#: model's name, and its parameters as ``KEY=VALUE`` pairs separated by commas.
RULE, RULE_PARAMS = "rule", "rule_params"


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
            raise BadParameterError(f'model must be a model name such as "ic", not {json_kind(model)}', fields="model")
        params = data.get("params")
        if params is None:
            params = {}
        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            raise BadParameterError(
                f"params must be an object of parameter names and values, not {json_kind(params)}", fields="params"
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
                    f"recommender must be a content recommender's name, not {json_kind(recommender)}",
                    fields="recommender",
                )
            if recommender != NONE:
                registry.content_recommender(recommender)
        if not text.strip() and author is None:
            raise BadParameterError("the message has no text: write one, or name an author to write it")
        try:
            model_cls = registry.model(model)
            clean = model_cls.validate(dict(params))
        except PluginError:  # the model's code cannot be loaded: its session fails, with the traceback
            clean = dict(params)
        else:
            check_rule_model(registry, model_cls, clean)
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


def has_rule_model(model: type[PropagationModel]) -> bool:
    """Whether ``model`` hands some agents' decisions to a rule model: it declares the text parameters
    :data:`RULE` and :data:`RULE_PARAMS` (as the ``llm`` model does)."""
    params = model.params
    return all(name in params and params[name].type is str for name in (RULE, RULE_PARAMS))


def can_decide_for(rule: type[PropagationModel], model: type[PropagationModel]) -> bool:
    """Whether ``rule`` can decide for ``model``'s agents (``model``'s own check, made where its session starts):
    another model, with the two states susceptible and adopted, that seeds adopters and transmits once."""
    return (
        rule is not model
        and len(rule.states) == 2
        and tuple(rule.adopted_states) == (1,)
        and rule.transmit == "once"
        and int(rule.seed_state) == 1
        and bool(rule.progressive)
    )


def rule_models(registry: Registry, model: type[PropagationModel]) -> list[str]:
    """The models of ``registry`` that can decide for ``model``'s agents (those whose code loads), by name."""
    out = []
    for info in registry.list("model"):
        try:
            if can_decide_for(registry.model(info.name), model):
                out.append(info.name)
        except AgoraError:  # unknown now, or its code cannot be loaded
            continue
    return out


def rule_pairs(text: str) -> dict[str, str]:
    """``KEY=VALUE`` pairs separated by commas (blanks around each ignored), as a rule model takes them.

    Raises:
        BadParameterError: a pair without ``=`` or without a key.
    """
    out = {}
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise BadParameterError(
                f"rule_params {str(text)[:60]!r} is not valid: write KEY=VALUE pairs separated by commas",
                fields="params",
            )
        out[key.strip()] = value.strip()
    return out


def check_rule_model(registry: Registry, model: type[PropagationModel], params: Mapping[str, object]) -> None:
    """Refuse at the door a rule model that ``model``'s sessions could not use (:func:`has_rule_model`): its
    ``rule`` must name a model of ``registry`` that :func:`can_decide_for` its agents, and its ``rule_params``
    must be that model's parameters in its ranges. Before, ``"rule": "os"`` was taken and the session failed at
    its first tick. A rule model whose code cannot be loaded is let through: the session fails and says why.

    Raises:
        BadParameterError: ``rule`` names no model that can decide for ``model``. RuleError (422 over the API):
            ``rule_params`` that the rule model refuses (an unknown parameter, a value out of its range).
    """
    if not has_rule_model(model):
        return
    name, text = params.get(RULE), params.get(RULE_PARAMS)
    if not isinstance(name, str) or not isinstance(text, str):
        return
    try:
        rule = registry.model(name)
    except PluginError:
        return
    except BadParameterError:
        rule = None
    if rule is None or not can_decide_for(rule, model):
        fit = rule_models(registry, model)
        raise BadParameterError(
            f"parameter rule of {model.name} is {name[:40]!r}, which is no model that can decide for its agents: "
            f"use one with the two states susceptible and adopted that transmits once ({', '.join(fit) or 'none'})",
            fields="params",
        )
    pairs = rule_pairs(text)
    try:
        rule.validate(dict(pairs))
    except PluginError:  # the rule's own check crashed: the session says why
        return
    except BadParameterError as exc:
        raise RuleError(
            f"rule_params {text[:60]!r} do not suit rule model {name}: {str(exc).rstrip('.')}", fields="params"
        ) from None
