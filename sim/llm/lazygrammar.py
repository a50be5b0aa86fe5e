"""Grammar-constrained sampling that checks the grammar once a token, not once a token of the vocabulary.

llama-cpp-python (0.3.x) samples an answer constrained to a JSON schema with a chain whose grammar sampler runs
over every token of the vocabulary before the token is drawn: for SmolLM2 (49,152 tokens) that took longer than
the model's own step (about 40 ms a token against 28 on this project's 2-core machine). :class:`LazyGrammarSampler`
does what llama.cpp's own ``common`` sampler does: it draws a token without the grammar, keeps it when the grammar
takes it (a check of one token), and only otherwise applies the grammar to the whole vocabulary and draws again.
At temperature 0 the token is the same as the grammar-first chain's (the most likely token the grammar takes);
above 0 the draw differs from it only in which tokens the truncations (top-k, top-p, min-p) keep.

This module runs inside the local model's server process (:mod:`sim.llm.local`'s launcher loads it by its path,
without importing :mod:`sim`): it imports only llama-cpp-python and numpy. :func:`install` patches
``llama_cpp.Llama._init_sampler``; where the binding lacks what it needs (another version), it patches nothing and
says so (False).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

#: The structured dtype of llama.cpp's ``llama_token_data`` (id, logit, p).
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)


class LazyGrammarSampler:
    """A sampler for ``Llama.sample`` (it calls ``.sample(ctx, idx)``): ``chain`` (llama-cpp-python's sampler chain
    without the grammar) draws, ``grammar`` (a llama.cpp grammar sampler, owned and freed here) checks."""

    def __init__(self, llama_cpp: Any, chain: Any, grammar: Any, n_vocab: int) -> None:
        self._lib = llama_cpp
        self.chain = chain  # a llama_cpp._internals.LlamaSampler: it frees its own samplers
        self.grammar = grammar
        self.n_vocab = n_vocab
        self._data = np.zeros(n_vocab, dtype=_TOKEN_DATA)
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._one = np.zeros(1, dtype=_TOKEN_DATA)
        #: Tokens drawn, and those the grammar refused (then drawn again over the whole vocabulary).
        self.drawn = 0
        self.redrawn = 0

    def _array(self, data: np.ndarray) -> Any:
        lib = self._lib
        return lib.llama_token_data_array(
            data=data.ctypes.data_as(lib.llama_token_data_p), size=len(data), selected=-1, sorted=False
        )

    def _candidates(self, ctx: Any, idx: int) -> np.ndarray:
        logits = np.ctypeslib.as_array(self._lib.llama_get_logits_ith(ctx.ctx, idx), shape=(self.n_vocab,))
        data = self._data
        data["id"] = self._ids
        data["logit"] = logits
        data["p"] = 0.0
        return data

    def _draw(self, data: np.ndarray, *, with_grammar: bool) -> int:
        arr = self._array(data)
        if with_grammar:
            self._lib.llama_sampler_apply(self.grammar, ctypes.byref(arr))
        self._lib.llama_sampler_apply(self.chain.sampler, ctypes.byref(arr))
        if arr.selected < 0:
            raise RuntimeError("the sampler chain selected no token")
        return int(arr.data[arr.selected].id)

    def _takes(self, token: int) -> bool:
        """Whether the grammar takes ``token`` now (it sets a refused candidate's logit to minus infinity)."""
        one = self._one
        one[0] = (token, 0.0, 0.0)
        arr = self._array(one)
        self._lib.llama_sampler_apply(self.grammar, ctypes.byref(arr))
        return bool(np.isfinite(arr.data[0].logit))

    def sample(self, ctx: Any, idx: int) -> int:
        """The next token at output ``idx`` of ``ctx`` (a ``llama_cpp._internals.LlamaContext``), accepted by both."""
        self.drawn += 1
        token = self._draw(self._candidates(ctx, idx), with_grammar=False)
        if not self._takes(token):
            self.redrawn += 1
            token = self._draw(self._candidates(ctx, idx), with_grammar=True)
        self._lib.llama_sampler_accept(self.chain.sampler, token)
        self._lib.llama_sampler_accept(self.grammar, token)
        return token

    def close(self) -> None:
        if self.grammar is not None:
            self._lib.llama_sampler_free(self.grammar)
            self.grammar = None
        self.chain.close()

    def __del__(self) -> None:
        self.close()


def install() -> bool:
    """Patch ``llama_cpp.Llama._init_sampler`` so that a grammar-constrained sample is drawn by a
    :class:`LazyGrammarSampler`; False (nothing patched) where the binding lacks what that needs."""
    import llama_cpp  # noqa: PLC0415 - only in the server's process
    from llama_cpp import Llama  # noqa: PLC0415

    needed = (
        "llama_sampler_init_grammar",
        "llama_sampler_apply",
        "llama_sampler_accept",
        "llama_sampler_free",
        "llama_get_logits_ith",
        "llama_token_data_array",
        "llama_token_data_p",
    )
    if not all(hasattr(llama_cpp, name) for name in needed) or not hasattr(Llama, "_init_sampler"):
        return False
    if llama_cpp.llama_token_data.__dict__.get("_fields_") is None or ctypes.sizeof(llama_cpp.llama_token_data) != 12:
        return False
    original: Any = Llama._init_sampler

    def _init_sampler(self: Any, **kwargs: Any) -> Any:  # Llama calls it with keywords only
        grammar = kwargs.get("grammar")
        if grammar is None or kwargs.get("logits_processor") is not None or kwargs.get("mirostat_mode", 0):
            return original(self, **kwargs)
        chain = original(self, **{**kwargs, "grammar": None})
        g = llama_cpp.llama_sampler_init_grammar(
            self._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not g:
            chain.close()
            return original(self, **kwargs)
        return LazyGrammarSampler(llama_cpp, chain, g, self._n_vocab)

    setattr(Llama, "_init_sampler", _init_sampler)  # noqa: B010 - a method replaced on the class
    return True
