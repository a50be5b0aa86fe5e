"""Engine: the simulation loop, headless runs and sweeps, plugin authoring checks and the metrics endpoint.
Imports social, analysis, llm, store, model and core."""
