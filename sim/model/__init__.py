"""Model layer: how a propagation model runs in a session (context, views, state, series) and the registry of plugins. Imports core, sim.errors and sim.plugin."""
