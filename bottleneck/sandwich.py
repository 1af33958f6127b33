"""The :class:`Sandwich`: every bound and estimate for one rank ``d`` (theory.md §4)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["BoundValue", "Sandwich", "monotone_envelope"]

KINDS = ("lower", "upper", "estimate", "solver")


@dataclass(frozen=True)
class BoundValue:
    """One named number of the sandwich.

    Attributes
    ----------
    name : str
        Key in :attr:`Sandwich.details` (e.g. ``"U_quad"``).
    value : float
        A gap above the entropy floor, nats/token.
    kind : {"lower", "upper", "estimate", "solver"}
        ``lower``/``upper`` are certified bounds on ``G*(d)``; ``estimate`` predicts it;
        ``solver`` is the gap of an explicit head (hence also a certified upper bound).
    theorem : str
        The result it implements, e.g. ``"Theorem U (Lemma S)"``.
    proof : str
        The proof file, relative to the repository root.
    note : str
        What was chosen (e.g. the Lemma R subset that won).
    certificate : object, optional
        What lets anyone re-verify the value independently (Theorem B:
        a :class:`bottleneck.block_spectral.Certificate` for
        :func:`bottleneck.bounds.verify_theorem_b`).
    """

    name: str
    value: float
    kind: str
    theorem: str
    proof: str
    note: str = ""
    certificate: object = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}")


@dataclass(frozen=True)
class Sandwich:
    """Certified bounds ``lower <= G*(d) <= upper`` and estimates, for one rank ``d``.

    All values are gaps above the entropy floor in nats/token unless named ``loss_*``.

    Attributes
    ----------
    d : int
        Rank of the head.
    bias : bool
        Whether the head has a free bias.
    lower, upper : float
        Best certified lower and upper bounds on ``G*(d)`` (max / min over ``details``).
    entropy : float or None
        ``H(P)`` (None when built from a spectrum alone).
    estimates : dict[str, float]
        Non-certified predictions of ``G*(d)`` (``E_1``, ``E_F``, ...).
    details : dict[str, BoundValue]
        Every bound and estimate by name, with its theorem and proof file.
    """

    d: int
    bias: bool
    lower: float
    upper: float
    entropy: float | None
    estimates: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    @property
    def loss_lower(self) -> float | None:
        """``H(P) + lower``: certified lower bound on the best loss ``L*(d)``."""
        return None if self.entropy is None else self.entropy + self.lower

    @property
    def loss_upper(self) -> float | None:
        """``H(P) + upper``: certified upper bound on ``L*(d)``."""
        return None if self.entropy is None else self.entropy + self.upper

    @property
    def width(self) -> float:
        """``upper - lower``: how loose the certified theory is at this ``d``."""
        return self.upper - self.lower

    def to_record(self) -> dict:
        """One flat row for tables: ``d``, ``entropy``, ``lower``, ``upper`` and the value of
        every detail by name."""
        row = {"d": self.d, "entropy": self.entropy, "lower": self.lower, "upper": self.upper}
        for name, b in self.details.items():
            row[name] = b.value
        return row

    @property
    def lower_detail(self) -> BoundValue | None:
        """The lower bound that won (largest value; the first listed on ties)."""
        return self._winner(("lower",), max)

    @property
    def upper_detail(self) -> BoundValue | None:
        """The upper bound that won (smallest value, explicit heads included)."""
        return self._winner(("upper", "solver"), min)

    @property
    def lower_name(self) -> str | None:
        """Name of the winning lower bound (e.g. ``"L_B"``)."""
        won = self.lower_detail
        return None if won is None else won.name

    @property
    def upper_name(self) -> str | None:
        """Name of the winning upper bound (e.g. ``"U_trunc"`` or ``"solver"``)."""
        won = self.upper_detail
        return None if won is None else won.name

    def _winner(self, kinds, pick):
        values = [b for b in self.details.values() if b.kind in kinds]
        if not values:
            return None
        best = pick(b.value for b in values)
        return next(b for b in values if b.value == best)

    @property
    def solver(self) -> float | None:
        """Gap reached by the numerical solver, if it was run."""
        v = self.details.get("solver")
        return None if v is None else v.value

    def __str__(self) -> str:
        head = f"Sandwich for rank d = {self.d}{' (with bias)' if self.bias else ''}"
        lines = [head, "-" * len(head)]
        if self.entropy is not None:
            lines.append(f"entropy floor H(P)      {self.entropy:.6g} nats/token")
        lines.append(
            f"certified gap:  {self.lower:.6g} <= G*(d) <= {self.upper:.6g}   (nats/token)"
        )
        if self.entropy is not None:
            lines.append(f"certified loss: {self.loss_lower:.6g} <= L*(d) <= {self.loss_upper:.6g}")
        low, up = self.lower_detail, self.upper_detail
        if low is not None and up is not None:
            lines.append(
                f"won by: lower {low.name} ({low.theorem}), upper {up.name} ({up.theorem})"
            )
        order = {"lower": 0, "solver": 1, "upper": 2, "estimate": 3}
        rows = sorted(self.details.values(), key=lambda b: (order[b.kind], b.value))
        width = max((len(b.name) for b in rows), default=4)
        for b in rows:
            note = f"  [{b.note}]" if b.note else ""
            lines.append(f"  {b.kind:<8} {b.name:<{width}} = {b.value:<12.6g} {b.theorem}{note}")
        return "\n".join(lines)


def monotone_envelope(sandwiches) -> list[Sandwich]:
    """Sandwiches for several ranks, each tightened by its neighbours' certified bounds.

    ``G*(d)`` is non-increasing in ``d`` (a rank-``d`` head is a rank-``d'`` head for
    ``d <= d'``), so a lower bound certified at ``d' >= d`` also holds at ``d``, and an upper
    bound (an explicit head) certified at ``d'' <= d`` also holds at ``d``. Where a neighbour
    is strictly better, the result gains ``lower_envelope`` / ``upper_envelope`` details
    naming the rank and bound they come from. Same order as given; ``d`` may repeat.
    Proof: the inclusion of rank-``d`` heads in rank-``d'`` heads (proofs/rank_fact.md).
    """
    from dataclasses import replace

    items = list(sandwiches)
    out = []
    for s in items:
        details = dict(s.details)
        above = [t for t in items if t.d >= s.d and t.lower > s.lower]
        below = [t for t in items if t.d <= s.d and t.upper < s.upper]
        lower, upper = s.lower, s.upper
        if above:
            best = max(above, key=lambda t: t.lower)
            lower = best.lower
            details["lower_envelope"] = BoundValue(
                "lower_envelope",
                lower,
                "lower",
                f"G*(d) >= G*({best.d}): monotone in d",
                "proofs/rank_fact.md",
                f"{best.lower_name} at d = {best.d}",
            )
        if below:
            best = min(below, key=lambda t: t.upper)
            upper = best.upper
            details["upper_envelope"] = BoundValue(
                "upper_envelope",
                upper,
                "upper",
                f"G*(d) <= G*({best.d}): monotone in d",
                "proofs/rank_fact.md",
                f"{best.upper_name} at d = {best.d}",
            )
        out.append(replace(s, lower=lower, upper=upper, details=details))
    return out
