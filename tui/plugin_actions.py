"""The plugins from the UI: user plugins reloaded without a restart (r, the palette), and the world's feed
and friend recommenders chosen (f and w in the Plugins view, the palette's entries)."""

from __future__ import annotations

from sim.errors import AgoraError
from sim.live.frontend import NONE

from .host import AppHost
from .recommenders import RECOMMENDER_ROLES


class PluginActions:
    """Reload plugins; set the world's recommenders.

    Args:
        app: the app (its controller, its views and notifications).
    """

    def __init__(self, app: AppHost) -> None:
        self.app = app

    def reload(self) -> None:
        """Import the user's plugins again (audited), and say how many failed."""
        controller = self.app.controller
        if controller is None:
            return
        failures = controller.tools.reload_plugins()  # audited there
        self.app.views.messages.reload_models()
        self.app.views.plugins.refresh_view()
        if failures:
            self.app.notify(
                f"plugins reloaded; {len(failures)} failed to load (see the Plugins view)",
                severity="warning",
                markup=False,
            )
        else:
            self.app.notify("plugins reloaded", markup=False)

    async def set_recommender(self, role: str, name: str) -> bool:
        """Make ``name`` (or ``"none"``) the world's feed or friend recommender, keep the choice in
        ``world.config["social"]`` and confirm with a notification; an error is a notification too.

        Args:
            role: ``"feed"`` (the content recommender building the feeds) or ``"friend"``.
            name: a registered recommender of that kind, or ``"none"`` to turn it off.

        Returns:
            Whether the setting changed.
        """
        controller = self.app.controller
        if controller is None:
            return False
        setting, _kind, words = RECOMMENDER_ROLES[role]
        try:
            before, after = await controller.tools.configure_social(setting, name)  # audited there
        except AgoraError as exc:
            self.app.notify(str(exc), severity="error", markup=False)
            return False
        except Exception as exc:  # noqa: BLE001 - a plugin's constructor raised: settings are unchanged
            self.app.notify(
                f"{words} {name} could not start: {type(exc).__name__}: {exc}", severity="error", markup=False
            )
            return False
        text = (
            f"{words}: off (was {before})"
            if after == NONE
            else f"{words}: {after}" + (f" (was {before})" if before != after else "")
        )
        self.app.notify(text, markup=False)
        self.app.notices.log(f"tick {controller.world.tick}: {text}")
        self.app.refresh_ui()
        return True

    def use_highlighted(self, role: str) -> None:
        """Show the Plugins view and apply its highlighted recommender to ``role`` (the f / w keys)."""
        if self.app.controller is None:
            return
        self.app.action_view("plugins")
        self.app.run_worker(self.app.views.plugins.use_highlighted(role))
