"""Shapley values: each player's fair share of what a coalition of players is worth.

A player's Shapley value is its marginal contribution v(S + i) - v(S), averaged over every
order in which the players could join (Shapley 1953):

    phi_i = sum over S not holding i of |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))

The values add up to v(all) - v(none) (efficiency), two players who add the same to every
coalition get the same (symmetry), and a player who never adds anything gets zero (null
player). Up to ``EXACT_LIMIT`` players every coalition is evaluated; beyond, the average is
estimated over random orders (Castro, Gomez and Tejada 2009), with its standard error.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: Exact values up to this many players (2^10 = 1,024 coalitions).
EXACT_LIMIT = 10
#: Random orders drawn for the estimate beyond ``EXACT_LIMIT`` players.
DEFAULT_PERMUTATIONS = 200

Game = Callable[[frozenset[str]], float]


@dataclass(frozen=True)
class ShapleyValues:
    """Each player's value, and how it was computed."""

    players: tuple[str, ...]
    values: tuple[float, ...]
    total: float  # v(all players) - v(no player): what the values add up to
    method: str  # exact | monte_carlo
    standard_errors: tuple[float, ...] | None = None  # Monte Carlo only
    permutations: int | None = None
    coalitions: int = 0  # coalitions evaluated

    def of(self, player: str) -> float:
        return self.values[self.players.index(player)]

    def shares(self) -> tuple[float, ...]:
        """Each value as a share of the total, negative values counted as zero (a player
        whose data make the result worse is owed nothing, and nothing is taken from it)."""
        kept = [max(0.0, v) for v in self.values]
        whole = sum(kept)
        return tuple(v / whole if whole > 0 else 0.0 for v in kept)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "method": self.method,
            "total": round(self.total, 6),
            "values": {p: round(v, 6) for p, v in zip(self.players, self.values, strict=True)},
            "coalitions_evaluated": self.coalitions,
        }
        if self.standard_errors is not None:
            out["standard_errors"] = {
                p: round(s, 6) for p, s in zip(self.players, self.standard_errors, strict=True)
            }
            out["permutations"] = self.permutations
        return out


def shapley(
    players: Sequence[str],
    value: Game,
    *,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
    exact_limit: int = EXACT_LIMIT,
) -> ShapleyValues:
    """Exact values up to ``exact_limit`` players, a Monte Carlo estimate beyond."""
    cached = _Cached(value)
    if len(players) <= exact_limit:
        return exact(players, cached)
    return monte_carlo(players, cached, permutations=permutations, seed=seed)


class _Cached:
    """``value`` evaluated once per coalition (models are fitted once each)."""

    def __init__(self, value: Game) -> None:
        self.value = value
        self.seen: dict[frozenset[str], float] = {}

    def __call__(self, coalition: frozenset[str]) -> float:
        if coalition not in self.seen:
            self.seen[coalition] = float(self.value(coalition))
        return self.seen[coalition]


def exact(players: Sequence[str], value: Game) -> ShapleyValues:
    """Every coalition evaluated once; each player's value from the weighted sum above."""
    n = len(players)
    worth = {
        frozenset(c): float(value(frozenset(c)))
        for size in range(n + 1)
        for c in itertools.combinations(players, size)
    }
    weight = [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]
    values = []
    for p in players:
        phi = 0.0
        for coalition, v in worth.items():
            if p not in coalition:
                phi += weight[len(coalition)] * (worth[coalition | {p}] - v)
        values.append(phi)
    everyone, nobody = frozenset(players), frozenset[str]()
    return ShapleyValues(
        tuple(players), tuple(values), worth[everyone] - worth[nobody], "exact",
        coalitions=len(worth),
    )  # fmt: skip


def monte_carlo(
    players: Sequence[str], value: Game, *, permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0
) -> ShapleyValues:
    """The mean marginal contribution over ``permutations`` random orders, and its standard
    error (the standard deviation of the contributions over the square root of the orders)."""
    if permutations < 2:
        msg = f"permutations must be at least 2, got {permutations}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    n = len(players)
    gains = np.zeros((permutations, n))
    seen: set[frozenset[str]] = set()
    for r in range(permutations):
        coalition: frozenset[str] = frozenset()
        before = value(coalition)
        for j in rng.permutation(n):
            coalition = coalition | {players[j]}
            after = value(coalition)
            seen.add(coalition)
            gains[r, j] = after - before
            before = after
    means = gains.mean(axis=0)
    errors = gains.std(axis=0, ddof=1) / math.sqrt(permutations)
    total = value(frozenset(players)) - value(frozenset())
    return ShapleyValues(
        tuple(players), tuple(float(m) for m in means), total, "monte_carlo",
        tuple(float(e) for e in errors), permutations, len(seen) + 1,
    )  # fmt: skip
