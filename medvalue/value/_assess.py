"""One orchestrator: profile -> coverage -> readiness -> privacy -> price, with its options in
one frozen object.

The command line (``medvalue price``, ``medvalue report``), refine's datacard and the report
notebooks all call :func:`assess`, so the chain and its defaults are written once. Options
come from code, from command-line flags, or from the spec's ``assess:`` section.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from medvalue.analyses._coverage import Coverage, coverage
from medvalue.analyses._privacy import DEFAULT_K, PrivacyAssessment, privacy
from medvalue.analyses._profile import Profile, profile
from medvalue.analyses._readiness import Readiness, readiness
from medvalue.core._config import SMALL_CELL_THRESHOLD
from medvalue.core._display import Displayed
from medvalue.core._errors import ParameterError
from medvalue.read._dataset import Dataset
from medvalue.read._refined import load_refinement
from medvalue.read._spec import DatasetSpec
from medvalue.value._pricing import Valuation, price


@dataclass(frozen=True)
class AssessOptions:
    """Everything :func:`assess` can be told. Defaults are the analyses' own defaults."""

    #: Date the profile's timeliness and the price are measured at (YYYY-MM-DD; None: today).
    as_of: str | None = None
    #: Counts of fewer people than this are never shown.
    small_cell: int = SMALL_CELL_THRESHOLD
    #: Coverage: cohorts of one's own (YAML: name -> ICD-10 prefixes) and a reference population.
    code_lists: str | None = None
    reference: str | None = None
    #: Readiness: the outcome column, follow-up time, the event level, the models' seed.
    label: str | None = None
    time: str | None = None
    event: str | None = None
    seed: int = 0
    #: True: a label readiness cannot use is an error; False: a finding, and the rest goes on.
    strict: bool = False
    #: Privacy: quasi-identifiers (None: from the spec), sensitive column, target k, population.
    quasi_identifiers: tuple[str, ...] | None = None
    sensitive: str | None = None
    k: int = DEFAULT_K
    population: str | None = None
    #: Price: whether to price at all, and the inputs of the band.
    price: bool = True
    comparables: str | None = None
    costs: str | None = None
    rates: str | None = None
    currency: str | None = None
    exclusive: bool = False
    #: Monte Carlo seed (None: the pricing inputs file's).
    price_seed: int | None = None
    #: A ``medvalue refine`` output folder: its measured fixes and time set the cleaning cost.
    refined: str | None = None
    #: Where the options came from, for messages (a spec path, or "options").
    source: str = field(default="options", compare=False)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "options") -> AssessOptions:
        """Options from a mapping (a spec's ``assess:`` section, a notebook's parameters).

        Unknown keys and values of the wrong type fail with one line naming ``source`` and
        the key.
        """
        known = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
        given: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                raise ParameterError.at(
                    source, f"assess: unknown option '{key}'", f"use {', '.join(known)}"
                )
            given[key] = _checked(source, key, value)
        return cls(**given, source=source)

    @classmethod
    def from_spec(cls, spec: DatasetSpec) -> AssessOptions:
        """The options a spec's ``assess:`` section sets (defaults for the rest)."""
        section = dict(spec.assess)
        if "small_cell" in section:
            # The small-cell rule protects people: it is lowered where it shows (a flag, a
            # notebook parameter, both printed in the report), never quietly in a spec.
            raise ParameterError.at(
                spec.source or "spec", "assess: 'small_cell' cannot be set in a spec",
                "give --small-cell on the command line or small_cell in the notebook",
            )  # fmt: skip
        return cls.from_mapping(section, source=spec.source or "spec") if section else cls()

    def replace(self, **changes: Any) -> AssessOptions:
        """These options with ``changes`` (None values leave an option as it is)."""
        kept = {k: v for k, v in changes.items() if v is not None}
        return dataclasses.replace(self, **kept) if kept else self

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("source")
        if self.quasi_identifiers is not None:
            out["quasi_identifiers"] = list(self.quasi_identifiers)
        return out


_BOOLS = ("price", "exclusive", "strict")
_INTS = ("small_cell", "seed", "k", "price_seed")


def _checked(source: str, key: str, value: Any) -> Any:
    def fail(want: str) -> None:
        raise ParameterError.at(source, f"assess: '{key}' is {value!r}", f"give {want}")

    if value is None:
        return None
    if key in _BOOLS:
        if not isinstance(value, bool):
            fail("true or false")
        return value
    if key in _INTS:
        if isinstance(value, bool) or not isinstance(value, int):
            fail("a whole number")
        return value
    if key == "quasi_identifiers":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            fail("a list of column names")
        return tuple(value)
    if key == "as_of" and not isinstance(value, str):
        value = str(value)  # YAML reads 2026-06-30 as a date
    if not isinstance(value, str):
        fail("text")
    return value


@dataclass(frozen=True)
class Assessment(Displayed):
    """Every analysis of one dataset and its price, from one set of options. In a notebook it
    shows itself as the valuation report's sections."""

    _view: ClassVar[str] = "assessment_section"

    dataset: str
    options: AssessOptions
    profile: Profile
    coverage: Coverage
    readiness: Readiness
    privacy: PrivacyAssessment
    valuation: Valuation | None

    def to_dict(self, lang: str = "en") -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "options": self.options.to_dict(),
            "profile": self.profile.to_dict(lang),
            "coverage": self.coverage.to_dict(lang),
            "readiness": self.readiness.to_dict(lang),
            "privacy": self.privacy.to_dict(lang),
            "valuation": self.valuation.to_dict(lang) if self.valuation is not None else None,
        }

    def __repr__(self) -> str:
        band = ""
        if self.valuation is not None:
            low, _, high = self.valuation.band
            band = f", price band {low:,.0f}-{high:,.0f} {self.valuation.currency}"
        return f"<medvalue Assessment {self.dataset}{band}>"


def assess(
    ds: Dataset,
    options: AssessOptions | None = None,
    *,
    profile_result: Profile | None = None,
    privacy_result: PrivacyAssessment | None = None,
    refinement: Mapping[str, Any] | None = None,
) -> Assessment:
    """Profile, coverage, readiness, privacy and (unless ``options.price`` is false) the price
    band of ``ds``.

    ``options`` default to the spec's ``assess:`` section. A profile or privacy assessment
    already computed (refine measures its own) is used instead of computing it again, and so
    is a refinement's measured ``fixes`` and ``seconds`` (else ``options.refined`` is read).
    Unless ``options.strict``, a label readiness cannot use is a finding, not an error.
    """
    o = options if options is not None else AssessOptions.from_spec(ds.spec)
    prof = profile_result or profile(ds, as_of=o.as_of, small_cell=o.small_cell)
    cov = coverage(ds, code_lists=o.code_lists, reference=o.reference, small_cell=o.small_cell)
    ready = readiness(ds, o.label, time=o.time, event=o.event, seed=o.seed,
                      small_cell=o.small_cell, strict=o.strict)  # fmt: skip
    priv = privacy_result or privacy(
        ds, quasi_identifiers=list(o.quasi_identifiers) if o.quasi_identifiers else None,
        sensitive=o.sensitive, k=o.k, population=o.population, small_cell=o.small_cell,
    )  # fmt: skip
    valuation = None
    if o.price:
        valuation = price(
            ds, comparables=o.comparables, costs=o.costs, rates=o.rates, currency=o.currency,
            profile=prof, coverage=cov, readiness=ready, privacy=priv, exclusive=o.exclusive,
            as_of=str(prof.as_of), seed=o.price_seed,
            refinement=refinement or (load_refinement(o.refined) if o.refined else None),
        )  # fmt: skip
    return Assessment(ds.name, o, prof, cov, ready, priv, valuation)
