"""The HTTP management API of ``agora serve``: drive a running world from scripts, notebooks and dashboards
(``sim.api.app``), behind bearer tokens (``sim.api.tokens``), described by OpenAPI (``sim.api.openapi``)."""
