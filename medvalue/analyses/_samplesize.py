"""Minimum sample size for developing a clinical prediction model (Riley et al.), with the
semantics of the R package pmsampsize 1.1.3.

Binary (from a Cox-Snell R², a Nagelkerke R² or a C-statistic), time-to-event and
continuous outcomes. Every criterion is reported with its n; the required n is the largest.
Sources: Riley et al., Stat Med 2019;38:1262-1275 and 1276-1296; BMJ 2020;368:m441;
Riley, Van Calster & Collins, Stat Med 2021;40:859-864 (C-statistic to R²).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from scipy import integrate, stats

from medvalue.core._errors import ParameterError


@dataclass(frozen=True)
class Criterion:
    name: str
    n: int
    shrinkage: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "n": self.n, "shrinkage": _round(self.shrinkage, 3)}


@dataclass(frozen=True)
class SampleSize:
    """What :func:`binary`, :func:`survival` and :func:`continuous` return."""

    outcome: str  # binary | survival | continuous
    parameters: int
    criteria: tuple[Criterion, ...]
    required_n: int
    events: float | None  # binary and survival outcomes
    epp: float | None  # events per parameter (subjects per parameter for continuous)
    r2_cs: float
    max_r2_cs: float | None = None
    nagelkerke: float | None = None
    shrinkage: float | None = None  # the final expected shrinkage
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "parameters": self.parameters,
            "criteria": [c.to_dict() for c in self.criteria],
            "required_n": self.required_n,
            "events": _round(self.events, 2),
            "epp": _round(self.epp, 2),
            "r2_cs": _round(self.r2_cs, 4),
            "max_r2_cs": _round(self.max_r2_cs, 4),
            "nagelkerke_r2": _round(self.nagelkerke, 4),
            "shrinkage": _round(self.shrinkage, 3),
            "notes": list(self.notes),
        }


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(float(x), digits)


def _check(
    name: str, value: float | None, low: float, high: float, *, strict_low: bool = True
) -> float:
    if value is None:
        msg = f"--{name} is required"
        raise ParameterError(msg)
    ok = (value > low if strict_low else value >= low) and value < high
    if not ok:
        msg = f"--{name} must be between {low} and {high}, got {value}"
        raise ParameterError(msg)
    return float(value)


def _shrinkage_n(parameters: int, r2: float, s: float) -> int:
    """Criterion (i): n giving expected uniform shrinkage s (Riley Part II, eq. 11)."""
    return math.ceil(parameters / ((s - 1) * math.log(1 - r2 / s)))


def _overfitting_criteria(p: int, r2: float, s: float, max_r2: float) -> tuple[int, int, float]:
    """Criteria (i) and (ii), shared by binary and time-to-event outcomes: n for expected
    shrinkage ``s``, and n for optimism in Nagelkerke R² of at most 0.05 (shrinkage S_VH)."""
    s_vh = r2 / (r2 + 0.05 * max_r2)
    return _shrinkage_n(p, r2, s), _shrinkage_n(p, r2, s_vh), s_vh


def max_r2_binary(prevalence: float) -> float:
    """The largest Cox-Snell R² a binary outcome with this prevalence allows."""
    ln_null = prevalence * math.log(prevalence) + (1 - prevalence) * math.log(1 - prevalence)
    return 1 - math.exp(2 * ln_null)


@cache
def cstat_to_r2cs(cstatistic: float, prevalence: float) -> float:
    """Cox-Snell R² implied by a C-statistic (Riley, Van Calster & Collins 2021).

    Their model: the linear predictor is N(0, 1) in non-events and N(mu, 1) in events,
    mu = sqrt(2) * Phi^-1(C), so the true log-odds are linear in it. pmsampsize simulates a
    million records and fits a logistic regression; here the expected log-likelihood is
    integrated exactly instead (deterministic; agrees with the simulation to about 1e-3).
    """
    c = _check("cstatistic", cstatistic, 0.5, 1.0)
    phi = _check("prevalence", prevalence, 0.0, 1.0)
    mu = math.sqrt(2) * stats.norm.ppf(c)
    intercept = math.log(phi / (1 - phi)) - mu**2 / 2

    def loglik(x: float, event: bool) -> float:
        eta = intercept + mu * x
        # log P(y | x) for the true model, computed stably.
        return -math.log1p(math.exp(-eta)) if event else -math.log1p(math.exp(eta))

    def expected(event: bool, centre: float) -> float:
        f = lambda x: loglik(x, event) * stats.norm.pdf(x, loc=centre)  # noqa: E731
        return integrate.quad(f, centre - 12, centre + 12, limit=200)[0]

    l_model = phi * expected(True, mu) + (1 - phi) * expected(False, 0.0)
    l_null = phi * math.log(phi) + (1 - phi) * math.log(1 - phi)
    return 1 - math.exp(-2 * (l_model - l_null))


def binary(
    parameters: int,
    prevalence: float,
    *,
    r2_cs: float | None = None,
    nagelkerke: float | None = None,
    cstatistic: float | None = None,
    shrinkage: float = 0.9,
) -> SampleSize:
    """Three criteria: shrinkage >= S; optimism in Nagelkerke R² <= 0.05; the overall
    risk estimated within +-0.05. Give exactly one of ``r2_cs``, ``nagelkerke`` and
    ``cstatistic``."""
    p = _parameters(parameters)
    phi = _check("prevalence", prevalence, 0.0, 1.0)
    s = _check("shrinkage", shrinkage, 0.0, 1.0)
    max_r2 = max_r2_binary(phi)
    given = [x for x in (r2_cs, nagelkerke, cstatistic) if x is not None]
    if len(given) != 1:
        msg = "give exactly one of --r2 (Cox-Snell), --nagelkerke and --cstatistic"
        raise ParameterError(msg)
    notes = []
    if cstatistic is not None:
        r2 = round(cstat_to_r2cs(cstatistic, phi), 4)  # pmsampsize rounds to 4 decimals
        notes.append(f"Cox-Snell R2 {r2} from C-statistic {cstatistic} at prevalence {phi}")
    elif nagelkerke is not None:
        r2 = round(_check("nagelkerke", nagelkerke, 0.0, 1.0) * max_r2, 3)
    else:
        r2 = _check("r2", r2_cs, 0.0, 1.0)
    if r2 >= s:
        msg = f"the shrinkage {s} must exceed the Cox-Snell R2 {r2}"
        raise ParameterError(msg)
    if r2 > max_r2:
        msg = f"Cox-Snell R2 {r2} exceeds the largest possible at prevalence {phi} ({max_r2:.3f})"
        raise ParameterError(msg)
    n1, n2, s_vh = _overfitting_criteria(p, r2, s, max_r2)
    n3 = math.ceil((1.96 / 0.05) ** 2 * phi * (1 - phi))
    n = max(n1, n2, n3)
    return SampleSize(
        outcome="binary",
        parameters=p,
        criteria=(
            Criterion("shrinkage", n1, s),
            Criterion("optimism", n2, s_vh),
            Criterion("overall_risk", n3, max(s, s_vh)),
        ),
        required_n=n,
        events=n * phi,
        epp=n * phi / p,
        r2_cs=r2,
        max_r2_cs=max_r2,
        nagelkerke=r2 / max_r2,
        shrinkage=max(s, s_vh),
        notes=tuple(notes),
    )


def survival(
    parameters: int,
    *,
    r2_cs: float,
    rate: float,
    timepoint: float,
    meanfup: float,
    shrinkage: float = 0.9,
) -> SampleSize:
    """Time-to-event: criteria (i) and (ii) as for binary outcomes, in units of mean
    follow-up; criterion (iii), the cumulative risk at ``timepoint``, is reported with its
    confidence interval but never raises n (as in pmsampsize 1.1.3)."""
    p = _parameters(parameters)
    r2 = _check("r2", r2_cs, 0.0, 1.0)
    lam = _check("rate", rate, 0.0, math.inf)
    t = _check("timepoint", timepoint, 0.0, math.inf)
    fup = _check("meanfup", meanfup, 0.0, math.inf)
    s = _check("shrinkage", shrinkage, 0.0, 1.0)
    if r2 >= s:
        msg = f"the shrinkage {s} must exceed the Cox-Snell R2 {r2}"
        raise ParameterError(msg)
    n_ref = 10_000
    events_ref = math.ceil(lam * fup * n_ref)
    ln_null = events_ref * math.log(events_ref / n_ref) - events_ref
    max_r2 = 1 - math.exp(2 * ln_null / n_ref)
    if r2 > max_r2:
        msg = f"Cox-Snell R2 {r2} exceeds the largest possible for this rate and follow-up ({max_r2:.3f})"
        raise ParameterError(msg)
    n1, n2, s_vh = _overfitting_criteria(p, r2, s, max_r2)
    n3 = max(n1, n2)
    person_time = round(fup * n3, 1)
    half = 1.96 * math.sqrt(lam / person_time)
    risk = 1 - math.exp(-lam * t)
    upper = 1 - math.exp(-(lam + half) * t)
    lower = 1 - math.exp(-(lam - half) * t)
    n = max(n1, n2, n3)
    return SampleSize(
        outcome="survival",
        parameters=p,
        criteria=(
            Criterion("shrinkage", n1, s),
            Criterion("optimism", n2, s_vh),
            Criterion("overall_risk", n3, max(s, s_vh)),
        ),
        required_n=n,
        events=n * lam * fup,
        epp=n * lam * fup / p,
        r2_cs=r2,
        max_r2_cs=max_r2,
        nagelkerke=r2 / max_r2,
        shrinkage=max(s, s_vh),
        notes=(f"risk at t={t}: {risk:.3f} (95% CI {lower:.3f} to {upper:.3f})",),
    )


def continuous(
    parameters: int,
    *,
    r2: float,
    intercept: float,
    sd: float,
    shrinkage: float = 0.9,
    mmoe: float = 1.1,
) -> SampleSize:
    """Four criteria (Riley Part I): shrinkage >= S; optimism in R² <= 0.05; residual SD
    within 10% (n = 234 + p since pmsampsize 1.1.3); intercept within a multiplicative
    margin of error ``mmoe``."""
    p = _parameters(parameters)
    r2a = _check("r2", r2, 0.0, 1.0)
    s = _check("shrinkage", shrinkage, 0.0, 1.0)
    sd = _check("sd", sd, 0.0, math.inf)
    if intercept == 0:
        msg = "--intercept (the mean outcome) must not be 0: the margin of error is relative to it"
        raise ParameterError(msg)

    def expected_shrinkage(n: int) -> float:
        apparent = (r2a * (n - p - 1) + p) / (n - 1)
        if apparent >= 1:
            return float("nan")
        return 1 + (p - 2) / (n * math.log(1 - apparent))

    n1 = p + 2
    es = expected_shrinkage(n1)
    while not (es >= s):  # also steps past n where the shrinkage is undefined (nan)
        n1 += 1
        es = expected_shrinkage(n1)
    n2 = math.ceil(1 + p * (1 - r2a) / 0.05)
    n3 = 234 + p
    n4 = max(n1, n2, n3)

    def margin(n: int) -> float:
        half = math.sqrt(sd**2 * (1 - r2a) / n) * stats.t.ppf(0.975, n - p - 1)
        return (intercept + half) / intercept

    while margin(n4) > mmoe:
        n4 += 1
    n = max(n1, n2, n3, n4)
    return SampleSize(
        outcome="continuous",
        parameters=p,
        criteria=(
            Criterion("shrinkage", n1, expected_shrinkage(n1)),
            Criterion("optimism", n2, expected_shrinkage(n2)),
            Criterion("residual_sd", n3, expected_shrinkage(n3)),
            Criterion("intercept", n4, expected_shrinkage(n4)),
        ),
        required_n=n,
        events=None,
        epp=n / p,
        r2_cs=r2a,
        shrinkage=expected_shrinkage(n),
    )


def _parameters(parameters: int) -> int:
    if int(parameters) != parameters or parameters < 1:
        msg = f"--parameters must be a whole number of at least 1, got {parameters}"
        raise ParameterError(msg)
    return int(parameters)


def supported_parameters(available_n: int, required: Callable[[int], SampleSize]) -> int:
    """The most candidate parameters ``available_n`` supports: the largest p with
    ``required(p).required_n <= available_n`` (0 when even one needs more)."""
    if required(1).required_n > available_n:
        return 0
    lo, hi = 1, 2
    while required(hi).required_n <= available_n and hi < 100_000:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # required n never falls as parameters rise: bisect
        mid = (lo + hi) // 2
        if required(mid).required_n <= available_n:
            lo = mid
        else:
            hi = mid
    return lo
