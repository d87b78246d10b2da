"""How results show themselves: in Jupyter as their report section, in a console as one line.

Each result (profile, coverage, readiness, privacy, price, targets, refine) mixes in
:class:`Displayed`, naming the view that renders it. The view is imported when a result is
displayed, not before, so analyses never depend on the presentation layer.
"""

from __future__ import annotations

from typing import Any, ClassVar

from medvalue.config import DEFAULT_LANG


class Displayed:
    """A result that displays as HTML in a notebook and as one short line elsewhere."""

    #: Name of the :mod:`medvalue.views` function rendering this result as a section.
    _view: ClassVar[str]

    def html(self, lang: str = DEFAULT_LANG) -> Any:
        """This result as its report section (styles and charts included), in ``lang``."""
        from medvalue import views

        return views.standalone(getattr(views, self._view)(self, lang))

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
