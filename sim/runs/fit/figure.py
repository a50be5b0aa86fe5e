"""The figure of a fit in Python (``FitResult.plot()``): matplotlib's own :class:`~matplotlib.figure.Figure`, drawn
without pyplot (no display, no global state), that shows itself in a notebook.

Jupyter shows a figure through the formatter matplotlib's inline backend registers, and that backend starts only
once ``matplotlib.pyplot`` is imported: a notebook that never imports pyplot would print ``<Figure size ...>``.
:meth:`FitFigure._repr_png_` is what IPython asks for then (its registered formatter, where there is one, wins).
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure


class FitFigure(Figure):
    """A :class:`matplotlib.figure.Figure` that a notebook shows as a PNG without pyplot."""

    def _repr_png_(self) -> bytes:
        out = io.BytesIO()
        self.savefig(out, format="png", bbox_inches="tight", metadata={"Software": None})
        return out.getvalue()
