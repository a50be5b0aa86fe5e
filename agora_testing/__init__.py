"""Test doubles that the benchmarks and demos also need: a local OpenAI-compatible chat server with
injected faults (``python -m agora_testing.fakeserver``). Not part of the simulator (``sim``)."""
