"""How results show themselves: in Jupyter as their report section, in a console as one line.

Each result (profile, coverage, readiness, privacy, price, targets, refine) mixes in
:class:`Displayed`, naming the view that renders it. Analyses sit below the presentation
layer and never import it: the package's top (:mod:`medvalue`) registers the renderer with
:func:`use_renderer`, and a result asks for it only when it is displayed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from medvalue.core._config import DEFAULT_LANG

#: (result, view name, language) -> the section as HTML; set by :func:`use_renderer`.
Renderer = Callable[[Any, str, str], Any]
_renderer: list[Renderer] = []


def use_renderer(render: Renderer) -> None:
    """Make ``render`` the way results display themselves (called once by :mod:`medvalue`)."""
    _renderer[:] = [render]


class Displayed:
    """A result that displays as HTML in a notebook and as one short line elsewhere."""

    #: Name of the :mod:`medvalue.present.views` function rendering this result as a section.
    _view: ClassVar[str]

    def html(self, lang: str = DEFAULT_LANG) -> Any:
        """This result as its report section (styles and charts included), in ``lang``."""
        if not _renderer:
            msg = "no renderer registered: import medvalue first"
            raise RuntimeError(msg)
        return _renderer[0](self, self._view, lang)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": str(self.html()), "text/plain": repr(self)}

    def __repr__(self) -> str:
        name = getattr(self, "dataset", None) or getattr(self, "name", None) or ""
        headline = getattr(self, "headline", None)
        summary = ""
        if callable(headline):
            try:
                summary = ": " + headline("en")[0]
            except Exception:  # a summary line never fails the repr
                summary = ""
        return f"<medvalue {type(self).__name__} {name}{summary}>"
