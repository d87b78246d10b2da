"""Baseline learnability: cross-validated simple models and their metrics.

Why scikit-learn for the fits: its L2-regularised logistic regression converges on the
one-hot, partly separable designs hospital exports give (statsmodels' unpenalised Logit
stops on perfect separation or a singular design), and it ships stratified folds.
statsmodels does what it is best at here: the calibration slope (a logistic regression of
the outcome on the logit of the predictions) and the Cox model for time-to-event outcomes.

Metrics: AUC with DeLong's confidence interval (fast midrank algorithm of Sun & Xu 2014),
Brier score, calibration slope, cross-validated R², Harrell's C; a learning curve fitted
with an inverse power law y(n) = a - b * n^-c (Figueroa et al., BMC Med Inform Decis Mak
2012;12:8) and extrapolated to more data.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

#: Shares of the training folds the learning curve fits on.
CURVE_FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Metrics:
    metric: str  # auc | r2 | c_index
    value: float
    ci: tuple[float, float] | None = None
    brier: float | None = None
    calibration_slope: float | None = None
    calibration_in_the_large: float | None = None
    calibration_bins: tuple[tuple[float, float, int], ...] = ()  # (mean predicted, observed, n)

    def to_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            self.metric: _r(self.value),
            f"{self.metric}_ci": None if self.ci is None else [_r(self.ci[0]), _r(self.ci[1])],
            "brier": _r(self.brier),
            "calibration_slope": _r(self.calibration_slope),
            "calibration_in_the_large": _r(self.calibration_in_the_large),
        }


@dataclass(frozen=True)
class CurvePoint:
    fraction: float
    n: int  # training rows used (mean over folds)
    value: float

    def to_dict(self) -> dict[str, object]:
        return {"fraction": self.fraction, "n": self.n, "value": _r(self.value)}


@dataclass(frozen=True)
class Extrapolation:
    """The fitted learning curve at more data: 2x and 5x the rows used."""

    a: float  # the plateau
    b: float
    c: float
    at: tuple[tuple[float, int, float, float, float], ...]  # (multiple, n, low, mid, high)

    def to_dict(self) -> dict[str, object]:
        return {
            "model": "a - b * n^-c",
            "a": _r(self.a),
            "b": _r(self.b),
            "c": _r(self.c),
            "at": [
                {"multiple": m, "n": n, "low": _r(lo), "mid": _r(mid), "high": _r(hi)}
                for m, n, lo, mid, hi in self.at
            ],
        }


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)


# --- metrics ---------------------------------------------------------------------------------


def _midranks(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, method="average")


def auc_delong(
    y: np.ndarray, score: np.ndarray, level: float = 0.95
) -> tuple[float, tuple[float, float]]:
    """AUC and its DeLong confidence interval (Sun & Xu's midrank algorithm)."""
    y = np.asarray(y).astype(bool)
    pos, neg = score[y], score[~y]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return float("nan"), (float("nan"), float("nan"))
    tz = _midranks(np.concatenate([pos, neg]))
    tx, ty = _midranks(pos), _midranks(neg)
    auc = (tz[:m].sum() - m * (m + 1) / 2) / (m * n)
    v01 = (tz[:m] - tx) / n  # structural components of the positives
    v10 = 1 - (tz[m:] - ty) / m  # and of the negatives
    var = np.var(v01, ddof=1) / m + np.var(v10, ddof=1) / n if m > 1 and n > 1 else 0.0
    z = stats.norm.ppf(0.5 + level / 2)
    se = math.sqrt(max(var, 0.0))
    return float(auc), (max(0.0, auc - z * se), min(1.0, auc + z * se))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def calibration(y: np.ndarray, p: np.ndarray) -> tuple[float | None, float | None]:
    """Calibration slope and calibration-in-the-large (statsmodels logistic fits)."""
    import statsmodels.api as sm

    eps = 1e-6
    lp = np.log(np.clip(p, eps, 1 - eps) / (1 - np.clip(p, eps, 1 - eps)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            slope = sm.Logit(y, sm.add_constant(lp)).fit(disp=0).params[1]
            citl = (
                sm.GLM(y, np.ones_like(lp), family=sm.families.Binomial(), offset=lp)
                .fit()
                .params[0]
            )
        except Exception:  # separation or a constant prediction: no slope to report
            return None, None
    return float(slope), float(citl)


def calibration_bins(
    y: np.ndarray, p: np.ndarray, bins: int = 10
) -> tuple[tuple[float, float, int], ...]:
    order = np.argsort(p, kind="stable")
    out = []
    for part in np.array_split(order, bins):
        if len(part):
            out.append((float(p[part].mean()), float(y[part].mean()), len(part)))
    return tuple(out)


def harrell_c(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance: among usable pairs (the shorter time has an event), the share
    where the higher risk failed first; ties in risk count one half. O(n log n)."""
    order = np.argsort(time, kind="stable")
    t, e, r = time[order], event[order].astype(bool), risk[order]
    # For each event i, compare with every j whose time is strictly later.
    ranks = stats.rankdata(r, method="average")
    concordant = 0.0
    usable = 0
    # Process from the latest time backwards, keeping a sorted array of later risks.
    later: list[float] = []
    import bisect

    i = len(t) - 1
    while i >= 0:
        j = i
        while j >= 0 and t[j] == t[i]:
            j -= 1
        block = range(j + 1, i + 1)  # equal times: not comparable with each other
        for k in block:
            if e[k] and later:
                below = bisect.bisect_left(later, ranks[k])
                ties = bisect.bisect_right(later, ranks[k]) - below
                concordant += below + 0.5 * ties
                usable += len(later)
        for k in block:
            bisect.insort(later, ranks[k])
        i = j
    return concordant / usable if usable else float("nan")


# --- models ----------------------------------------------------------------------------------


def split_folds(y: np.ndarray, kind: str, folds: int, seed: int):
    """(train, test) index pairs: stratified by class for class labels."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if kind in ("binary", "multiclass"):
        smallest = int(np.bincount(y.astype(int)).min())
        k = max(2, min(folds, smallest))
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    return list(
        KFold(max(2, min(folds, len(y))), shuffle=True, random_state=seed).split(np.zeros(len(y)))
    )


def fit_predict(kind: str, x_train, y_train, x_test, time_train=None):
    """The baseline model of ``kind`` fitted on the training rows, predicting the test rows."""
    from sklearn.linear_model import LogisticRegression, Ridge

    # Newton steps with a Cholesky solve: a handful of iterations on designs of up to a few
    # hundred columns, where L-BFGS took ~50 (a 15k-row multiclass readiness: 10 s -> 3 s).
    if kind == "binary":
        model = LogisticRegression(C=1.0, max_iter=2000, solver="newton-cholesky")
        model.fit(x_train, y_train)
        return model.predict_proba(x_test)[:, 1]
    if kind == "multiclass":
        model = LogisticRegression(C=1.0, max_iter=2000, solver="newton-cholesky")
        model.fit(x_train, y_train)
        proba = np.zeros((len(x_test), int(y_train.max()) + 1))
        proba[:, model.classes_.astype(int)] = model.predict_proba(x_test)
        return proba
    if kind == "continuous":
        return Ridge(alpha=1.0).fit(x_train, y_train).predict(x_test)
    # survival: Cox model; the linear predictor is the risk score
    params = cox_fit(time_train, y_train, x_train)
    if params is None:  # separation: a ridge penalty keeps the coefficients finite
        params = cox_fit(time_train, y_train, x_train, ridge=COX_FALLBACK_RIDGE)
    return x_test @ (params if params is not None else np.zeros(x_train.shape[1]))


#: Ridge penalty (on standardised predictors) for a Cox fit that diverges unpenalised.
COX_FALLBACK_RIDGE = 1.0


def cox_fit(
    time: np.ndarray,
    event: np.ndarray,
    x: np.ndarray,
    *,
    ridge: float = 0.0,
    max_iter: int = 50,
    tol: float = 1e-9,
) -> np.ndarray | None:
    """Coefficients of a Cox proportional-hazards model with Breslow's ties, by Newton's
    method on the (ridge-penalised) partial likelihood; None when it does not converge to
    finite values.

    Vectorised: the risk-set sums are reverse cumulative sums over rows sorted by time, and
    the information matrix is X' diag(w c) X minus the outer products of the event means,
    where c_j sums 1 / S0 over the events whose risk set holds row j. It agrees with
    statsmodels' PHReg (tests/test_readiness.py) and costs milliseconds where PHReg's
    penalised fit took seconds.
    """
    order = np.argsort(time, kind="stable")
    t, e, xs = time[order], event[order].astype(bool), x[order]
    n, p = xs.shape
    if p == 0 or not e.any():
        return np.zeros(p)
    # Tied times share one risk set: from the first row of the tie group to the end, and
    # a row is at risk for every event up to the last row of its tie group.
    first = np.searchsorted(t, t, side="left")
    last = np.searchsorted(t, t, side="right") - 1
    beta = np.zeros(p)

    def state(b: np.ndarray):
        eta = xs @ b
        w = np.exp(eta - eta.max())
        s0 = np.cumsum(w[::-1])[::-1][first]
        s1 = np.cumsum((w[:, None] * xs)[::-1], axis=0)[::-1][first]
        # A trial step so large that a risk set's weights underflow is rejected (-inf).
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = float((eta[e] - eta.max() - np.log(s0[e])).sum()) - 0.5 * ridge * float(b @ b)
        return w, s0, s1, ll if np.isfinite(ll) else -np.inf

    w, s0, s1, loglik = state(beta)
    for _ in range(max_iter):
        with np.errstate(all="ignore"):  # an overflow shows as a non-finite step below
            mean = s1[e] / s0[e][:, None]
            grad = (xs[e] - mean).sum(0) - ridge * beta
            c = np.cumsum(np.divide(1.0, s0, out=np.zeros(n), where=e))[last]
            info = (xs * (w * c)[:, None]).T @ xs - mean.T @ mean + ridge * np.eye(p)
        if not (np.isfinite(grad).all() and np.isfinite(info).all()):
            return None
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, grad, rcond=None)[0]
        # Step halving keeps each iteration an ascent of the partial likelihood.
        for _ in range(30):
            trial = beta + step
            w_t, s0_t, s1_t, ll_t = state(trial)
            if np.isfinite(ll_t) and ll_t >= loglik - 1e-12:
                break
            step = step / 2
        else:
            return None
        beta, w, s0, s1 = trial, w_t, s0_t, s1_t
        converged = abs(ll_t - loglik) < tol * (1 + abs(loglik))
        loglik = ll_t
        if converged:
            break
    if not np.isfinite(beta).all() or np.abs(beta).max() > 50:
        return None
    return beta


def score_predictions(
    kind: str, y: np.ndarray, pred: np.ndarray, time: np.ndarray | None = None
) -> float:
    """AUC (binary; mean one-vs-rest for classes), R2 (continuous) or Harrell's C (survival)."""
    if kind == "binary":
        return auc_delong(y, pred)[0]
    if kind == "multiclass":
        present = [c for c in range(pred.shape[1]) if (y == c).any() and (y != c).any()]
        return float(np.mean([auc_delong(y == c, pred[:, c])[0] for c in present]))
    if kind == "continuous":
        ss_res = float(((y - pred) ** 2).sum())
        ss_tot = float(((y - y.mean()) ** 2).sum())
        return 1 - ss_res / ss_tot if ss_tot else float("nan")
    assert time is not None  # survival scores need the follow-up times
    return harrell_c(time, y, pred)


def cross_validate(
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    time: np.ndarray | None = None,
) -> tuple[Metrics, np.ndarray]:
    """Out-of-fold predictions and their metrics."""
    splits = split_folds(y, kind, folds, seed)
    oof = np.zeros((len(y), int(y.max()) + 1)) if kind == "multiclass" else np.zeros(len(y))
    for train, test in splits:
        oof[test] = fit_predict(
            kind, x[train], y[train], x[test], None if time is None else time[train]
        )
    if kind == "binary":
        auc, ci = auc_delong(y, oof)
        slope, citl = calibration(y, oof)
        return Metrics("auc", auc, ci, brier(y, oof), slope, citl, calibration_bins(y, oof)), oof
    if kind == "multiclass":
        onehot = np.eye(oof.shape[-1])[y.astype(int)]
        return Metrics(
            "auc",
            score_predictions(kind, y, oof),
            None,
            float(np.mean(((oof - onehot) ** 2).sum(1))),
        ), oof
    if kind == "continuous":
        return Metrics("r2", score_predictions(kind, y, oof)), oof
    return Metrics("c_index", score_predictions(kind, y, oof, time)), oof


def learning_curve(
    kind: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
    time: np.ndarray | None = None,
    fractions: Sequence[float] = CURVE_FRACTIONS,
) -> tuple[CurvePoint, ...]:
    """The cross-validated metric when training on a share of each training fold
    (stratified subsamples for class outcomes), always tested on the whole test fold."""
    rng = np.random.default_rng(seed)
    splits = split_folds(y, kind, folds, seed)
    points = []
    for frac in fractions:
        values, sizes = [], []
        for train, test in splits:
            take = _subsample(train, y[train], frac, kind, rng)
            if kind in ("binary", "multiclass") and len(np.unique(y[take])) < 2:
                continue
            pred = fit_predict(
                kind, x[take], y[take], x[test], None if time is None else time[take]
            )
            values.append(
                score_predictions(kind, y[test], pred, None if time is None else time[test])
            )
            sizes.append(len(take))
        if values:
            points.append(CurvePoint(frac, int(np.mean(sizes)), float(np.nanmean(values))))
    return tuple(points)


def _subsample(
    idx: np.ndarray, y: np.ndarray, frac: float, kind: str, rng: np.random.Generator
) -> np.ndarray:
    if frac >= 1:
        return idx
    if kind in ("binary", "multiclass"):
        parts = []
        for c in np.unique(y):
            members = idx[y == c]
            k = max(1, round(len(members) * frac))
            parts.append(rng.choice(members, k, replace=False))
        return np.sort(np.concatenate(parts))
    return np.sort(rng.choice(idx, max(2, round(len(idx) * frac)), replace=False))


def extrapolate(
    points: Sequence[CurvePoint],
    multiples: Sequence[float] = (2, 5),
    seed: int = 0,
    ceiling: float = 1.0,
    floor: float = 0.5,
) -> Extrapolation | None:
    """Fit y = a - b n^-c to the learning curve; the value at more data with an 80% band
    from a residual bootstrap of the fit (200 seeded refits), kept within [floor, ceiling]."""
    if len(points) < 4:
        return None
    n = np.array([p.n for p in points], dtype=float)
    v = np.array([p.value for p in points], dtype=float)
    if not np.isfinite(v).all():
        return None

    def model(n, a, b, c):
        return a - b * np.power(n, -c)

    # Fitted unconstrained (a = ceiling - e^u, b = e^v, c = 2 / (1 + e^-w)) with
    # Levenberg-Marquardt: the bounded solver was a hundred times slower.
    def free(n, u, v_, w):
        return model(n, ceiling - np.exp(u), np.exp(v_), 2 / (1 + np.exp(-w)))

    def unpack(t):
        return ceiling - math.exp(t[0]), math.exp(t[1]), 2 / (1 + math.exp(-t[2]))

    a0 = min(ceiling - 1e-3, float(v.max()) + 0.02)
    start = (math.log(ceiling - a0), 0.0, math.log(0.25 / 0.75))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            free_theta, _ = optimize.curve_fit(free, n, v, p0=start, maxfev=5_000)
        except (RuntimeError, ValueError, OverflowError):
            return None
    theta = unpack(free_theta)
    rng = np.random.default_rng(seed)
    fitted = model(n, *theta)
    residuals = v - fitted
    refits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(200):
            sample = fitted + rng.choice(residuals, len(residuals), replace=True)
            try:
                refits.append(
                    unpack(optimize.curve_fit(free, n, sample, p0=free_theta, maxfev=2_000)[0])
                )
            except (RuntimeError, ValueError, OverflowError):
                continue
    at = []
    for m in multiples:
        target = n[-1] * m
        mid = float(np.clip(model(target, *theta), floor, ceiling))
        sims = np.array([model(target, *t) for t in refits]) if refits else np.array([mid])
        lo, hi = np.clip(np.percentile(sims, [10, 90]), floor, ceiling)
        at.append((float(m), int(target), float(min(lo, mid)), mid, float(max(hi, mid))))
    return Extrapolation(float(theta[0]), float(theta[1]), float(theta[2]), tuple(at))


def univariate_auc(y: np.ndarray, x: np.ndarray) -> float:
    """How well one predictor alone separates a binary label (max of AUC and 1 - AUC)."""
    keep = ~np.isnan(x)
    if keep.sum() < 2 or len(np.unique(y[keep])) < 2:
        return float("nan")
    auc = auc_delong(y[keep], x[keep])[0]
    return max(auc, 1 - auc)
