"""Messages injected and sessions cancelled from the UI (the Messages view's form, and its x key).

The form builds the :class:`~sim.engine.requests.Inject` value it asks for and hands it to
:meth:`Injection.submit`; the controller injects it (and audits it). Seeds named by a quick seed method are
chosen by the engine as the message is injected; a slow one (celf, ris) goes the controller's own way
(:meth:`~sim.live.controller.WorldController.inject`, as the API's injections do): its seeds are chosen in a
worker thread with the world's ticks held (the UI goes on answering), and the message is injected with the
agents they chose before any tick or snapshot load comes between."""

from __future__ import annotations

from sim.engine.requests import Inject
from sim.errors import AgoraError
from sim.live.frontend import slow_method

from .host import AppHost
from .protocol import InjectRequester

#: The ticks the inject form's LLM cost estimate looks ahead (a live world has no horizon of its own).
ESTIMATE_TICKS = 10


class Injection:
    """Inject what the form asks for, and cancel sessions.

    Args:
        app: the app (its controller, its selection and its workers).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app

    def submit(self, request: Inject, requester: InjectRequester, *, estimated: bool = False) -> None:
        """Inject ``request`` (the form's); a slow seed method chooses the seeds in a worker first, and a message
        whose agents ask an online LLM has its cost estimated first (:meth:`estimate_first`). A refusal is said
        to ``requester`` (under the form, and as a notification)."""
        controller = self.app.controller
        if controller is None:
            return
        if not estimated and controller.tools.asks_the_llm(request):
            self.app.run_worker(self.estimate_first(request, requester), group="estimate", exclusive=True)
            return
        try:
            method = slow_method(request, controller.registry)
            if method is not None:
                request.seeds.check(controller.world)  # more seeds than agents: said now, not after minutes
        except AgoraError as exc:
            requester.failed(str(exc))
            return
        if method is not None:
            self.app.run_worker(
                self.choose_seeds(request, method, request.seeds.k, requester), group="seeds", exclusive=True
            )
            return
        self.inject(request, requester, str(request.seeds) if request.seeds.kind == "method" else None)

    async def estimate_first(self, request: Inject, requester: InjectRequester) -> None:
        """Say what ``request``'s LLM agents will cost over the next :data:`ESTIMATE_TICKS` ticks (a dry run on a
        copy of the world, with the world's ticks held meanwhile), then inject it as :meth:`submit` does. An
        estimate that cannot be made is said, and the message is injected all the same."""
        controller = self.app.controller
        if controller is None:
            return
        try:
            estimate = await controller.tools.estimate(request, steps=ESTIMATE_TICKS)
        except AgoraError as exc:
            self.app.notify(f"no LLM cost estimate: {exc}", severity="warning", markup=False)
        else:
            self.app.notify(f"{estimate.line()}, over the next {ESTIMATE_TICKS} ticks", markup=False)
        self.submit(request, requester, estimated=True)

    def inject(
        self, request: Inject, requester: InjectRequester, chosen_by: str | None = None, *, clear: bool = True
    ) -> bool:
        """Inject ``request`` through the controller and select its session; ``chosen_by`` names the seed
        method that chose the seeds (said in the notification); ``clear`` empties the message field (a slow
        method's message left it when its seeds began to be chosen)."""
        controller = self.app.controller
        if controller is None:
            return False
        try:
            # Queued at once (the controller's inject_now); the simulation records it in the audit log.
            session = controller.inject_now(request)
        except AgoraError as exc:
            requester.failed(str(exc))
            return False
        self.injected(session.id, session.message_id, requester, chosen_by, clear=clear)
        return True

    def injected(
        self, session: int, message: int, requester: InjectRequester, chosen_by: str | None, *, clear: bool
    ) -> None:
        """Select the new session and say it is queued (``chosen_by``: the seed method that chose its seeds)."""
        self.app.selected_session_id = session
        note = f", its seeds chosen by {chosen_by}" if chosen_by else ""
        self.app.notify(f"message {message} injected: session {session} queued{note}", markup=False)
        requester.injected(clear)

    async def choose_seeds(self, request: Inject, method: str, k: int, requester: InjectRequester) -> None:
        """Inject ``request``, whose seeds a slow method chooses, through the controller's locked path
        (:meth:`~sim.live.controller.WorldController.inject`: the method runs in a worker thread holding the
        simulation's lock, so no tick changes the graph it reads and no snapshot replaces the world before the
        message is injected with the agents it chose). The form says the seeds are being chosen meanwhile; a
        refusal or a method that fails is a notification."""
        controller = self.app.controller
        if controller is None:
            return
        what = f"{method}:{k}"
        requester.set_choosing(what)
        requester.clear_text()  # the form's values are taken: the field is free again
        self.app.notify(f"choosing {k:,} seeds with {method} for {request.model}…", markup=False)
        try:
            session = await controller.inject(request)
        except AgoraError as exc:
            requester.set_choosing(None)
            requester.failed(f"the message was not injected: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - a seed method plugin's bug: said, and the app goes on
            requester.set_choosing(None)
            requester.failed(f"seed method {method} failed: {type(exc).__name__}: {exc}")
            return
        requester.set_choosing(None)
        self.injected(session.id, session.message_id, requester, what, clear=False)

    def cancel(self, session_id: int) -> None:
        """Cancel a queued or running session (recorded in the audit log), and say what it is now."""
        controller = self.app.controller
        if controller is None:
            return
        try:
            session = controller.cancel(session_id)
        except AgoraError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return
        self.app.notify(f"session {session.id} is {session.status}", markup=False)
