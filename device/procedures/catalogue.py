"""The catalogue of procedures in the 公的個人認証サービス事務処理要領 that the counter runs.

Ids follow the guidelines' own numbering: ``"2-1-1"`` is 第2-1-(1). 第2 covers
residents (住所地市区町村), 第3 people who moved abroad (附票管理市区町村),
第4 the ancillary tasks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from device.procedures import texts
from device.procedures.facts import Actor
from device.procedures.versions import RuleVersion
from madoguchi.errors import RuleError


class Population(enum.Enum):
    """Whose records the municipality keeps."""

    RESIDENT = "第2"  # 住民票 — 住所地市区町村
    OVERSEAS = "第3"  # 戸籍の附票 — 附票管理市区町村
    ANCILLARY = "第4"
    #: Not in the guidelines at all: what J-LIS and the municipalities publish.
    OUTSIDE = "要領外"


class Kind(enum.Enum):
    """What a procedure does."""

    ISSUANCE = "issuance"  # 新規発行／更新
    REVOCATION = "revocation"  # 失効（申請／秘密鍵の漏えい等届出）
    DISCLOSURE = "disclosure"  # 認証業務情報の開示請求の受付
    LOST_CARD_FOUND = "lost_card_found"  # 一時的保留解除等
    RETENTION = "retention"  # 申請書等の保存
    PIN_RESET = "pin_reset"  # 暗証番号の初期化・再設定 (outside the guidelines)


@dataclass(frozen=True)
class ProcedureInfo:
    """One procedure: its id, where it is in the guidelines, who may run it."""

    id: str
    citation: str
    kind: Kind
    population: Population
    by_proxy: bool

    @property
    def actors(self) -> tuple[Actor, ...]:
        """The actors this procedure is for."""
        if self.kind is Kind.RETENTION:
            return ()
        if self.kind is Kind.LOST_CARD_FOUND:
            return (Actor.SELF, Actor.PROXY, Actor.LEGAL_REPRESENTATIVE)
        if self.kind is Kind.PIN_RESET:
            return (Actor.SELF, Actor.PROXY)  # a 法定代理人 is not modelled
        if self.by_proxy:
            return (Actor.PROXY, Actor.LEGAL_REPRESENTATIVE)
        return (Actor.SELF,)

    @property
    def outside_guidelines(self) -> bool:
        """Whether the procedure lies outside the guidelines (its rules cite 「要領外-…」)."""
        return self.population is Population.OUTSIDE

    @property
    def needs_identity(self) -> bool:
        """Whether a person is identified (every procedure but the retention query)."""
        return self.kind is not Kind.RETENTION

    def title(self, language: str = "ja") -> str:
        """The procedure's title in ``language``."""
        return texts.procedure_title(self.id, language)


def _p(pid: str, kind: Kind, pop: Population, proxy: bool) -> ProcedureInfo:
    chapter, section, *item = pid.split("-")
    citation = f"第{chapter}-{section}" + (f"-({item[0]})" if item else "")
    return ProcedureInfo(pid, citation, kind, pop, proxy)


_R, _O, _A = Population.RESIDENT, Population.OVERSEAS, Population.ANCILLARY

#: 暗証番号の初期化・再設定 lies outside the guidelines: its id and citations have a form
#: none of theirs has (theirs: 「2-1-1」, 「第2-1-(1)-ア」), and ``要領外`` finds them all
#: (rules in ``device.procedures.pin_reset``).
PIN_RESET_ID = "pin-reset"
PIN_RESET_OUTSIDE = "要領外"
PIN_RESET_CITATION = f"{PIN_RESET_OUTSIDE}-初期化"

#: Every procedure, by id.
PROCEDURES: dict[str, ProcedureInfo] = {
    p.id: p
    for p in (
        _p("2-1-1", Kind.ISSUANCE, _R, False),
        _p("2-1-2", Kind.ISSUANCE, _R, True),
        _p("2-2-1", Kind.REVOCATION, _R, False),
        _p("2-2-2", Kind.REVOCATION, _R, True),
        _p("2-3-1", Kind.DISCLOSURE, _R, False),
        _p("2-3-2", Kind.DISCLOSURE, _R, True),
        _p("3-1-1", Kind.ISSUANCE, _O, False),
        _p("3-1-2", Kind.ISSUANCE, _O, True),
        _p("3-2-1", Kind.REVOCATION, _O, False),
        _p("3-2-2", Kind.REVOCATION, _O, True),
        _p("3-3-1", Kind.DISCLOSURE, _O, False),
        _p("3-3-2", Kind.DISCLOSURE, _O, True),
        _p("4-3", Kind.LOST_CARD_FOUND, _A, False),
        _p("4-4", Kind.RETENTION, _A, False),
        ProcedureInfo(PIN_RESET_ID, PIN_RESET_CITATION, Kind.PIN_RESET, Population.OUTSIDE,
                      by_proxy=False),
    )
}


def procedure(pid: str) -> ProcedureInfo:
    """The procedure with id ``pid`` (``"2-1-1"``, also accepted: ``"第2-1-(1)"``;
    ``"pin-reset"`` or ``"要領外-初期化"`` for 暗証番号の初期化・再設定)."""
    key = pid.strip()
    if key == PIN_RESET_CITATION:
        key = PIN_RESET_ID
    if key.startswith("第"):
        key = key[1:].replace("(", "").replace(")", "")
    try:
        return PROCEDURES[key]
    except KeyError:
        known = ", ".join(PROCEDURES)
        raise RuleError(f"unknown procedure {pid!r} (known: {known})") from None


# -- Numbered lists whose labels the amendment changed ------------------------------------------

#: 第1-2 定義: the numbers of the definitions around the new (32). Content of (33)–(45) is (略).
DEFINITIONS: dict[RuleVersion, dict[int, str]] = {
    RuleVersion.CURRENT: {31: "個人番号カード", **{n: f"(略) 旧({n})" for n in range(32, 45)}},
    RuleVersion.AMENDED: {
        31: "個人番号カード",
        32: "カード代替電磁的記録",  # 「第1-2-(32)」 番号利用法第2条第8項
        **{n: f"(略) 旧({n - 1})" for n in range(33, 46)},
    },
}

_IROHA = "アイウエオカキクケコサシスセソタチツテトナ"


def _labels(last_before: str, tail: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"({c})" for c in _IROHA[: _IROHA.index(last_before) + 1]) + tuple(
        f"({c})" for c in tail
    )


#: Item labels of the proxy revocation forms, where the amendment renumbered items.
#: 「第2-2-(2)-イ」: (ア)–(ツ) then (ト) → (テ).
#: 「第3-2-(2)-イ」: (ア)–(ツ) then (ソ)–(チ) → (テ)–(ナ).
FORM_LABELS: dict[tuple[str, RuleVersion], tuple[str, ...]] = {
    ("2-2-2", RuleVersion.CURRENT): _labels("ツ", ("ト",)),
    ("2-2-2", RuleVersion.AMENDED): _labels("ツ", ("テ",)),
    ("3-2-2", RuleVersion.CURRENT): _labels("ツ", ("ソ", "タ", "チ")),
    ("3-2-2", RuleVersion.AMENDED): _labels("ツ", ("テ", "ト", "ナ")),
}


def form_labels(pid: str, version: RuleVersion) -> tuple[str, ...]:
    """The item labels of the procedure's proxy form, or ``()`` when the text does not show them."""
    return FORM_LABELS.get((pid, version), ())
