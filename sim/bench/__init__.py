"""Benchmarks behind ``agora bench``. Imports the engine and everything below it."""
