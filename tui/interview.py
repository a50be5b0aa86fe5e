"""Asking an agent a question from the UI (a, in the Agents view): a modal asks for the question and shows
the answer; the LLM (or the offline generator) answers through the controller, which audits it."""

from __future__ import annotations

from typing import Any

from sim.live.frontend import Completion

from .host import AppHost
from .screens import AskScreen
from .views import literal


class Interview:
    """Interview the agent the Agents view shows (or its highlighted follower or followee).

    Args:
        app: the app (its controller, its views and screens).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app

    def ask(self) -> None:
        """Show the Agents view and ask its agent a question (a hint when no agent is shown yet)."""
        controller = self.app.controller
        if controller is None:
            return
        if self.app.views.current != "agents":
            self.app.action_view("agents")
        idx = self.app.views.agents.target_agent()
        if idx is None:
            self.app.notify(
                "find an agent first (type an id or a name in the Agents view), then press a to ask them",
                severity="warning",
                markup=False,
            )
            return
        world, llm = controller.world, controller.sim.llm
        label = f"{world.persona(idx).name} (id {int(world.columns['ids'][idx])})"

        async def ask(question: str) -> Any:
            return await controller.tools.interview(idx, question)  # audited there

        def answered(question: str, result: Completion) -> None:
            self.app.notices.log(f"tick {world.tick}: asked {label}: {question} (answered: {result.source})")
            if result.source == "offline" and llm.online:
                self.app.notify(
                    f"the LLM did not answer ({result.reason or 'unknown reason'}): the offline generator did",
                    severity="warning",
                    markup=False,
                )
            self.app.refresh_ui()

        self.app.push_screen(AskScreen(literal(label, 60).plain, ask, answered))
