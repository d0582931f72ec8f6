"""The sequential test behind `pick winner by` (SIGNALS.md section 4).

A mixture sequential probability ratio test (mSPRT) on the difference of two
rates, as in Johari, Koomen, Pekelis and Walsh, "Peeking at A/B Tests: Why it
matters, and what to do about it" (KDD 2017), and Johari, Pekelis and Walsh,
"Always Valid Inference: Continuous Monitoring of A/B Tests" (Operations
Research, 2022).  With θ̂ the difference of the two observed rates and V its
variance under the null (pooled rate p̄: V = p̄(1 − p̄)(1/n_a + 1/n_b)), the
likelihood ratio mixed over a normal prior θ ~ N(0, τ²) is

    Λ = sqrt(V / (V + τ²)) · exp(τ² θ̂² / (2 V (V + τ²)))

and 1/Λ, kept at its running minimum, is an always-valid p-value: under "no
difference" the chance that Λ *ever* reaches 1/α, however often it is looked
at, is at most α (Ville's inequality; the normal approximation makes it hold
as the counts grow).  Looking at every tick therefore costs nothing, unlike a
fixed-sample z-test re-run at every look.

With k variants, every pair is tested at α / (k (k − 1) / 2) (Bonferroni), and
a variant wins when it beats every other one: the chance of any false winner
stays below α.  τ only trades power between small and large differences; it
never affects the guarantee.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# The prior's spread on the difference of rates: tuned for differences of a
# few points (a 10% rate against 15-20%), the size follow-up tests look for.
TAU = 0.05


@dataclass(frozen=True, slots=True)
class Arm:
    """One variant's figures: sends counted so far and how many had the event."""

    name: str
    trials: int
    successes: int

    @property
    def rate(self) -> float | None:
        return self.successes / self.trials if self.trials else None


@dataclass(frozen=True, slots=True)
class Verdict:
    winner: str | None
    p_value: float  # the winner's (or the leader's) largest pairwise p-value, 1/Λ capped at 1
    alpha: float  # 1 - confidence
    level: float  # the per-pair level after Bonferroni
    arms: tuple[Arm, ...]

    def figures(self) -> dict[str, object]:
        """What a decision records: JSON-able."""
        return {"p_value": self.p_value, "alpha": self.alpha, "pair_level": self.level, "tau": TAU,
                "method": "mSPRT (Johari et al. 2017), normal mixture, pooled variance, Bonferroni over pairs",
                "arms": [{"variant": a.name, "counted": a.trials, "successes": a.successes} for a in self.arms]}


def log_lr(a: Arm, b: Arm, tau: float = TAU) -> float:
    """log Λ for "a and b differ" (0 when there is nothing to compare yet)."""
    if not a.trials or not b.trials:
        return 0.0
    pooled = (a.successes + b.successes) / (a.trials + b.trials)
    v = pooled * (1 - pooled) * (1 / a.trials + 1 / b.trials)
    if v <= 0:  # every send had the event, or none: no evidence of a difference
        return 0.0
    diff = a.successes / a.trials - b.successes / b.trials
    t2 = tau * tau
    return 0.5 * math.log(v / (v + t2)) + t2 * diff * diff / (2 * v * (v + t2))


def p_value(a: Arm, b: Arm, tau: float = TAU) -> float:
    """1/Λ at this look, capped at 1."""
    return min(1.0, math.exp(-log_lr(a, b, tau)))


def decide(arms: list[Arm], confidence: float) -> Verdict:
    """The winner at this look, if one variant beats every other at the confidence (a percentage)."""
    alpha = round(1 - confidence / 100, 12)  # 95% -> 0.05, not 0.050000000000000044
    pairs = len(arms) * (len(arms) - 1) // 2
    level = alpha / pairs if pairs else alpha
    ranked = sorted(arms, key=lambda a: (-(a.rate or 0.0), arms.index(a)))
    leader = ranked[0] if ranked else None
    if leader is None or len(arms) < 2:
        return Verdict(None, 1.0, alpha, level, tuple(arms))
    worst = max(p_value(leader, other) for other in arms if other is not leader)
    better = all((leader.rate or 0.0) > (other.rate or 0.0) for other in arms if other is not leader)
    winner = leader.name if better and worst <= level else None
    return Verdict(winner, worst, alpha, level, tuple(arms))
