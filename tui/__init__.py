"""Agora's Textual terminal UI. It talks to ``sim`` only through its public API and event bus.

The UI arrives with the terminal-UI issue; until then ``agora`` without a command prints the
default world's summary.
"""
