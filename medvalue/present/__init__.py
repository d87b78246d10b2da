"""Showing results: report sections as HTML (:mod:`medvalue.present.views`, the notebooks'
API), charts, console summaries and the papermill report.

Imports every layer below; nothing below imports it (results find their view through the
renderer :mod:`medvalue` registers).
"""
