"""A choice of seeds by a seed method (``SeedChoice``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from sim.engine.requests.common import _frozen, _settings
from sim.errors import BadParameterError
from sim.model.registry import Registry


@dataclass(frozen=True, slots=True)
class SeedChoice:
    """``k`` seeds chosen by a seed method for a model (``agora seeds``, ``sim.choose_seeds``, a ``METHOD:K``
    selection): the same world, method, k, model, parameters and ``seed`` give the same agents.

    Attributes:
        method: the seed method's name; k: how many seeds.
        model, params: the propagation model the seeds are for, and its typed parameters.
        method_params: the method's own typed parameters (``celf``'s ``mc_runs``, ``ris``'s ``epsilon``...).
        seed: the choice draws from ``seed`` plus :data:`sim.engine.seeding.CHOICE_SEED_OFFSET`.
    """

    method: str
    k: int
    model: str = "ic"
    params: Mapping[str, object] = field(default_factory=lambda: _frozen({}))
    method_params: Mapping[str, object] = field(default_factory=lambda: _frozen({}))
    seed: int = 0

    FIELDS = ("method", "k", "model", "params", "method_params", "seed")

    @classmethod
    def parse(cls, data: Mapping[str, object], registry: Registry | None = None) -> SeedChoice:
        """The choice ``data`` asks for, its method and model known to ``registry`` (None: the built-in plugins
        and ``$AGORA_PLUGINS``). What needs the world (k no more than its eligible agents) is checked when the
        seeds are chosen.

        Raises:
            BadParameterError: an unknown field, method or model, a bad parameter, k or seed that is not a
                whole number, a method not derived for the model: one sentence.
        """
        extra = sorted(set(data) - set(cls.FIELDS))
        if extra:
            raise BadParameterError(f"unknown field {str(extra[0])[:60]!r}: the fields are {', '.join(cls.FIELDS)}")
        registry = Registry() if registry is None else registry
        method, model = data.get("method"), data.get("model", "ic")
        if not isinstance(method, str) or not isinstance(model, str):
            raise BadParameterError(
                f"method and model must be names (strings), got {type(method).__name__} and {type(model).__name__}",
                fields=("method", "model"),
            )
        k, seed = data.get("k"), data.get("seed", 0)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise BadParameterError(f"k must be a whole number, got {k!r}", fields="k")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise BadParameterError(f"seed must be a whole number of at least 0, got {seed!r}", fields="seed")
        params = _settings(data.get("params"), "params")
        clean = registry.model(model).validate(dict(params))
        seeder = registry.seeder(method)
        if seeder.models and model not in seeder.models:
            raise BadParameterError(
                f"seed method {method} is derived for {', '.join(seeder.models)}, not {model!r}: "
                "choose another method, or a model it is derived for",
            )
        chosen = seeder.validate(dict(_settings(data.get("method_params"), "method_params")))
        return cls(method, int(k), model, _frozen(clean), _frozen(chosen), int(seed))
