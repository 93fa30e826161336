"""What actions tell the operator: lines, and the report of a rig action (one outcome per camera)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rigtui.gopro.rig import Outcome


@dataclass(frozen=True)
class Line:
    """A line for the operator; `problem` lines are shown as trouble (red, a notification)."""

    text: str
    problem: bool = False


@dataclass(frozen=True)
class Report:
    verb: str  # what the action is called in the operator's words ("record", "sync time")
    outcomes: list[Outcome]
    problems: list[str] = field(default_factory=list)  # readiness findings that stopped the action
    dispatch_spread_ms: float | None = None
    extra: dict[str, object] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what did not stop the action but should be known

    @property
    def ok(self) -> bool:
        return not self.problems and all(o.ok for o in self.outcomes)

    @property
    def refused(self) -> bool:
        """Stopped before any camera was asked (the readiness check failed)."""
        return bool(self.problems)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def summary(self) -> str:
        """One line on the whole rig."""
        if self.refused:
            return f"{self.verb}: refused; {len(self.problems)} camera problem(s)"
        spread = f"; dispatch spread {self.dispatch_spread_ms:.3f} ms" if self.dispatch_spread_ms is not None else ""
        return f"{self.verb}: {len(self.outcomes) - len(self.failed)} of {len(self.outcomes)} cameras ok{spread}"

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "outcomes": [o.to_json() for o in self.outcomes],
            "problems": self.problems,
            "dispatch_spread_ms": self.dispatch_spread_ms,
            "warnings": self.warnings,
            **self.extra,
        }
