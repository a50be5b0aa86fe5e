"""Model layer: how a propagation model runs in a session (seeds, context, views, state, series, the plugin
time budget) and the registry of plugins. Imports core, sim.errors and sim.plugin."""
