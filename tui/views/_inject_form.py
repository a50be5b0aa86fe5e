"""The inject form of the Messages view: a message's text, topics, seeds, priority, model (with a form of
its parameters, checked as they are typed) and feed recommender. It builds the
:class:`~sim.engine.requests.Inject` value its fields ask for (``Inject.parse``, as the command line, the
HTTP API and Python do: the same mistake, the same sentence) and posts it in :class:`InjectForm.Submitted`;
the Messages view hands that to the app, which injects it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Input, Label, Select, Static

from sim.engine.requests import Inject
from sim.errors import AgoraError, BadParameterError
from sim.live.frontend import FORM, NONE, shown
from sim.live.views import Catalogue, WorldViews
from sim.plugin import Param

from ..protocol import AgoraHost
from ._base import literal

#: Parameter names usable as they are in a widget id (others get one by position).
_WIDGET_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
#: The inject form's recommender choice meaning "whatever the world's feed recommender is".
WORLD_DEFAULT = "__world__"


def priority_of(text: str) -> object:
    """The form's priority field as ``Inject.parse`` takes it: a whole number written in ASCII digits (empty: 0),
    else the text as typed, for the parser to refuse in its words (``int`` would read ``٣`` as 3)."""
    plain = text.strip() or "0"
    if plain.isascii():
        try:
            return int(plain)
        except ValueError:
            pass
    return plain


class InjectForm(Vertical):
    """What to inject. Every field has a label before it (the parameter rows too): what it is, not only a
    placeholder. Its snapshot is the :class:`~sim.live.views.Catalogue` of what it offers (models, content
    recommenders, seed methods)."""

    #: The label of the seed field after the seed selection: what it holds for that selection (a seed
    #: method: K, how many it chooses).
    SEED_ARG_LABELS = {"random": "count", "top": "count", "community": "community:count", "ids": "ids"}
    #: What the seed field holds when a selection is chosen (a seed method: 10).
    SEED_ARG_DEFAULTS = {"random": "10", "top": "10", "community": "0:10", "ids": ""}
    #: The fields whose enter injects (the parameters' too).
    SUBMITTING = ("msg-text", "msg-topics", "seed-arg", "msg-priority")

    catalogue: reactive[Catalogue | None] = reactive(None, init=False, repaint=False)

    class Submitted(Message):
        """The form asks for ``request``: a message's text, topics, seeds, priority, model, parameters and
        recommender, parsed."""

        def __init__(self, request: Inject) -> None:
            super().__init__()
            self.request = request

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._model_shown: str | None = None
        #: The shown model's parameters (their schema) and their inputs, by name.
        self._params: Mapping[str, Param] = {}
        self.param_inputs: dict[str, Input] = {}
        self._param_ids: dict[str, str] = {}  # widget id suffix -> parameter name
        #: The seed selection the form's field was filled for (its value is kept when the options are rebuilt).
        self._seed_kind_shown = "random"
        #: ``METHOD:K`` while a slow seed method chooses the seeds of the message being injected (None: idle).
        self.choosing: str | None = None

    @property
    def agora(self) -> AgoraHost:
        return cast(AgoraHost, self.app)

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("message", classes="field-label")
            yield Input(placeholder="message text", id="msg-text")
        with Horizontal():
            yield Label("topics", classes="field-label")
            yield Input(
                placeholder="e.g. ai, politics",
                id="msg-topics",
                tooltip="topic names, comma-separated (agora topics lists them)",
            )
            yield Label("seeds", classes="field-label")
            yield Select(
                [(k, k) for k in ("random", "top", "community", "ids")],
                value="random",
                allow_blank=False,
                id="seed-kind",
                tooltip="how the seed agents are chosen: random, top, community, ids, or a seed method "
                "(METHOD:K; a slow one chooses in the background)",
            )
            yield Label(self.SEED_ARG_LABELS["random"], id="seed-arg-label", classes="field-label")
            yield Input(
                value="10",
                placeholder="K, a,b,c or C:K",
                id="seed-arg",
                tooltip="random/top/a seed method: how many (K); ids: original ids a,b,c; "
                "community: C:K (K agents of community C)",
            )
            yield Label("priority", classes="field-label")
            yield Input(
                value="0",
                placeholder="0",
                id="msg-priority",
                tooltip="sessions with a higher priority start first when many are queued",
            )
        with Horizontal():
            yield Label("model", classes="field-label")
            yield Select([], id="model", allow_blank=True, prompt="model")
            yield Label("feeds", classes="field-label")
            yield Select(
                [(Text("feeds: world default"), WORLD_DEFAULT)],
                value=WORLD_DEFAULT,
                allow_blank=False,
                id="msg-recommender",
                tooltip="the content recommender that puts this message in feeds",
            )
            yield Button("Inject", id="inject", variant="primary")
        yield VerticalScroll(id="param-form")
        yield Static("", id="form-error", classes="param-error", markup=False)

    # -- what it offers -------------------------------------------------------------------------------------
    def fetch(self, live: WorldViews) -> None:
        """Offer what the world's registry holds now (a world opened, plugins reloaded)."""
        self.catalogue = live.plugins.catalogue()

    def watch_catalogue(self, catalogue: Catalogue | None) -> None:
        if catalogue is None:
            return
        names = list(catalogue.models)
        select = self.query_one("#model", Select)
        current = (
            select.value
            if select.value in names
            else ("ic" if "ic" in names else (names[0] if names else Select.BLANK))
        )
        select.set_options([(literal(n, 30), n) for n in names])  # a prompt given as str would be parsed as markup
        if current is not Select.BLANK:
            select.value = current
        self.build_param_form()
        self.offer_recommenders(catalogue.recommenders)
        self.offer_seed_methods(catalogue.seed_methods)

    def offer_seed_methods(self, methods: tuple[tuple[str, bool], ...]) -> None:
        """The seed selections: the four built-in forms, then every registered seed method (``METHOD:K``;
        a slow one, celf or ris, is marked and chooses in a worker when the message is injected)."""
        select = self.query_one("#seed-kind", Select)
        options: list[tuple[Any, str]] = [(k, k) for k in self.SEED_ARG_DEFAULTS]
        options += [(literal(name + (" (slow)" if slow else ""), 30), name) for name, slow in methods]
        current = select.value
        select.set_options(options)
        select.value = current if current in {v for _, v in options} else "random"

    def offer_recommenders(self, names: tuple[str, ...]) -> None:
        """The per-message recommender choice: the world's, none, or any registered content recommender."""
        select = self.query_one("#msg-recommender", Select)
        current = select.value if select.value in names or select.value == NONE else WORLD_DEFAULT
        options = [(Text("feeds: world default"), WORLD_DEFAULT), (Text("feeds: none"), NONE)]
        select.set_options(options + [(Text("feeds: ") + literal(n, 30), n) for n in names])
        select.value = current

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "model":
            self.build_param_form()
        elif event.select.id == "seed-kind" and event.value is not Select.BLANK:
            kind = str(event.value)
            if kind == self._seed_kind_shown:
                return  # the options were rebuilt: the field keeps what was typed
            self._seed_kind_shown = kind
            self.query_one("#seed-arg", Input).value = self.SEED_ARG_DEFAULTS.get(kind, "10")
            self.query_one("#seed-arg-label", Label).update(self.SEED_ARG_LABELS.get(kind, "K"))

    def build_param_form(self) -> None:
        """One row per parameter of the model chosen: its name, an input (its default; its help and range
        as a tooltip) and the input's error."""
        select = self.query_one("#model", Select)
        name = None if select.value is Select.BLANK else str(select.value)
        if name == self._model_shown:
            return
        self._model_shown = name
        form = self.query_one("#param-form", VerticalScroll)
        form.remove_children()
        self.param_inputs = {}
        self._params = {}
        live = self.agora.live
        if name is None or live is None:
            return
        try:
            self._params = live.plugins.model_params(name)
        except AgoraError as exc:
            form.mount(Static(literal(str(exc), None)))
            return
        rows = []
        self._param_ids = {}
        for j, (key, spec) in enumerate(self._params.items()):
            # A widget id must be an identifier: a parameter named otherwise gets one by position.
            suffix = key if _WIDGET_ID.fullmatch(key) else f"_{j}_"
            while suffix in self._param_ids or (suffix != key and suffix in self._params):
                suffix += "_"
            self._param_ids[suffix] = key
            plain, _, layer = key.partition("@")
            inp = Input(
                value="" if layer else shown(spec.default, 200),
                placeholder=f"as {plain}" if layer else f"default {shown(spec.default, 40)}",
                id=f"param-{suffix}",
                classes="param-input",
                tooltip=Text(shown(spec.help, 200)) if spec.help else None,
            )
            about = f"{plain} in layer {layer}; empty: as {plain}" if layer else spec.help
            inp.tooltip = literal(f"{about} ({spec.describe_range()})", 500)  # a str tooltip is markup
            self.param_inputs[key] = inp
            rows.append(
                Horizontal(
                    Label(literal(key, 20)),
                    inp,
                    Static("", classes="param-error", id=f"param-error-{suffix}", markup=False),
                    classes="param-row",
                )
            )
        if rows:
            form.mount(*rows)

    # -- typing and submitting ------------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        iid = event.input.id or ""
        if iid.startswith("param-") and self._model_shown:
            suffix = iid[len("param-") :]
            key = self._param_ids.get(suffix, suffix)
            try:
                if key not in self._params:
                    raise KeyError(key)
                if "@" not in key or event.value.strip():  # a layer's value left empty is the plain one's
                    self._params[key].coerce(key, event.value)
                msg = ""
            except (AgoraError, KeyError) as exc:
                msg = str(exc)
            self.query_one(f"#param-error-{suffix}", Static).update(literal(msg, 300))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id in self.SUBMITTING or (event.input.id or "").startswith("param-"):
            event.stop()
            self.submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "inject":
            event.stop()
            self.submit()

    def submit(self) -> None:
        """Ask for what the form says (a refusal is said under the form and as a notification)."""
        if self.choosing is not None:
            self.agora.notify(
                f"the seeds of the previous message are being chosen ({self.choosing}): inject when it is queued",
                severity="warning",
                markup=False,
            )
            return
        live = self.agora.live
        if live is None:
            return
        try:
            request = Inject.parse(self.fields(), live.controller.registry, FORM)
        except AgoraError as exc:
            self.failed(str(exc))
            return
        self.post_message(self.Submitted(request))

    def fields(self) -> dict[str, object]:
        """The request's fields as the form holds them, its texts turned into values (topics split at commas,
        the seed selection and its argument joined, the priority a whole number): ``Inject.parse`` checks
        them all, in the words every front end uses. A priority that is no number is passed as typed, for
        the parser to name; only a model not chosen is said here, as there is nothing to pass.

        Raises:
            BadParameterError: no model chosen.
        """
        model = self.query_one("#model", Select).value
        if model is Select.BLANK:
            raise BadParameterError("choose a model")
        topics = [t.strip() for t in self.query_one("#msg-topics", Input).value.split(",") if t.strip()]
        kind = str(self.query_one("#seed-kind", Select).value)
        arg = self.query_one("#seed-arg", Input).value.strip()
        priority = priority_of(self.query_one("#msg-priority", Input).value)
        choice = self.query_one("#msg-recommender", Select).value
        return {
            "text": self.query_one("#msg-text", Input).value,
            "topics": topics,
            "seeds": f"{kind}:{arg}",
            "priority": priority,
            "model": str(model),
            "params": {k: inp.value for k, inp in self.param_inputs.items() if "@" not in k or inp.value.strip()},
            "recommender": None if choice in (WORLD_DEFAULT, Select.BLANK) else str(choice),
        }

    # -- what became of it ------------------------------------------------------------------------------------
    def failed(self, text: str) -> None:
        """A refusal: under the form and as a notification; nothing is injected."""
        self.query_one("#form-error", Static).update(literal(text, 300))
        self.agora.notify(text, severity="error", markup=False)

    def injected(self, clear: bool) -> None:
        """The message was injected: the error line is emptied, and (``clear``) the message field."""
        self.query_one("#form-error", Static).update("")
        if clear:
            self.clear_text()

    def clear_text(self) -> None:
        self.query_one("#msg-text", Input).value = ""

    def set_choosing(self, choosing: str | None) -> None:
        """Show (or end) the state of a slow seed method choosing: a line under the form, the button."""
        self.choosing = choosing
        button = self.query_one("#inject", Button)
        button.disabled = choosing is not None
        button.label = "Choosing…" if choosing is not None else "Inject"
        line = self.query_one("#form-error", Static)
        line.set_class(choosing is not None, "-choosing")
        line.update(
            Text(f"choosing seeds with {choosing}… (the world runs on; the message is queued when they are chosen)")
            if choosing is not None
            else ""
        )
