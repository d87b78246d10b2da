"""Synthetic datasets: the samples in data/sample/, benchmark tables and the planted-problem list.

Deterministic (seeded) generators for tests, benchmarks and tutorials. Nothing else in
medvalue imports this package; ``python -m medvalue.datasets [FOLDER]`` (``make samples``)
rewrites the samples.
"""

from medvalue.datasets._synthetic import (
    CAROTID_PLANTED,
    COUNTY_PLANTED,
    LIVER_PLANTED,
    LIVER_ZH_HEADERS,
    MY_CODE_LISTS,
    PLANTED,
    REGIONAL_TARGETS,
    REGIONS,
    SYNTHETIC_PRICE_MODEL,
    benchmark_table,
    carotid_stenting,
    comparables_synthetic,
    county_hospital,
    fhir_observation_lines,
    fhir_resources,
    liver_transplant,
    measurements_table,
    omop_tables,
    readme_text,
    regional_registry,
    scaled,
    write_fhir_bundles,
    write_fhir_ndjson,
    write_samples,
)

__all__ = [
    "CAROTID_PLANTED",
    "COUNTY_PLANTED",
    "LIVER_PLANTED",
    "LIVER_ZH_HEADERS",
    "MY_CODE_LISTS",
    "PLANTED",
    "REGIONAL_TARGETS",
    "REGIONS",
    "SYNTHETIC_PRICE_MODEL",
    "benchmark_table",
    "carotid_stenting",
    "comparables_synthetic",
    "county_hospital",
    "fhir_observation_lines",
    "fhir_resources",
    "liver_transplant",
    "measurements_table",
    "omop_tables",
    "readme_text",
    "regional_registry",
    "scaled",
    "write_fhir_bundles",
    "write_fhir_ndjson",
    "write_samples",
]
