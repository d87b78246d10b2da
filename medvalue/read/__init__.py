"""Reading: files and folders of tables (CSV in any encoding, Excel, Parquet, NDJSON), the
OMOP CDM and FHIR standards, column roles (the spec) confirmed by their values, and the
:class:`Dataset` every analysis takes.

Imports only :mod:`medvalue.core`.
"""
