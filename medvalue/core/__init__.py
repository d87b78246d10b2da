"""The foundation every layer stands on: paths and defaults, errors, safe file writing, the
text catalogue, and small pure helpers (value patterns, units, dates, ICD-10 codes, the
small-cell rule, how results display).

Imports nothing else of medvalue. Modules here are private (``_name``); the public API is
:mod:`medvalue`.
"""
