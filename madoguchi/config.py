"""Configuration: one TOML file, typed sections, embedded defaults for the demo.

The composition root (``madoguchi.cli`` and the daemons) reads this and passes
plain values to constructors; ``device/``, ``drivers/`` and ``sync/`` never read
configuration themselves. Unknown sections or keys are errors, not silently
ignored, so a typo on a counter is found at start-up.

The file is looked up in this order: ``--config PATH``, ``$MADOGUCHI_CONFIG``,
``/etc/madoguchi/madoguchi.toml``, then the configuration the first-boot
provisioning screen wrote into the state directory (:func:`provisioned_config`).
With none present, tools (``card status``, ``rules check`` …) use the embedded
defaults, while the daemons refuse to start (``load_config(required_for=...)``:
fail closed) and the counter's screen provisions the counter (first boot); only
``madoguchi demo`` runs on the embedded defaults (virtual card, keyboard PIN pad,
local SQLite) and never reads the system file.

Every table is a ``msgspec.Struct``: the file is converted in strict mode, so a key of
the wrong type (``batch_size = 1.9``, ``row_pins = ["a", 5]``) or out of its range is a
:class:`ConfigError` naming the file, the table and the key, never a silent coercion.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

import msgspec

from madoguchi.errors import ConfigError
from madoguchi.schema import phrase, split_error

#: A GPIO pin number (BCM); 0 = not fitted where the key allows it.
Pin = Annotated[int, msgspec.Meta(ge=0, le=63)]
#: A count that must be at least one (batch sizes, bounds, versions kept).
AtLeastOne = Annotated[int, msgspec.Meta(ge=1)]
#: A duration or period in seconds that cannot be negative.
Seconds = Annotated[float, msgspec.Meta(ge=0)]
#: The buzzer's loudness: 0 (silent) to 1 (full); between, a PWM duty cycle.
Volume = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]

SYSTEM_CONFIG = Path("/etc/madoguchi/madoguchi.toml")
#: A counter's state (store, operator accounts, keys): the units' ``StateDirectory=``.
SYSTEM_STATE_DIR = Path("/var/lib/madoguchi")
#: The configuration file's name, in ``/etc/madoguchi`` and in a state directory.
CONFIG_NAME = "madoguchi.toml"


def provisioned_config() -> Path:
    """Where the first-boot provisioning screen writes a counter's configuration:
    ``madoguchi.toml`` in ``$MADOGUCHI_STATE_DIR`` or ``$STATE_DIRECTORY`` (the kiosk's
    ``StateDirectory=``), else in :data:`SYSTEM_STATE_DIR`.

    The kiosk runs unprivileged under ``ProtectSystem=strict`` and cannot write
    ``/etc/madoguchi``; the loader reads this file only when :data:`SYSTEM_CONFIG` does
    not exist (IT's own file wins). See ``madoguchi/provisioning.py``.
    """
    for var in ("MADOGUCHI_STATE_DIR", "STATE_DIRECTORY"):
        value = os.environ.get(var)
        if value:
            return Path(value.split(":")[0]) / CONFIG_NAME
    return SYSTEM_STATE_DIR / CONFIG_NAME


def _exists(path: Path) -> bool:
    """``path.exists()``, False also where a folder on the way may not be searched (the
    kiosk's 0700 state directory, looked at by another user)."""
    try:
        return path.exists()
    except OSError:
        return False


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A table of the file: every key typed, an unknown key refused (msgspec checks both)."""


def default_state_dir() -> Path:
    """Where the store, the operator accounts and the keys live.

    ``$MADOGUCHI_STATE_DIR``, else ``$STATE_DIRECTORY`` (set by systemd's
    ``StateDirectory=``), else on a counter (``/etc/madoguchi/madoguchi.toml`` exists)
    :data:`SYSTEM_STATE_DIR`, the one the kiosk and the uploader use, so that an
    account IT adds with ``madoguchi operator add`` is the one the kiosk sees; else
    the user's own (:func:`user_state_dir`).
    """
    for var in ("MADOGUCHI_STATE_DIR", "STATE_DIRECTORY"):
        value = os.environ.get(var)
        if value:
            return Path(value.split(":")[0])
    if SYSTEM_CONFIG.exists() or _exists(SYSTEM_STATE_DIR / CONFIG_NAME):
        return SYSTEM_STATE_DIR
    return user_state_dir()


def user_state_dir() -> Path:
    """``~/.local/state/madoguchi``: a developer's or the demo's state."""
    return Path.home() / ".local" / "state" / "madoguchi"


class ReaderConfig(_Section, frozen=True):
    """``[reader]``: which card-reader backend, and its options."""

    backend: str = "sim"
    #: PC/SC reader name (substring match); empty = the first reader found.
    name: str = ""
    #: Virtual-card profile for the ``sim`` backend.
    profile: str = "standard"
    #: Who writes a PIN without the current one (暗証番号の初期化・再設定, a new
    #: certificate's first PIN): "jlis" (a counter: the J-LIS terminal does it, the clerk
    #: confirms) or "test-terminal" (the virtual card on pcscd/vpcd writes it under its
    #: modelled test key; `madoguchi counter` refuses it). The ``sim`` backend is always
    #: the test terminal: there is no J-LIS terminal beside a virtual card.
    pin_writer: str = "jlis"

    def __post_init__(self) -> None:
        if self.pin_writer not in PIN_WRITERS:
            allowed = ", ".join(PIN_WRITERS)
            raise ConfigError(
                f"[reader] pin_writer must be one of {allowed}, not {self.pin_writer!r}")

    @property
    def test_terminal(self) -> bool:
        """Whether this appliance writes reset PINs itself (the virtual card only)."""
        return self.backend == "sim" or self.pin_writer == "test-terminal"


#: ``[reader] pin_writer`` values.
PIN_WRITERS = ("jlis", "test-terminal")


class KeypadConfig(_Section, frozen=True):
    """``[keypad]``: the applicant's PIN pad."""

    backend: str = "keyboard"
    layout: str = "4x3"
    row_pins: tuple[Pin, ...] = (5, 6, 13, 19)
    #: one pin per column: 3 for "4x3", 4 for "4x4" (e.g. (12, 16, 20, 21))
    col_pins: tuple[Pin, ...] = (12, 16, 20)
    debounce_ms: Seconds = 10.0
    #: key labels row by row, e.g. ["123", "456", "789", "*0#"]; empty = the layout's
    keymap: tuple[str, ...] = ()
    #: scan period while a key change is being debounced
    scan_interval_ms: Seconds = 1.0
    #: PIN entry limits (mirroring bTimerOut / bTimerOut2 of a reader pinpad); the
    #: prompt counts down to the nearer one, and running out never spends a try. The
    #: applicant reads the prompt and finds the pad before the first key: 60 s for both.
    pin_overall_timeout_s: float = 60.0
    pin_inter_key_timeout_s: float = 60.0
    #: multi-tap (signature password): a pending letter is fixed after this pause
    multitap_commit_ms: Seconds = 1000.0
    #: ``gpio`` backend: gpiozero's pin factory ("lgpio" on a Raspberry Pi; "rpigpio" and
    #: "pigpio" also drive real pins); empty = gpiozero's own choice. A counter refuses the
    #: "mock" and "native" factories (docs/raspberry-pi.md).
    pin_factory: str = ""
    #: use the card reader's own PIN pad (PC/SC Part 10) when it advertises one
    use_reader_pinpad: bool = True
    #: ``virtual-matrix`` backend only (demo, tests): the unix socket through which
    #: ``madoguchi sim pad`` presses keys; empty = <state dir>/keypad.sock
    control_socket: str = ""

    def __post_init__(self) -> None:
        # A PIN prompt that cannot wait is refused at start-up, not at the counter.
        for name in ("pin_overall_timeout_s", "pin_inter_key_timeout_s"):
            seconds = getattr(self, name)
            if not seconds > 0:
                raise ConfigError(f"[keypad] {name} must be more than 0 seconds, not {seconds}")

    def resolved_control_socket(self) -> Path:
        """Where the ``virtual-matrix`` pad listens (``control_socket`` or the state dir)."""
        return (
            Path(self.control_socket) if self.control_socket
            else default_state_dir() / "keypad.sock"
        )


class IndicatorConfig(_Section, frozen=True):
    """``[indicators]``: optional status LEDs and buzzer (0 = not fitted)."""

    ok_led_pin: Pin = 0
    error_led_pin: Pin = 0
    buzzer_pin: Pin = 0
    #: a short beep on every PIN-pad key (needs the buzzer)
    key_click: bool = True
    #: false silences the buzzer in every pattern; the LEDs still show
    sound: bool = True
    #: the buzzer's loudness, 0.0-1.0 (below 1: PWM duty cycle; 0: silent)
    volume: Volume = 1.0
    #: ``[indicators.patterns.<state>]``: overrides of a state's pattern (``led``,
    #: ``led_on_s``, ``led_off_s``, ``led_count``, ``beep_on_s``, ``beep_off_s``,
    #: ``beep_count``); states and patterns in docs/pinpad.md
    patterns: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        # An unknown state, key or a bad value is refused at start-up, not at the counter.
        from drivers.indicator_patterns import merge_patterns

        try:
            merge_patterns(self.patterns)
        except ConfigError as exc:
            raise ConfigError(f"[indicators.patterns] {exc}") from None

    @property
    def fitted(self) -> bool:
        """True when any LED or the buzzer is fitted."""
        return bool(self.ok_led_pin or self.error_led_pin or self.buzzer_pin)


class StoreConfig(_Section, frozen=True):
    """``[store]``: the local SQLite store."""

    path: str = ""  # empty = <state dir>/madoguchi.sqlite3

    def resolved_path(self) -> Path:
        return Path(self.path) if self.path else default_state_dir() / "madoguchi.sqlite3"


class SyncConfig(_Section, frozen=True):
    """``[sync]``: where completed transactions go."""

    server_url: str = "https://127.0.0.1:8765"
    device_id: str = ""
    #: The office (市区町村コード or the 窓口's own code, at most 16 characters) this
    #: counter records its transactions under; empty = the office the server enrolled
    #: the device for (the server files it there, and refuses any other office).
    office_code: str = ""
    batch_size: AtLeastOne = 200
    #: Device key, certificate and server CA (``device.key``, ``device.crt``,
    #: ``ca.crt``); empty = <state dir>/sync.
    tls_dir: str = ""
    #: Unsent records at which new procedures are refused (see docs/sync.md).
    queue_bound: AtLeastOne = 10_000
    backoff_base_s: Seconds = 1.0
    backoff_cap_s: Seconds = 300.0
    request_timeout_s: Seconds = 10.0
    #: How often the idle uploader looks for new records.
    poll_interval_s: Seconds = 0.05
    #: Clock difference from the server above which the clerk must confirm the date.
    clock_skew_bound_s: Seconds = 120.0
    #: The central server (``madoguchi server run``): listen address, database URL
    #: (empty = SQLite in the state dir; ``postgresql://…`` for production), PKI dir.
    server_listen: str = "127.0.0.1:8765"
    server_database: str = ""
    server_pki_dir: str = ""
    #: PostgreSQL connections one server process keeps at most (a pool; SQLite has one).
    server_pool_size: AtLeastOne = 8
    #: Serve the simulated issuing-authority endpoint (demo and tests only).
    server_simulate: bool = False
    #: Update delivery under ``/updates`` of the central server (docs/updates.md): IT's
    #: Ed25519 public key(s), one ``.pem`` or a directory; empty = no update delivery.
    server_update_keys: str = ""
    #: The file holding IT's publish token (readable by the server's user only).
    server_publish_token_file: str = ""
    #: Where published bundles and the fleet table live; empty = <state dir>/updates.
    server_updates_dir: str = ""
    #: The office console (docs/console.md): its own HOST:PORT (empty = no console),
    #: and the certificate and key browsers see (empty = the server's own).
    server_console_listen: str = ""
    server_console_cert: str = ""
    server_console_key: str = ""
    #: Months a record is kept after the end of its business month (第4-4 申請書等の保存;
    #: 181 = fifteen years and a month, from 公的個人認証法施行令 第2条: see
    #: sync/server/partitions.py); ``madoguchi server retention`` removes older months.
    server_retention_months: Annotated[int, msgspec.Meta(ge=12)] = 181

    def resolved_tls_dir(self) -> Path:
        return Path(self.tls_dir) if self.tls_dir else default_state_dir() / "sync"


class RulesConfig(_Section, frozen=True):
    """``[rules]``: which rule set applies from when, and the policies the source leaves open."""

    #: The date the amended (改正後) guidelines take effect, ISO format.
    amended_effective_date: str = "2026-04-01"
    #: U10: face-auth card / failed PIN needs chip match AND declaration (false: either).
    fallback_requires_both: bool = True
    #: U11: whose items a proxy declares: "applicant" (literal text), "proxy" or "either".
    proxy_declaration_subject: str = "applicant"
    #: U20: 6-month grace after card expiry: "civil_code" (民法143条) or "exclusive" (a day less).
    grace_counting: str = "civil_code"
    grace_months: Annotated[int, msgspec.Meta(ge=0)] = 6
    #: Whether the mayor uses the discretion to omit 戸籍謄本等 (本籍地が管内).
    honseki_omission_allowed: bool = True
    #: U19: whether a legal representative must still hand in the PIN document.
    legal_rep_pin_document_required: bool = False
    #: Fee per certificate (yen) for issuance/renewal, and the share payable to J-LIS (%).
    fee_sign_cert_yen: int = 0
    fee_auth_cert_yen: int = 0
    fee_payable_jlis_percent: int = 100
    #: 暗証番号の初期化・再設定 (outside the guidelines): a second identity document besides
    #: the card, and a 委任状 from a proxy besides the 照会書兼回答書.
    pin_reset_second_id: bool = True
    pin_reset_power_of_attorney: bool = False


class UiConfig(_Section, frozen=True):
    """``[ui]``: the clerk's screen."""

    language: str = "ja"
    #: Seconds without a key press before the operator is signed out.
    idle_sign_out_s: Seconds = 300.0
    #: Consecutive wrong operator passwords before the account locks.
    operator_max_failures: AtLeastOne = 5
    #: Seconds such a lock lasts (``madoguchi operator unlock`` ends it sooner).
    operator_lockout_s: Seconds = 900.0
    #: IANA time zone of the office: the counter's date (procedures, rule version, grace)
    #: and the times on screen are read in it; records and the store keep UTC.
    timezone: str = "Asia/Tokyo"
    #: After an issuance or renewal the engine continues, guide the new certificates' PINs
    #: (利用者証明用 PIN, 署名用 password) on this appliance before the outcome: typed twice
    #: on the pad and written on the virtual card, or on a counter set on the J-LIS
    #: terminal and confirmed by the clerk; by proxy from the concealed reply form. Off:
    #: they are set on the J-LIS terminal outside this appliance's flow.
    new_pins_at_issuance: bool = False


#: ``[operators] source`` values.
OPERATOR_SOURCES = ("local", "central")


class OperatorsConfig(_Section, frozen=True):
    """``[operators]``: where the clerks' (operators') accounts come from.

    ``local``: made on the counter with ``madoguchi operator add`` (the demo, a closed
    site). ``central``: made per office on the central server's console and delivered
    to the office's counters by the sync daemon (docs/sync.md, "Clerk accounts"); the
    counter then refuses ``operator add`` and signs in central accounts only.
    """

    source: str = "local"

    def __post_init__(self) -> None:
        if self.source not in OPERATOR_SOURCES:
            allowed = ", ".join(OPERATOR_SOURCES)
            raise ConfigError(f"[operators] source must be one of {allowed}, not {self.source!r}")

    @property
    def central(self) -> bool:
        """Whether the accounts are the central server's."""
        return self.source == "central"


class UpdateConfig(_Section, frozen=True):
    """``[update]``: signed updates (see docs/updates.md)."""

    #: Install tree: ``versions/<v>/`` plus the ``current`` and ``previous`` links.
    root: str = "/opt/madoguchi"
    #: Trusted Ed25519 public keys: a directory of ``.pem`` files, or one file.
    keys: str = "/etc/madoguchi/update-keys"
    #: Where bundles are published; empty = ``[sync] server_url``.
    server_url: str = ""
    channel: str = "stable"
    #: Units restarted after a switch and required ready for the health check.
    units: tuple[str, ...] = ("madoguchi-tui.service", "madoguchi-sync.service")
    health_timeout_s: Seconds = 90.0
    keep_versions: AtLeastOne = 3
    #: Development and tests only: a site-packages appended to app-only installs.
    extra_site: str = ""
    #: Interpreter new versions are built on; empty = the one running the updater.
    python: str = ""


class Config(_Section, frozen=True):
    """The whole configuration."""

    reader: ReaderConfig = msgspec.field(default_factory=ReaderConfig)
    keypad: KeypadConfig = msgspec.field(default_factory=KeypadConfig)
    indicators: IndicatorConfig = msgspec.field(default_factory=IndicatorConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    sync: SyncConfig = msgspec.field(default_factory=SyncConfig)
    rules: RulesConfig = msgspec.field(default_factory=RulesConfig)
    ui: UiConfig = msgspec.field(default_factory=UiConfig)
    update: UpdateConfig = msgspec.field(default_factory=UpdateConfig)
    operators: OperatorsConfig = msgspec.field(default_factory=OperatorsConfig)


#: msgspec's own words for a TOML value's kind, in the file's terms.
_KINDS = {"array": "a list", "object": "a table"}


def _explain(exc: msgspec.ValidationError, path: Path) -> ConfigError:
    """One line naming the file, the ``[table]`` and the key, from msgspec's message.

    msgspec says ``Expected `int`, got `float` - at `$.sync.batch_size```; the clerk's IT
    reads ``/etc/madoguchi/madoguchi.toml: [sync] batch_size must be int, not float``.
    """
    what, where = split_error(exc)
    # "sync.batch_size" is key batch_size of [sync]; a top-level key is in [config]
    table, _, key = where.rpartition(".")
    if where.endswith("[...]"):  # a value of a free-keyed table (indicator patterns)
        table, key = where.removesuffix("[...]"), "each entry"
    table = table or "config"
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", what)
    if unknown:
        return ConfigError(f"{path}: [{where or 'config'}] unknown key(s) {unknown[1]}")
    if what.startswith("["):  # a section's own check (``__post_init__``) says it all
        return ConfigError(f"{path}: {what}")
    return ConfigError(f"{path}: [{table}] {key} {phrase(what, _KINDS)}")


def json_schema() -> dict[str, Any]:
    """The configuration file's JSON Schema (``madoguchi config schema``), from the same
    Structs that :func:`load_config` converts the file with."""
    return msgspec.json.schema(Config)


def load_config(
    path: Path | None = None, *, required_for: str | None = None, system: bool = True
) -> Config:
    """Load configuration from ``path``, ``$MADOGUCHI_CONFIG`` or the system file.

    Returns the embedded defaults when no file exists and none was asked for, unless
    ``required_for`` names what cannot run on them (the counter's screen, a daemon):
    then no file is a :class:`ConfigError` saying so in one sentence. ``system=False``
    (the demo) never reads ``/etc/madoguchi/madoguchi.toml``.
    """
    explicit = path is not None or bool(os.environ.get("MADOGUCHI_CONFIG"))
    if path is None:
        env = os.environ.get("MADOGUCHI_CONFIG")
        path = Path(env) if env else (SYSTEM_CONFIG if system else None)
        if path == SYSTEM_CONFIG and not env and not path.exists():
            # A counter provisioned at first boot (madoguchi/provisioning.py).
            provisioned = provisioned_config()
            path = provisioned if _exists(provisioned) else path
    if path is None or not path.exists():
        if explicit:
            raise ConfigError(f"configuration file {path} does not exist")
        if required_for is not None:
            raise ConfigError(
                f"no configuration: {required_for} needs {SYSTEM_CONFIG} (or --config PATH"
                " or $MADOGUCHI_CONFIG) and does not run on the embedded demo defaults;"
                " `madoguchi demo` runs the demo"
            )
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    try:
        return msgspec.convert(data, Config, strict=True)
    except msgspec.ValidationError as exc:
        raise _explain(exc, path) from None
