"""Agora's headless core: the world, its graph, persistence, snapshots and (later) the simulation.

``import sim`` never imports a UI toolkit.
"""

__version__ = "0.1.0"
