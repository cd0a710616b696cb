"""第4-4 申請書等の保存: which documents the 市区町村長 must retain.

Items ア–ケ are (略) in the amendment text and unchanged; the amendment deletes
コ 交付記録簿 (「第4-4-(1)-コ」). The labels below name what the shown text lets us
name; the rest stand as the guidelines' own item letters.
"""

from __future__ import annotations

from dataclasses import dataclass

from device.procedures.versions import RuleVersion

RETENTION_CITATION = "第4-4-(1)"


@dataclass(frozen=True)
class RetainedDocument:
    """One entry of the retention schedule."""

    item: str  # the guidelines' item letter, e.g. "コ"
    document: str  # identifier used in case files
    title_ja: str
    title_en: str

    @property
    def citation(self) -> str:
        """Where the item stands, e.g. 「第4-4-(1)-コ」."""
        return f"{RETENTION_CITATION}-{self.item}"


_COMMON = (
    RetainedDocument("ア", "item_a", "ア（略）", "item a (omitted in the source)"),
    RetainedDocument("イ", "item_i", "イ（略）", "item i (omitted)"),
    RetainedDocument("ウ", "item_u", "ウ（略）", "item u (omitted)"),
    RetainedDocument("エ", "item_e", "エ（略）", "item e (omitted)"),
    RetainedDocument("オ", "item_o", "オ（略）", "item o (omitted)"),
    RetainedDocument("カ", "item_ka", "カ（略）", "item ka (omitted)"),
    RetainedDocument("キ", "item_ki", "キ（略）", "item ki (omitted)"),
    RetainedDocument("ク", "item_ku", "ク（略）", "item ku (omitted)"),
    RetainedDocument("ケ", "item_ke", "ケ（略）", "item ke (omitted)"),
)

#: The schedule per rule set. 改正後 「第4-4-(1)-コ」 交付記録簿: (削除).
SCHEDULE: dict[RuleVersion, tuple[RetainedDocument, ...]] = {
    RuleVersion.CURRENT: (
        *_COMMON,
        RetainedDocument("コ", "issuance_register", "交付記録簿", "issuance register"),
    ),
    RuleVersion.AMENDED: _COMMON,
}


def retained_documents(version: RuleVersion) -> tuple[RetainedDocument, ...]:
    """The documents to retain under ``version``."""
    return SCHEDULE[version]


def find(document: str, version: RuleVersion) -> RetainedDocument | None:
    """The schedule entry for ``document`` under ``version``, or ``None`` when not retained."""
    for entry in SCHEDULE[version]:
        if entry.document == document:
            return entry
    return None


def known_documents() -> frozenset[str]:
    """Every document identifier any schedule names."""
    return frozenset(d.document for docs in SCHEDULE.values() for d in docs)
