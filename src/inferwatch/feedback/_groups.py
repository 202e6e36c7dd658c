"""Quality kept apart per traffic group (holdout, treated, explored): mean, variance, difference.

Each group keeps a count, a mean and a sum of squared deviations (Welford's
update, Chan's merge), so memory is a few numbers per group whatever the
traffic, and two accumulators (two replicas, two windows) merge exactly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from statistics import NormalDist
from typing import Any

__all__ = ["GroupDifference", "GroupQuality", "GroupStats"]

#: The group values go to once ``max_groups`` distinct groups are kept.
OTHER = "_other"
#: Longest group name kept (a name is a label, not free text).
MAX_GROUP_CHARS = 64


@dataclasses.dataclass(frozen=True)
class GroupStats:
    """One group's quality: ``n`` values, their ``mean``, ``variance`` (ddof 1) and the
    mean's standard error."""

    n: int
    mean: float
    variance: float
    stderr: float


@dataclasses.dataclass(frozen=True)
class GroupDifference:
    """``treated`` minus ``control`` in mean quality, with a normal (Welch) interval.

    ``relative`` is the difference over the control's mean (NaN when that is 0).
    """

    treated: str
    control: str
    difference: float
    stderr: float
    ci_low: float
    ci_high: float
    confidence: float
    relative: float


class GroupQuality:
    """A quality measure (reward, 0/1 correctness, loss) accumulated per group.

    ::

        quality = GroupQuality()
        group = "holdout" if inferwatch.feedback.holdout(user_id) else "treated"
        quality.add(group, reward)                   # when the reward is known
        quality.compare("treated", "holdout").ci_low > 0  # the model helps

    At most ``max_groups`` groups are kept apart; values of further groups
    go to ``_other`` (counted in :attr:`overflowed`), so memory stays bounded
    however many group names arrive. Not thread-safe: keep
    one per thread, or add under a lock, and :meth:`merge` them.
    """

    __slots__ = ("_groups", "max_groups", "overflowed")

    def __init__(self, max_groups: int = 16) -> None:
        if isinstance(max_groups, bool) or not isinstance(max_groups, int) or max_groups < 1:
            raise ValueError(f"max_groups must be a positive integer, got {max_groups!r}")
        self.max_groups = max_groups
        #: group -> [n, mean, m2]
        self._groups: dict[str, list[float]] = {}
        #: Values that went to ``_other`` because ``max_groups`` groups were kept.
        self.overflowed = 0

    def _slot(self, group: Any, n: int = 1) -> list[float]:
        """The state of ``group`` (created), or of ``_other`` past ``max_groups``."""
        if not isinstance(group, str) or not 0 < len(group) <= MAX_GROUP_CHARS:
            raise ValueError(
                f"group must be a name of 1 to {MAX_GROUP_CHARS} characters "
                f"(e.g. 'holdout', 'treated'), got {group!r}")
        slot = self._groups.get(group)
        if slot is None:
            if len(self._groups) - (OTHER in self._groups) >= self.max_groups:
                self.overflowed += n
                group = OTHER
                slot = self._groups.get(group)
            if slot is None:
                slot = self._groups[group] = [0.0, 0.0, 0.0]
        return slot

    def add(self, group: str, value: float) -> None:
        """Add one quality value (finite) to ``group``."""
        x = float(value)
        if not math.isfinite(x):
            raise ValueError(f"quality values must be finite, got {value!r}")
        slot = self._slot(group)
        n = slot[0] + 1.0
        delta = x - slot[1]
        slot[0] = n
        slot[1] += delta / n
        slot[2] += delta * (x - slot[1])

    def add_many(self, group: str, values: Iterable[float]) -> None:
        """Add several values to one group."""
        for value in values:
            self.add(group, value)

    def merge(self, other: GroupQuality) -> GroupQuality:
        """Add ``other``'s values group by group (Chan et al.'s pairwise combination)."""
        if not isinstance(other, GroupQuality):
            raise TypeError(f"can only merge GroupQuality, got {type(other).__name__}")
        for group, (n_b, mean_b, m2_b) in list(other._groups.items()):
            slot = self._slot(group, int(n_b))
            n_a, mean_a, m2_a = slot
            n = n_a + n_b
            if n == 0:
                continue
            delta = mean_b - mean_a
            slot[0] = n
            slot[1] = mean_a + delta * n_b / n
            slot[2] = m2_a + m2_b + delta * delta * n_a * n_b / n
        self.overflowed += other.overflowed
        return self

    def groups(self) -> dict[str, GroupStats]:
        """Every group's :class:`GroupStats`, by name."""
        out = {}
        for group, (n, mean, m2) in sorted(self._groups.items()):
            variance = m2 / (n - 1) if n > 1 else math.nan
            out[group] = GroupStats(int(n), mean, variance,
                                    math.sqrt(variance / n) if n > 1 else math.nan)
        return out

    def compare(self, treated: str = "treated", control: str = "holdout",
                confidence: float = 0.95) -> GroupDifference:
        """The difference in mean quality between two groups, with its interval."""
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
        stats = self.groups()
        missing = [g for g in (treated, control) if g not in stats]
        if missing:
            raise KeyError(f"no values for group(s) {', '.join(map(repr, missing))}; "
                           f"groups seen: {', '.join(stats) or 'none'}")
        a, b = stats[treated], stats[control]
        difference = a.mean - b.mean
        stderr = math.sqrt(a.stderr ** 2 + b.stderr ** 2)
        z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
        relative = difference / b.mean if b.mean != 0 else math.nan
        return GroupDifference(treated, control, difference, stderr, difference - z * stderr,
                               difference + z * stderr, confidence, relative)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state; :meth:`from_dict` reads it back."""
        return {"max_groups": self.max_groups, "overflowed": self.overflowed,
                "groups": {g: list(v) for g, v in self._groups.items()}}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> GroupQuality:
        quality = cls(int(state["max_groups"]))
        quality.overflowed = int(state.get("overflowed", 0))
        for group, (n, mean, m2) in state["groups"].items():
            quality._groups[str(group)] = [float(n), float(mean), float(m2)]
        return quality
