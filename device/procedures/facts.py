"""The facts a procedure is decided on: what the clerk records and the card driver reports.

Every field that a rule may need but that nobody has recorded yet is ``None``;
a rule that needs it asks with :func:`need`, and the engine turns that into the
next checklist step. Booleans whose absence has a plain meaning ("not filed
with a move-in notice") default to ``False`` instead.

There is deliberately no field for a PIN or an individual number (My Number):
the PIN pad reports only the *result* of the verification (:class:`PinResult`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from device.procedures.findings import Pending

_T = TypeVar("_T")


def appropriate(evidence: Evidence, prefix: str) -> bool:
    """Whether the mayor deems ``evidence`` appropriate (asked only where it is a judgement)."""
    if evidence.kind in (EvidenceKind.OTHER_DOCUMENT, EvidenceKind.REPLY_FORM):
        return need(evidence.mayor_deems_appropriate, f"{prefix}.mayor_deems_appropriate")
    return evidence.mayor_deems_appropriate is not False


def need(value: _T | None, step: str) -> _T:
    """``value``, or stop the evaluation at checklist step ``step`` when it is unknown."""
    if value is None:
        raise Pending(step)
    return value


class Actor(enum.Enum):
    """Who stands at the counter."""

    SELF = "self"  # 本人（申請者／利用者、開示請求者）
    PROXY = "proxy"  # 代理人（任意代理人）
    #: 法定代理人（改正後は代理行為目録等のある保佐人・補助人・任意後見人を含む）
    LEGAL_REPRESENTATIVE = "legal_representative"


class Channel(enum.Enum):
    """How a piece of evidence reached the counter."""

    PRESENTED = "presented"  # 提示
    SUBMITTED = "submitted"  # 提出
    TRANSMITTED = "transmitted"  # 送信（電磁的記録）


class EvidenceKind(enum.Enum):
    """The kind of identity evidence (本人確認書類又は電磁的記録)."""

    NONE = "none"  # nothing suitable was brought
    MY_NUMBER_CARD = "my_number_card"  # 個人番号カード
    JUKI_CARD = "juki_card"  # 住基カード
    PASSPORT = "passport"  # 旅券
    OTHER_DOCUMENT = "other_document"  # その他市区町村長が適当と認める書類 ((B)～(D) 等、略)
    REPLY_FORM = "reply_form"  # 照会書に対する回答書及び市区町村長が適当と認める書類
    APP_SCREEN = "app_screen"  # 学生証等に相当するアプリの映像面
    BIRTH_REGISTRATION_DOCUMENT = "birth_registration_document"  # 1-(1)-ア-(イ)-A-(F)
    E_RECORD = "e_record"  # 個人番号カード／カード代替電磁的記録を構成する電磁的記録


class PinResult(enum.Enum):
    """The outcome of the 住基 application PIN verification on the integrated terminal."""

    VERIFIED = "verified"
    FAILED = "failed"
    BLOCKED = "blocked"  # no tries left: counts as a failed verification


class OperationStatus(enum.Enum):
    """個人番号カード運用状況 as the central server reports it."""

    IN_OPERATION = "in_operation"  # 運用中
    SUSPENDED = "suspended"  # 一時停止
    ABOLISHED = "abolished"  # 廃止
    UNKNOWN = "unknown"  # could not be checked


class DeclarationItems(enum.Enum):
    """Which items the person declared in the fallback (申告), or that none was made."""

    RESIDENT_RECORD = "resident_record"  # 住民票の記載事項
    KOSEKI_FUHYO = "koseki_fuhyo"  # 戸籍の附票の記載事項
    MAYOR_APPROVED = "mayor_approved"  # その他の市町村長が適当と認める事項
    NONE = "none"  # 申告なし: the person could not declare the items
    REFUSED = "refused"  # 申告拒否: the person would not declare them


class DeclarationSubject(enum.Enum):
    """Whose items were declared."""

    APPLICANT = "applicant"  # 申請者／利用者に係る
    PROXY = "proxy"  # 代理人本人に係る


class ERecordSource(enum.Enum):
    """What a transmitted electronic record was taken from."""

    MY_NUMBER_CARD = "my_number_card"
    CARD_SUBSTITUTE_RECORD = "card_substitute_record"  # カード代替電磁的記録（第1-2-(32)）


class ERecordField(enum.Enum):
    """Items of a transmitted record: 「氏名、住所又は生年月日及び本人の写真」."""

    NAME = "name"
    ADDRESS = "address"
    DOB = "dob"
    PHOTO = "photo"


class LegalRepKind(enum.Enum):
    """Kinds of legal representative (法定代理人)."""

    STATUTORY = "statutory"  # 親権者・成年後見人等
    CURATOR = "curator"  # 保佐人
    ASSISTANT = "assistant"  # 補助人
    VOLUNTARY_GUARDIAN = "voluntary_guardian"  # 任意後見人


class LegalRepProof(enum.Enum):
    """Documents proving legal representation (戸籍謄本等)."""

    FAMILY_REGISTER_COPY = "family_register_copy"  # 戸籍謄本
    AGENCY_LIST = "agency_list"  # 登記事項証明書の代理行為目録又は代理権目録
    OTHER_PROOF = "other_proof"  # その他の法定代理人であることを示す書類


class FeeStatus(enum.Enum):
    """Whether the transaction's fee was paid or waived."""

    PAID = "paid"  # 納付
    EXEMPT = "exempt"  # 免除


class PinConcealment(enum.Enum):
    """How the applicant hid the PIN from the proxy."""

    STICKER = "sticker"  # 隠蔽シール（目隠しシール）
    SEALED = "sealed"  # 封筒に封入・封緘
    NONE = "none"


@dataclass(frozen=True)
class Declaration:
    """The fallback declaration (申告) made when the PIN path is unavailable."""

    items: DeclarationItems | None = None
    subject: DeclarationSubject | None = None
    #: The clerk compared the declared items with the record; ``None`` = not compared.
    matches_record: bool | None = None


@dataclass(frozen=True)
class CardFacts:
    """A 個人番号カード or 住基カード presented as identity evidence, and its terminal checks."""

    expiry: date | None = None
    #: The clerk confirmed identity by the card photo etc. (needed in the grace period).
    photo_confirmed: bool | None = None
    face_auth: bool | None = None  # 顔認証カード
    basic4: bool | None = None  # 住基カード: shows the 基本4情報 (asked for 住基カード only)
    issued_on: date | None = None  # 住基カード: issue date (chip check from 2009-04-20)
    operator_authenticated: bool | None = None  # 統合端末の操作者の認証
    pin_result: PinResult | None = None
    operation_status: OperationStatus | None = None
    chip_face_match: bool | None = None  # 券面事項確認情報と券面記載事項の一致
    declaration: Declaration | None = None
    #: The chip's signatures did not verify: 偽造カードの疑い (its own reason, flagged).
    counterfeit_suspected: bool | None = None


@dataclass(frozen=True)
class ERecordFacts:
    """A transmitted electronic record used as the proxy's identity evidence."""

    source: ERecordSource | None = None
    fields: frozenset[ERecordField] | None = None
    #: Sent with a program equivalent to one certified under 番号利用法18条の3第1項.
    certified_program: bool | None = None
    #: Sender binding checked with a program equivalent to 番号利用法18条の4第1項's.
    sender_verified: bool | None = None


@dataclass(frozen=True)
class AppScreenFacts:
    """An app screen (映像面) offered instead of a document."""

    listed_documents_difficult: bool | None = None
    screen_operation: bool | None = None  # the person was asked to operate the screen


@dataclass(frozen=True)
class Evidence:
    """One piece of identity evidence and the clerk's comparison of it."""

    kind: EvidenceKind | None = None
    channel: Channel = Channel.PRESENTED
    #: Contents and photo compared with the application (or 委任状／戸籍謄本等) and they match.
    contents_match: bool | None = None
    #: 市区町村長が適当と認める: asked for other documents and reply forms; a card or a
    #: passport is appropriate unless recorded otherwise.
    mayor_deems_appropriate: bool | None = None
    card: CardFacts | None = None
    e_record: ERecordFacts | None = None
    app_screen: AppScreenFacts | None = None


@dataclass(frozen=True)
class ApplicationFacts:
    """The application itself."""

    received: bool | None = None
    #: 第2-1-(2): 出生の届出と併せて申請 (asked for that procedure only).
    with_birth_registration: bool | None = None
    under_specified_age: bool | None = None  # 特定年齢未満申請者
    at_fuhyo_municipality: bool | None = None  # 第3: applied at the 附票管理市区町村
    content_doubt: bool | None = None  # 氏名・国外転出（予定）日・生年月日・男女の別等に疑義
    #: Certificates applied for: "sign" (署名用) and/or "auth" (利用者証明用).
    certificates: frozenset[str] = frozenset({"sign", "auth"})
    #: The fee as a fact of the case: ``paid`` (the policy's amount) or ``exempt`` (免除,
    #: nothing collected). ``None``: the fee policy alone decides.
    fee: FeeStatus | None = None


@dataclass(frozen=True)
class PowerOfAttorney:
    """委任状."""

    present: bool | None = None
    signed_or_sealed: bool | None = None  # 署名又は記名押印


@dataclass(frozen=True)
class ProofOmission:
    """The conditions for omitting 戸籍謄本等."""

    honseki_in_jurisdiction: bool | None = None  # 本籍地が管内
    municipality_confirmed: bool | None = None  # 市町村が法定代理人であることを確認できる
    mayor_decided: bool | None = None  # 市町村長の判断


@dataclass(frozen=True)
class ReplyForm:
    """The applicant's 回答書 to the municipality's 照会書."""

    present: bool | None = None
    pin_concealment: PinConcealment | None = None


@dataclass(frozen=True)
class PinDocument:
    """The document carrying the PIN when no reply form is needed."""

    present: bool | None = None
    concealed: bool | None = None


@dataclass(frozen=True)
class ProxyFacts:
    """Everything about a proxy (代理人) and the documents they bring."""

    legal_rep_kind: LegalRepKind | None = None
    #: 代理行為目録等により代理権を有していると認められる (asked for 保佐人・補助人・任意後見人).
    agency_list_shows_power: bool | None = None
    power_of_attorney: PowerOfAttorney | None = None
    legal_rep_proof: frozenset[LegalRepProof] | None = None  # [] = none brought
    proof_omission: ProofOmission | None = None
    with_move_notice: bool | None = None  # 転入届又は転居届と併せて
    same_household: bool | None = None  # 同一世帯人
    reply_form: ReplyForm | None = None
    pin_document: PinDocument | None = None
    id: Evidence | None = None


@dataclass(frozen=True)
class InquiryRequest:
    """How the sending of the 照会書 was asked for, and the checks made then."""

    in_person: bool | None = None  # 来庁し
    identity_checked: bool | None = None  # 可能な限り本人確認
    requester_exists: bool | None = None  # 存在確認
    form_presented: bool | None = None  # 申請書／開示請求書の提示


@dataclass(frozen=True)
class LostCardFacts:
    """第4-3: a card reported lost has been found."""

    found: bool | None = None
    held_certificates: tuple[str, ...] = ()  # serials of the certificates on 一時保留
    explained: bool | None = None  # the need to revoke was explained
    revocation_application: bool | None = None  # 失効申請を受けた
    new_issuance: bool | None = None  # 必要に応じて新規発行 (asked once the revocation stands)


@dataclass(frozen=True)
class DisclosureFormFacts:
    """第3-3-(2)-イ: items of the 開示請求書（代理人） that have their own rule."""

    proxy_phone: str | None = None  # (サ)
    proxy_email: str | None = None  # (ス)


@dataclass(frozen=True)
class RetentionQuery:
    """第4-4: is this document in the retention schedule?"""

    document: str | None = None


class PinResetTarget(enum.Enum):
    """A PIN 暗証番号の初期化・再設定 can write (the TUI's PIN codes)."""

    AUTH = "jpki_auth"  # 利用者証明用電子証明書暗証番号（数字4桁）
    SIGN = "jpki_sign"  # 署名用電子証明書暗証番号（英大文字・数字6～16桁）
    SUPPORT = "support"  # 券面事項入力補助用暗証番号（数字4桁）
    JUKI = "juki"  # 住民基本台帳用暗証番号（数字4桁）


class PinWriteBy(enum.Enum):
    """Who did the card step of a reset (``device.card.pin_writer.PinWriteOutcome``)."""

    WRITTEN = "written"  # this appliance wrote it (the virtual card's test terminal)
    HANDED_TO_JLIS = "handed_to_jlis"  # the J-LIS terminal did it; the clerk confirmed
    NOT_DONE = "not_done"  # the card step did not complete


@dataclass(frozen=True)
class PinResetReplyForm:
    """The 照会書兼回答書 the holder filled in and the proxy brought back."""

    present: bool | None = None
    pin_concealment: PinConcealment | None = None


@dataclass(frozen=True)
class PinWriteStep:
    """PINs written without the current one — a reset's card step, or the new PINs of an
    issuance — as the counter's screen recorded them (never a typed answer)."""

    by: PinWriteBy | None = None
    #: The PINs whose card step completed; ``None``: every PIN chosen (the clerk confirmed
    #: the J-LIS terminal did them all).
    written: frozenset[PinResetTarget] | None = None
    #: By proxy: the new PIN was entered from the concealed reply form (that it was,
    #: never anything of it).
    from_concealed_form: bool | None = None


@dataclass(frozen=True)
class PinResetFacts:
    """暗証番号の初期化・再設定 (outside the guidelines: ``device.procedures.pin_reset``)."""

    pins: frozenset[PinResetTarget] | None = None
    card_brought: bool | None = None  # the card whose PINs are reset is at the counter
    card_photo_match: bool | None = None  # the card's photo shows the person at the counter
    second_id: bool | None = None  # another identity document besides the card (policy)
    reply_form: PinResetReplyForm | None = None
    proxy_id: bool | None = None  # the proxy's own photo ID, checked against the proxy
    holder_id: bool | None = None  # the holder's identity document besides the card (policy)
    power_of_attorney: bool | None = None  # 委任状 (policy)
    card_step: PinWriteStep | None = None


@dataclass(frozen=True)
class Facts:
    """All facts of one transaction."""

    application: ApplicationFacts | None = None
    applicant_id: Evidence | None = None
    proxy: ProxyFacts | None = None
    inquiry_request: InquiryRequest | None = None
    lost_card: LostCardFacts | None = None
    disclosure_form: DisclosureFormFacts | None = None
    retention: RetentionQuery | None = None
    pin_reset: PinResetFacts | None = None
    #: An issuance's new PINs (利用者証明用 PIN, 署名用 password) set on the pad or on the
    #: J-LIS terminal; no rule decides on it, the record says what was done.
    new_pins: PinWriteStep | None = None
