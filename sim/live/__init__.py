"""One world kept live: the world controller (``controller``) under the terminal UI, ``agora serve`` and
``sim.Simulation``, and what the front ends observe of it (``cascadeview``).

Imports the engine and everything below it; never the runs room (:mod:`sim.runs`) nor a front end."""
