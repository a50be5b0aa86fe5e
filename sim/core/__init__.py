"""Core: the world's columns and CSR graph, its generator, personas, topics and the small utilities every
layer uses. Imports nothing else of sim but sim.errors."""
