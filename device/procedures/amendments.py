"""The amendment table (新旧対照表): every difference between 現行 and 改正後, by number.

Numbers follow domain-spec §3; each row names where the change stands and the
procedures it touches, so ``madoguchi rules explain`` can list what changed for a
procedure. The summaries shown to the clerk are in :data:`texts.AMENDMENTS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.procedures import texts


@dataclass(frozen=True)
class Amendment:
    """One row of the amendment table."""

    number: int
    citation: str
    procedures: tuple[str, ...]

    def summary(self, language: str = "ja") -> str:
        """What changed, in ``language``."""
        return texts.amendment_summary(self.number, language)


_ALL_PROXY = ("2-1-2", "3-1-2")

#: Every amendment, in table order.
AMENDMENTS: tuple[Amendment, ...] = (
    Amendment(1, "第1-2-(32)", _ALL_PROXY),
    Amendment(2, "第1-2", ()),
    Amendment(3, "第2-1-(1)-ア-(イ)-A-(A)", ("2-1-1",)),
    Amendment(4, "第2-1-(1)-ア-(イ)-B", ("2-1-1",)),
    Amendment(5, "第2-1-(1)-ア-(ケ)", ("2-1-1",)),
    Amendment(6, "第2-1-(1)-ケ", ("2-1-1",)),
    Amendment(7, "第2-1-(1)-コ", ("2-1-1",)),
    Amendment(8, "第2-1-(2)-ア-(ア)-C-(A)", ("2-1-2", "2-2-2", "2-3-2", "3-1-2", "3-2-2",
                                              "3-3-2")),
    Amendment(9, "第2-1-(2)-ア-(ア)-C-(A)", ("2-1-2",)),
    Amendment(10, "第2-1-(2)-ア-(ア)-C-(A)", ("2-1-2",)),
    Amendment(11, "第2-1-(2)-ア-(ア)-C-(B)", ("2-1-2",)),
    Amendment(12, "第2-1-(2)-ア-(ア)-C-(B)", ("2-1-2",)),
    Amendment(13, "第2-1-(2)-ア-(イ)-A", ("2-1-2",)),
    Amendment(14, "第2-1-(2)-ア-(イ)-A-(A)", ("2-1-2",)),
    Amendment(15, "第2-1-(2)-ア-(イ)-B", ("2-1-2",)),
    Amendment(16, "第2-1-(2)-ケ", ("2-1-2",)),
    Amendment(17, "第2-2-(1)-ア-(イ)-B", ("2-2-1", "4-3")),
    Amendment(18, "第2-2-(2)-イ", ("2-2-2",)),
    Amendment(19, "第2-3-(1)-ア-(イ)-A-(F)", ("2-3-1", "2-3-2")),
    Amendment(20, "第2-3-(2)-ア-(ア)-C-(A)", ("2-3-2",)),
    Amendment(21, "第3-1-(1)-ア-(イ)-A", ("3-1-1",)),
    Amendment(22, "第3-1-(1)-ア-(イ)-B", ("3-1-1",)),
    Amendment(23, "第3-1-(1)-ア-(ケ)", ("3-1-1",)),
    Amendment(24, "第3-1-(1)-ケ", ("3-1-1",)),
    Amendment(25, "第3-1-(2)-ア-(ア)-C-(A)", ("3-1-2",)),
    Amendment(26, "第3-1-(2)-ア-(ア)-C-(B)", ("3-1-2",)),
    Amendment(27, "第3-1-(2)-ア-(イ)-A-(A)", ("3-1-2",)),
    Amendment(28, "第3-1-(2)-ア-(イ)-B", ("3-1-2",)),
    Amendment(29, "第3-1-(2)-ケ", ("3-1-2",)),
    Amendment(30, "第3-2-(1)-ア-(イ)-B", ("3-2-1",)),
    Amendment(31, "第3-2-(2)-イ", ("3-2-2",)),
    Amendment(32, "第3-2-(2)-ア", ("3-2-2", "3-3-1")),
    Amendment(33, "第3-3-(2)-ア-(ア)-C-(A)", ("3-3-2",)),
    Amendment(34, "第3-3-(2)-イ-(サ)", ("3-3-2",)),
    Amendment(35, "第3-3-(2)-イ-(ス)", ("3-3-2",)),
    Amendment(36, "第4-3", ("4-3",)),
    Amendment(37, "第4-4-(1)-コ", ("4-4",)),
)


def for_procedure(pid: str) -> tuple[Amendment, ...]:
    """The amendments that touch procedure ``pid``."""
    return tuple(a for a in AMENDMENTS if pid in a.procedures)
