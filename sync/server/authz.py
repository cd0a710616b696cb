"""Who may do what on the central server: the one authorization policy.

Every endpoint of the server (and of the update delivery mounted under
``/updates``) is listed in :data:`ENDPOINTS` with the :class:`Operation` it performs,
how large its body may be and which office or device it concerns. :data:`POLICY`
answers, for every :class:`Role` and operation, what a request about the
principal's *own* office (or own device) and about *another* office gets. The
server's gate (``sync.server.app.Gate``) and the registry rules of the repository
ask :func:`decide`; nothing else decides. ``docs/security.md`` shows
:func:`markdown_table`, and a test keeps the two equal, so the table in the docs is
the table the code enforces.

Principals (issue 13, part 2):

- **counter**: an enrolled device, proven by its client certificate, bound to the
  office it was enrolled for (``devices.office_code``);
- **staff** of an office and the municipality **administrator** of its offices: they
  sign in to the office console (``sync/server/console``, its own listener) with a
  password and a TOTP code; the console makes a :class:`Principal` per office it asks
  about, and asks this same policy (:data:`CONSOLE_PAGES` are its pages);
- **IT**: whoever holds IT's bearer token (today the update delivery's publish token);
  it runs the fleet and reads everything, but decides nothing about a resident's card;
- **issuing authority**: the simulated 機構 (J-LIS) inside the server; it has no HTTP
  credential and acts only when a counter asks it to issue (it registers the serial);
- **anonymous**: no credential at all.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sync.protocol import MAX_BODY_BYTES

#: The mount of the update delivery (``updater/server.py``) inside the central server.
UPDATES_PREFIX = "/updates"

_KIB = 1024
#: Largest body of a small JSON request (registry change, enrolment, issuance, report).
SMALL_BODY = 64 * _KIB
#: Largest batch body.
BATCH_BODY = MAX_BODY_BYTES
#: Largest update bundle IT may publish (``UpdateServerConfig.max_bundle_bytes``).
BUNDLE_BODY = 512 * 1024 * _KIB


class Role(enum.Enum):
    """The kinds of principal the server knows."""

    COUNTER = "counter"
    STAFF = "staff"
    ADMINISTRATOR = "administrator"
    IT = "it"
    ISSUING_AUTHORITY = "issuing-authority"
    ANONYMOUS = "anonymous"

    @property
    def office_bound(self) -> bool:
        """True for the roles that belong to one office."""
        return self in (Role.COUNTER, Role.STAFF, Role.ADMINISTRATOR)


class Answer(enum.IntEnum):
    """What the policy answers: go ahead, or the HTTP status of the refusal."""

    ALLOW = 200
    UNAUTHENTICATED = 401
    FORBIDDEN = 403


class Target(enum.Enum):
    """Whose resource a request is about, seen from the principal."""

    OWN = "own"  # the principal's office (a counter: its own device, for device scope)
    OTHER = "other"


class Scope(enum.Enum):
    """How an operation's target is found."""

    NONE = "none"  # not about any office: own and other are the same answer
    OFFICE = "office"  # an office: the ``office`` query, or the resource's office
    DEVICE = "device"  # a device named in the path (a counter: only itself is own)


class Operation(enum.Enum):
    """Everything a principal can ask of the server."""

    SERVER_TIME = "server time"
    INGEST_BATCH = "ingest a batch of records"
    DEVICE_ME = "read its own device entry"
    READ_CHAIN = "read a device's chain report"
    READ_REPORT = "read the daily 交付状況 report"
    READ_CARD_STATUS = "read a card's 運用状況"
    CHANGE_CARD_STATUS = "change a card's 運用状況"
    READ_CERTIFICATE_STATUS = "read a certificate's status"
    CHANGE_CERTIFICATE_STATUS = "change a certificate's status"
    READ_REGISTRY_AUDIT = "read the registry audit"
    ENROL = "enrol a device (one-time token)"
    READ_ENROLMENT_CA = "read the CA a new counter is asked to trust (no credential)"
    ISSUE_CERTIFICATE = "ask the simulated issuing authority for a certificate"
    READ_OPENAPI = "read the API description"
    UPDATE_LATEST = "read the latest release of a channel"
    UPDATE_DOWNLOAD = "download a bundle"
    UPDATE_PUBLISH = "publish a bundle"
    UPDATE_REPORT = "report a device's update status"
    UPDATE_FLEET = "read the fleet's versions"
    UPDATE_READ_KEY_LIST = "read the published update key list"
    UPDATE_PUBLISH_KEY_LIST = "publish an update key list (signed by a root key)"
    UPDATE_PUBLISH_POINTER = "publish a channel pointer (signed by a pointer key)"
    HEALTH = "is the process alive (load balancer, no credential)"
    READINESS = "can it serve: database reachable, schema current (no credential)"
    READ_TRANSACTIONS = "read the transaction list (no personal data)"
    READ_CONSOLE_AUDIT = "read the console's audit log"
    MANAGE_STAFF = "add staff accounts, lift a lock-out"
    ISSUE_ENROLMENT_TOKEN = "issue a counter's one-time enrolment token (console)"  # noqa: S105
    RECORD_PAYMENT = "record and read payments to J-LIS (console)"
    READ_CLERKS = "read its office's clerk accounts (counter sign-in, offline cache)"
    UPLOAD_SIGN_INS = "upload its clerks' sign-in attempts"
    MANAGE_CLERKS = "add, reset and revoke clerk accounts; read their sign-ins (console)"
    UPDATE_ROLLOUT = "start, widen, halt, resume, abort or complete a staged rollout"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request (or who changes a registry)."""

    role: Role
    office_code: str | None = None
    device_id: str | None = None
    name: str | None = None  # a staff member's or administrator's id (console)

    @property
    def actor(self) -> str:
        """How the audit names this principal."""
        who = self.device_id or self.name
        return f"{self.role.value}:{who}" if who else self.role.value


ANONYMOUS = Principal(Role.ANONYMOUS)
IT = Principal(Role.IT)
ISSUING_AUTHORITY = Principal(Role.ISSUING_AUTHORITY)


@dataclass(frozen=True, slots=True)
class Rule:
    """One cell pair of the table: the answer for the own target and for another."""

    own: Answer
    other: Answer

    @property
    def uniform(self) -> bool:
        """True when the target does not matter."""
        return self.own is self.other


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route of the server: what it does, its largest body, whose it concerns."""

    method: str
    path: str  # a template: ``{name}`` matches one path segment
    operation: Operation
    max_body: int = 0
    json_body: bool = False
    scope: Scope = Scope.NONE
    #: For :attr:`Scope.DEVICE`: the path parameter naming the device.
    device_param: str = ""
    #: For :attr:`Scope.OFFICE`: the office is the ``office`` query parameter (absent:
    #: the principal's own); else the resource's office, which the handler looks up.
    office_query: bool = False
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))


_Y, _N, _X = Answer.ALLOW, Answer.FORBIDDEN, Answer.UNAUTHENTICATED
_CellValue = Answer | tuple[Answer, Answer]


def _row(**cells: _CellValue) -> dict[Role, Rule]:
    """A policy row; roles left out are refused (anonymous and the issuing authority,
    which has no credential, with 401; the others with 403)."""
    row: dict[Role, Rule] = {}
    for role in Role:
        value = cells.get(role.name.lower())
        if value is None:
            value = _X if role in (Role.ANONYMOUS, Role.ISSUING_AUTHORITY) else _N
        own, other = value if isinstance(value, tuple) else (value, value)
        row[role] = Rule(own, other)
    return row


_OWN_ONLY = (_Y, _N)
_EVERYONE = {"counter": _Y, "staff": _Y, "administrator": _Y, "it": _Y}
_OPEN = {**_EVERYONE, "anonymous": _Y, "issuing_authority": _Y}

#: The authorization matrix: operation → role → (own, other). docs/security.md shows it.
POLICY: Mapping[Operation, Mapping[Role, Rule]] = {
    Operation.SERVER_TIME: _row(**_EVERYONE),
    Operation.INGEST_BATCH: _row(counter=_Y),
    Operation.DEVICE_ME: _row(counter=_Y),
    Operation.READ_CHAIN: _row(counter=_OWN_ONLY, staff=_OWN_ONLY, administrator=_OWN_ONLY, it=_Y),
    Operation.READ_REPORT: _row(counter=_OWN_ONLY, staff=_OWN_ONLY, administrator=_OWN_ONLY, it=_Y),
    # 運用状況 and certificate status are looked up like a revocation list: a counter
    # checks whatever card is presented, wherever its status was set.
    Operation.READ_CARD_STATUS: _row(**_EVERYONE),
    Operation.CHANGE_CARD_STATUS: _row(counter=_OWN_ONLY, staff=_OWN_ONLY, administrator=_OWN_ONLY),
    Operation.READ_CERTIFICATE_STATUS: _row(**_EVERYONE),
    Operation.CHANGE_CERTIFICATE_STATUS: _row(
        counter=_OWN_ONLY, staff=_OWN_ONLY, administrator=_OWN_ONLY, issuing_authority=_Y
    ),
    Operation.READ_REGISTRY_AUDIT: _row(
        counter=_OWN_ONLY, staff=_OWN_ONLY, administrator=_OWN_ONLY, it=_Y
    ),
    # The one-time enrolment token is the credential; whoever holds it may enrol.
    Operation.ENROL: _row(
        counter=_Y, staff=_Y, administrator=_Y, it=_Y, anonymous=_Y, issuing_authority=_Y
    ),
    # The CA certificate is public; a new counter shows its fingerprint to the person
    # who provisions it, who compares it with IT's before anything is sent (docs/kiosk.md).
    Operation.READ_ENROLMENT_CA: _row(**_OPEN),
    Operation.ISSUE_CERTIFICATE: _row(counter=_Y),
    Operation.READ_OPENAPI: _row(**_EVERYONE),
    Operation.UPDATE_LATEST: _row(counter=_Y, it=_Y),
    Operation.UPDATE_DOWNLOAD: _row(counter=_Y, it=_Y),
    # IT's bearer token is the credential: a counter is asked for it (401), as anyone is.
    Operation.UPDATE_PUBLISH: _row(it=_Y, counter=_X),
    Operation.UPDATE_REPORT: _row(counter=_OWN_ONLY),
    Operation.UPDATE_FLEET: _row(it=_Y, counter=_X),
    # The key list is signed by IT's root keys: the counter checks it, the server only
    # serves it. Publishing it or a pointer takes IT's token and a valid signature.
    Operation.UPDATE_READ_KEY_LIST: _row(counter=_Y, it=_Y),
    Operation.UPDATE_PUBLISH_KEY_LIST: _row(it=_Y, counter=_X),
    Operation.UPDATE_PUBLISH_POINTER: _row(it=_Y, counter=_X),
    # A load balancer's or an orchestrator's probes: open to everyone, no certificate and
    # no token, on purpose. They answer alive/ready and why not, never data.
    Operation.HEALTH: _row(**_OPEN),
    Operation.READINESS: _row(**_OPEN),
    # The office console (issue 16): office staff read their offices' transactions; the
    # administrator also reads the console's audit and runs its offices' staff accounts.
    Operation.READ_TRANSACTIONS: _row(staff=_OWN_ONLY, administrator=_OWN_ONLY, it=_Y),
    Operation.READ_CONSOLE_AUDIT: _row(administrator=_OWN_ONLY, it=_Y),
    Operation.MANAGE_STAFF: _row(administrator=_OWN_ONLY, it=_Y),
    # A new counter of an office: its administrator, or IT for any office.
    Operation.ISSUE_ENROLMENT_TOKEN: _row(administrator=_OWN_ONLY, it=_Y),
    # The office's accounts with J-LIS: its administrator, or IT for any office.
    Operation.RECORD_PAYMENT: _row(administrator=_OWN_ONLY, it=_Y),
    # Clerk accounts (sync/server/clerks.py): a counter fetches its own office's clerks
    # and uploads its own sign-in attempts; the office's staff and administrators run
    # them on the console, IT for any office.
    Operation.READ_CLERKS: _row(counter=_OWN_ONLY),
    Operation.UPLOAD_SIGN_INS: _row(counter=_Y),
    Operation.MANAGE_CLERKS: _row(staff=_OWN_ONLY, administrator=_OWN_ONLY, it=_Y),
    # Staged rollouts of updates: IT only (its token); every change is audited.
    Operation.UPDATE_ROLLOUT: _row(it=_Y, counter=_X),
}
#: The probes, served even while the server is not ready.
PROBES = frozenset({Operation.HEALTH, Operation.READINESS})

_U = UPDATES_PREFIX
#: Every route the server serves (the gate answers 404 for anything else).
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/v1/time", Operation.SERVER_TIME),
    Endpoint("POST", "/v1/batches", Operation.INGEST_BATCH, BATCH_BODY, json_body=True),
    Endpoint("GET", "/v1/devices/me", Operation.DEVICE_ME),
    Endpoint(
        "GET",
        "/v1/devices/{device_id}/chain",
        Operation.READ_CHAIN,
        scope=Scope.DEVICE,
        device_param="device_id",
    ),
    Endpoint(
        "GET", "/v1/reports/daily", Operation.READ_REPORT, scope=Scope.OFFICE, office_query=True
    ),
    Endpoint("GET", "/v1/cards/{card_id}/operation-status", Operation.READ_CARD_STATUS),
    Endpoint(
        "PUT",
        "/v1/cards/{card_id}/operation-status",
        Operation.CHANGE_CARD_STATUS,
        SMALL_BODY,
        json_body=True,
        scope=Scope.OFFICE,
    ),
    Endpoint("GET", "/v1/certificates/{serial}/status", Operation.READ_CERTIFICATE_STATUS),
    Endpoint(
        "GET",
        "/v1/registry/audit",
        Operation.READ_REGISTRY_AUDIT,
        scope=Scope.OFFICE,
        office_query=True,
    ),
    Endpoint("POST", "/v1/enrolment", Operation.ENROL, SMALL_BODY, json_body=True),
    Endpoint("GET", "/v1/enrolment/ca", Operation.READ_ENROLMENT_CA),
    Endpoint(
        "POST",
        "/v1/sim/issuing-authority/certificates",
        Operation.ISSUE_CERTIFICATE,
        SMALL_BODY,
        json_body=True,
    ),
    Endpoint("GET", "/openapi.json", Operation.READ_OPENAPI),
    Endpoint("GET", "/healthz", Operation.HEALTH),
    Endpoint("GET", "/readyz", Operation.READINESS),
    Endpoint("GET", f"{_U}/releases/{{channel}}/latest", Operation.UPDATE_LATEST),
    Endpoint("GET", f"{_U}/bundles/{{name}}", Operation.UPDATE_DOWNLOAD),
    Endpoint("HEAD", f"{_U}/bundles/{{name}}", Operation.UPDATE_DOWNLOAD),
    Endpoint("PUT", f"{_U}/bundles/{{name}}", Operation.UPDATE_PUBLISH, BUNDLE_BODY),
    Endpoint(
        "POST",
        f"{_U}/devices/{{device_id}}/status",
        Operation.UPDATE_REPORT,
        SMALL_BODY,
        json_body=True,
        scope=Scope.DEVICE,
        device_param="device_id",
    ),
    Endpoint("GET", f"{_U}/fleet", Operation.UPDATE_FLEET),
    Endpoint("GET", f"{_U}/keys", Operation.UPDATE_READ_KEY_LIST),
    Endpoint("PUT", f"{_U}/keys", Operation.UPDATE_PUBLISH_KEY_LIST, SMALL_BODY, json_body=True),
    Endpoint(
        "PUT", f"{_U}/releases/{{channel}}", Operation.UPDATE_PUBLISH_POINTER, SMALL_BODY,
        json_body=True,
    ),
    Endpoint("GET", "/v1/clerks", Operation.READ_CLERKS, scope=Scope.OFFICE, office_query=True),
    Endpoint("POST", "/v1/clerks/sign-ins", Operation.UPLOAD_SIGN_INS, 256 * _KIB,
             json_body=True),
    Endpoint("GET", f"{_U}/rollouts", Operation.UPDATE_FLEET),
    Endpoint("GET", f"{_U}/audit", Operation.UPDATE_FLEET),
    Endpoint("POST", f"{_U}/rollouts", Operation.UPDATE_ROLLOUT, SMALL_BODY, json_body=True),
    Endpoint(
        "POST", f"{_U}/rollouts/{{rollout_id}}/{{action}}", Operation.UPDATE_ROLLOUT,
        SMALL_BODY, json_body=True,
    ),
)


#: The office console's pages (its own listener, ``sync/server/console``): the console
#: signs staff in, then asks :func:`decide` for each page and each office it shows.
CONSOLE_PAGES: tuple[Endpoint, ...] = (
    Endpoint("GET", "/reports/month", Operation.READ_REPORT, scope=Scope.OFFICE, office_query=True),
    Endpoint("GET", "/reports/month.csv", Operation.READ_REPORT, scope=Scope.OFFICE,
             office_query=True),
    Endpoint("GET", "/reports/month.pdf", Operation.READ_REPORT, scope=Scope.OFFICE,
             office_query=True),
    Endpoint("GET", "/reports/day", Operation.READ_REPORT, scope=Scope.OFFICE, office_query=True),
    Endpoint("GET", "/transactions", Operation.READ_TRANSACTIONS, scope=Scope.OFFICE,
             office_query=True),
    Endpoint("GET", "/fleet", Operation.READ_CHAIN, scope=Scope.OFFICE, office_query=True),
    Endpoint("GET", "/enrolment", Operation.ISSUE_ENROLMENT_TOKEN, scope=Scope.OFFICE),
    Endpoint("POST", "/enrolment", Operation.ISSUE_ENROLMENT_TOKEN, 16 * _KIB,
             scope=Scope.OFFICE),
    Endpoint("GET", "/registry", Operation.READ_CARD_STATUS),
    Endpoint("POST", "/registry/card", Operation.CHANGE_CARD_STATUS, 16 * _KIB,
             scope=Scope.OFFICE),
    Endpoint("GET", "/payments", Operation.RECORD_PAYMENT, scope=Scope.OFFICE),
    Endpoint("POST", "/payments", Operation.RECORD_PAYMENT, 16 * _KIB, scope=Scope.OFFICE),
    Endpoint("POST", "/payments/correction", Operation.RECORD_PAYMENT, 16 * _KIB,
             scope=Scope.OFFICE),
    Endpoint("POST", "/registry/certificate", Operation.CHANGE_CERTIFICATE_STATUS, 16 * _KIB,
             scope=Scope.OFFICE),
    Endpoint("GET", "/reports/register.csv", Operation.READ_REPORT, scope=Scope.OFFICE,
             office_query=True),
    Endpoint("GET", "/audit", Operation.READ_CONSOLE_AUDIT, scope=Scope.OFFICE),
    Endpoint("GET", "/staff", Operation.MANAGE_STAFF, scope=Scope.OFFICE),
    Endpoint("POST", "/staff", Operation.MANAGE_STAFF, 16 * _KIB, scope=Scope.OFFICE),
    Endpoint("POST", "/staff/unlock", Operation.MANAGE_STAFF, 16 * _KIB, scope=Scope.OFFICE),
    Endpoint("GET", "/clerks", Operation.MANAGE_CLERKS, scope=Scope.OFFICE, office_query=True),
    Endpoint("POST", "/clerks", Operation.MANAGE_CLERKS, 16 * _KIB, scope=Scope.OFFICE),
    Endpoint("GET", "/rollouts", Operation.UPDATE_ROLLOUT),
    Endpoint("POST", "/rollouts", Operation.UPDATE_ROLLOUT, 16 * _KIB),
)


def match(method: str, path: str) -> tuple[Endpoint | None, dict[str, str], bool]:
    """The endpoint a request is for, its path parameters, and whether the path exists
    under another method (for 405)."""
    path_known = False
    for endpoint in ENDPOINTS:
        found = endpoint.pattern.match(path)
        if found is None:
            continue
        if endpoint.method == method:
            return endpoint, found.groupdict(), True
        path_known = True
    return None, {}, path_known


def decide(principal: Principal, operation: Operation, target: Target) -> Answer:
    """The answer of the matrix for ``principal`` doing ``operation`` on ``target``."""
    rule = POLICY[operation][principal.role]
    return rule.own if target is Target.OWN else rule.other


def rule_of(principal: Principal, operation: Operation) -> Rule:
    """The row cell of ``principal``'s role for ``operation``."""
    return POLICY[operation][principal.role]


def office_target(principal: Principal, office: str | None) -> Target:
    """Whether ``office`` is the principal's own (None: the principal's own office)."""
    if not principal.role.office_bound:
        return Target.OTHER
    return Target.OWN if office is None or office == principal.office_code else Target.OTHER


def device_target(principal: Principal, device_id: str, device_office: str | None) -> Target:
    """Whether a device is the principal's own: for a counter only itself; for staff and
    the administrator any device of their office."""
    if principal.role is Role.COUNTER:
        return Target.OWN if device_id == principal.device_id else Target.OTHER
    if principal.role.office_bound and device_office is not None:
        return Target.OWN if device_office == principal.office_code else Target.OTHER
    return Target.OTHER


def may_change_certificate(
    principal: Principal, owner_office: str | None, issued_by: str | None
) -> bool:
    """A certificate entry may be changed by ``principal``: its own office's, or one
    this counter issued (a counter re-enrolled for another office keeps those)."""
    if principal.role is Role.COUNTER and issued_by and issued_by == principal.device_id:
        return True
    target = office_target(principal, owner_office) if owner_office is not None else Target.OWN
    return decide(principal, Operation.CHANGE_CERTIFICATE_STATUS, target) is Answer.ALLOW


_ROLE_TITLES = {
    Role.COUNTER: "counter",
    Role.STAFF: "office staff",
    Role.ADMINISTRATOR: "administrator",
    Role.IT: "IT",
    Role.ISSUING_AUTHORITY: "issuing authority",
    Role.ANONYMOUS: "anonymous",
}


def _cell(rule: Rule, role: Role) -> str:
    def word(answer: Answer) -> str:
        return "✓" if answer is Answer.ALLOW else str(int(answer))

    if rule.uniform or not role.office_bound:
        return word(rule.own)
    return f"{word(rule.own)} / {word(rule.other)}"


def markdown_table() -> str:
    """The matrix as the Markdown table docs/security.md shows (checked by a test)."""
    roles = list(Role)
    lines = [
        "| Endpoint | Operation | Body | " + " | ".join(_ROLE_TITLES[r] for r in roles) + " |",
        "|---|---|---|" + "---|" * len(roles),
    ]
    described: set[Operation] = set()
    for where, endpoint in [("", e) for e in ENDPOINTS] + [("console ", e) for e in CONSOLE_PAGES]:
        cells = [_cell(POLICY[endpoint.operation][role], role) for role in roles]
        lines.append(
            f"| {where}`{endpoint.method} {endpoint.path}` | {endpoint.operation.value} | "
            f"{_size(endpoint)} | " + " | ".join(cells) + " |"
        )
        described.add(endpoint.operation)
    for operation in Operation:
        if operation not in described:
            cells = [_cell(POLICY[operation][role], role) for role in roles]
            lines.append(f"| (registry rule) | {operation.value} | — | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _size(endpoint: Endpoint) -> str:
    if endpoint.max_body == 0:
        return "none"
    size = endpoint.max_body // _KIB
    text = f"{size // 1024} MiB" if size >= 1024 else f"{size} KiB"
    return f"{text} JSON" if endpoint.json_body else text
