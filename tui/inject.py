"""Messages injected and sessions cancelled from the UI (the Messages view's form, and its x key).

The form builds the :class:`~sim.engine.requests.Inject` value it asks for and hands it to
:meth:`Injection.submit`; the controller injects it (and audits it). Seeds named by a quick seed method are
chosen by the engine as the message is injected; a slow one (celf, ris) chooses in a worker first, while the
world runs on, and the message is then injected with the agents it chose (``ids:``)."""

from __future__ import annotations

import asyncio
from functools import partial

from sim.engine.requests import Inject, SeedChoice
from sim.errors import AgoraError
from sim.live.frontend import slow_method, with_chosen_seeds

from . import views
from .host import AppHost
from .protocol import InjectRequester


class Injection:
    """Inject what the form asks for, and cancel sessions.

    Args:
        app: the app (its controller, its selection and its workers).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app

    def submit(self, request: Inject, requester: InjectRequester) -> None:
        """Inject ``request`` (the form's); a slow seed method chooses the seeds in a worker first. A refusal
        is said to ``requester`` (under the form, and as a notification)."""
        controller = self.app.controller
        if controller is None:
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
        self.app.selected_session_id = session.id
        note = f", its seeds chosen by {chosen_by}" if chosen_by else ""
        self.app.notify(f"message {session.message_id} injected: session {session.id} queued{note}", markup=False)
        requester.injected(clear)
        return True

    async def choose_seeds(self, request: Inject, method: str, k: int, requester: InjectRequester) -> None:
        """Choose the seeds with a slow method off the event loop, as the engine would when the message is
        injected (``method_seeds`` with the model's checked parameters and the world's seed), then inject
        the message with those agents (``ids:``). A refusal or a method that fails is a notification; a
        snapshot loaded meanwhile cancels the injection."""
        controller = self.app.controller
        if controller is None:
            return
        world, registry, sim = controller.world, controller.registry, controller.sim
        what = f"{method}:{k}"
        requester.set_choosing(what)
        requester.clear_text()  # the form's values are taken: the field is free again
        self.app.notify(f"choosing {k:,} seeds with {method} for {request.model}…", markup=False)
        try:
            choice = SeedChoice.parse(
                {"method": method, "k": k, "model": request.model, "params": dict(request.params), "seed": world.seed},
                registry,
            )
            chosen = await asyncio.to_thread(
                partial(
                    views.method_seeds,  # looked up on the views' facade when choosing (see tui/views/__init__.py)
                    world,
                    registry,
                    choice,
                    sim.spread_for(request.model, choice.params),
                )
            )
        except AgoraError as exc:
            requester.set_choosing(None)
            requester.failed(f"the seeds were not chosen: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - a seed method plugin's bug: said, and the app goes on
            requester.set_choosing(None)
            requester.failed(f"seed method {method} failed: {type(exc).__name__}: {exc}")
            return
        requester.set_choosing(None)
        if self.app.controller is None or self.app.controller.world is not world:
            requester.failed(f"a snapshot replaced the world while {what} chose the seeds: inject the message again")
            return
        self.inject(with_chosen_seeds(request, world, chosen), requester, what, clear=False)

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
