"""Agora's Textual terminal UI. It talks to ``sim`` only through its public API and event bus."""
