"""Configuration: one TOML file, typed sections, embedded defaults for the demo.

The composition root (``madoguchi.cli`` and the daemons) reads this and passes
plain values to constructors; ``device/``, ``drivers/`` and ``sync/`` never read
configuration themselves. Unknown sections or keys are errors, not silently
ignored, so a typo on a counter is found at start-up.

The file is looked up in this order: ``--config PATH``, ``$MADOGUCHI_CONFIG``,
``/etc/madoguchi/madoguchi.toml``. With none present, tools (``card status``,
``rules check`` …) use the embedded defaults, while the counter's screen and the
daemons refuse to start (``load_config(required_for=...)``: fail closed); only
``madoguchi demo`` runs on the embedded defaults (virtual card, keyboard PIN pad,
local SQLite) and never reads the system file.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from madoguchi.errors import ConfigError

SYSTEM_CONFIG = Path("/etc/madoguchi/madoguchi.toml")
#: A counter's state (store, operator accounts, keys): the units' ``StateDirectory=``.
SYSTEM_STATE_DIR = Path("/var/lib/madoguchi")


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
    if SYSTEM_CONFIG.exists():
        return SYSTEM_STATE_DIR
    return user_state_dir()


def user_state_dir() -> Path:
    """``~/.local/state/madoguchi``: a developer's or the demo's state."""
    return Path.home() / ".local" / "state" / "madoguchi"


@dataclass(frozen=True)
class ReaderConfig:
    """``[reader]``: which card-reader backend, and its options."""

    backend: str = "sim"
    #: PC/SC reader name (substring match); empty = the first reader found.
    name: str = ""
    #: Virtual-card profile for the ``sim`` backend.
    profile: str = "standard"


@dataclass(frozen=True)
class KeypadConfig:
    """``[keypad]``: the applicant's PIN pad."""

    backend: str = "keyboard"
    layout: str = "4x3"
    row_pins: tuple[int, ...] = (5, 6, 13, 19)
    #: one pin per column: 3 for "4x3", 4 for "4x4" (e.g. (12, 16, 20, 21))
    col_pins: tuple[int, ...] = (12, 16, 20)
    debounce_ms: float = 10.0
    #: key labels row by row, e.g. ["123", "456", "789", "*0#"]; empty = the layout's
    keymap: tuple[str, ...] = ()
    #: scan period while a key change is being debounced
    scan_interval_ms: float = 1.0
    #: PIN entry limits (mirroring bTimerOut / bTimerOut2 of a reader pinpad); the
    #: prompt counts down to the nearer one, and running out never spends a try. The
    #: applicant reads the prompt and finds the pad before the first key: 60 s for both.
    pin_overall_timeout_s: float = 60.0
    pin_inter_key_timeout_s: float = 60.0
    #: multi-tap (signature password): a pending letter is fixed after this pause
    multitap_commit_ms: float = 1000.0
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


@dataclass(frozen=True)
class IndicatorConfig:
    """``[indicators]``: optional status LEDs and buzzer (0 = not fitted)."""

    ok_led_pin: int = 0
    error_led_pin: int = 0
    buzzer_pin: int = 0
    #: a short beep on every PIN-pad key (needs the buzzer)
    key_click: bool = True
    #: false silences the buzzer in every pattern; the LEDs still show
    sound: bool = True
    #: ``[indicators.patterns.<state>]``: overrides of a state's pattern (``led``,
    #: ``led_on_s``, ``led_off_s``, ``led_count``, ``beep_on_s``, ``beep_off_s``,
    #: ``beep_count``); states and patterns in docs/pinpad.md
    patterns: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # An unknown state, key or a bad value is refused at start-up, not at the counter.
        from drivers.indicator_patterns import merge_patterns

        for state, table in self.patterns.items():
            if not isinstance(table, dict):
                raise ConfigError(f"[indicators.patterns.{state}] must be a table")
        try:
            merge_patterns(self.patterns)
        except ConfigError as exc:
            raise ConfigError(f"[indicators.patterns] {exc}") from None

    @property
    def fitted(self) -> bool:
        """True when any LED or the buzzer is fitted."""
        return bool(self.ok_led_pin or self.error_led_pin or self.buzzer_pin)


@dataclass(frozen=True)
class StoreConfig:
    """``[store]``: the local SQLite store."""

    path: str = ""  # empty = <state dir>/madoguchi.sqlite3

    def resolved_path(self) -> Path:
        return Path(self.path) if self.path else default_state_dir() / "madoguchi.sqlite3"


@dataclass(frozen=True)
class SyncConfig:
    """``[sync]``: where completed transactions go."""

    server_url: str = "https://127.0.0.1:8765"
    device_id: str = ""
    #: The office (市区町村コード or the 窓口's own code, at most 16 characters) this
    #: counter records its transactions under; empty = the office the server enrolled
    #: the device for (the server files it there, and refuses any other office).
    office_code: str = ""
    batch_size: int = 200
    #: Device key, certificate and server CA (``device.key``, ``device.crt``,
    #: ``ca.crt``); empty = <state dir>/sync.
    tls_dir: str = ""
    #: Unsent records at which new procedures are refused (see docs/sync.md).
    queue_bound: int = 10_000
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    request_timeout_s: float = 10.0
    #: How often the idle uploader looks for new records.
    poll_interval_s: float = 0.05
    #: Clock difference from the server above which the clerk must confirm the date.
    clock_skew_bound_s: float = 120.0
    #: The central server (``madoguchi server run``): listen address, database URL
    #: (empty = SQLite in the state dir; ``postgresql://…`` for production), PKI dir.
    server_listen: str = "127.0.0.1:8765"
    server_database: str = ""
    server_pki_dir: str = ""
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

    def resolved_tls_dir(self) -> Path:
        return Path(self.tls_dir) if self.tls_dir else default_state_dir() / "sync"


@dataclass(frozen=True)
class RulesConfig:
    """``[rules]``: which rule set applies from when, and the policies the source leaves open."""

    #: The date the amended (改正後) guidelines take effect, ISO format.
    amended_effective_date: str = "2026-04-01"
    #: U10: face-auth card / failed PIN needs chip match AND declaration (false: either).
    fallback_requires_both: bool = True
    #: U11: whose items a proxy declares: "applicant" (literal text), "proxy" or "either".
    proxy_declaration_subject: str = "applicant"
    #: U20: 6-month grace after card expiry: "civil_code" (民法143条) or "exclusive" (a day less).
    grace_counting: str = "civil_code"
    grace_months: int = 6
    #: Whether the mayor uses the discretion to omit 戸籍謄本等 (本籍地が管内).
    honseki_omission_allowed: bool = True
    #: U19: whether a legal representative must still hand in the PIN document.
    legal_rep_pin_document_required: bool = False
    #: Fee per certificate (yen) for issuance/renewal, and the share payable to J-LIS (%).
    fee_sign_cert_yen: int = 0
    fee_auth_cert_yen: int = 0
    fee_payable_jlis_percent: int = 100


@dataclass(frozen=True)
class UiConfig:
    """``[ui]``: the clerk's screen."""

    language: str = "ja"
    #: Seconds without a key press before the operator is signed out.
    idle_sign_out_s: float = 300.0
    #: Consecutive wrong operator passwords before the account locks.
    operator_max_failures: int = 5
    #: Seconds such a lock lasts (``madoguchi operator unlock`` ends it sooner).
    operator_lockout_s: float = 900.0
    #: IANA time zone of the office: the counter's date (procedures, rule version, grace)
    #: and the times on screen are read in it; records and the store keep UTC.
    timezone: str = "Asia/Tokyo"


@dataclass(frozen=True)
class UpdateConfig:
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
    health_timeout_s: float = 90.0
    keep_versions: int = 3
    #: Development and tests only: a site-packages appended to app-only installs.
    extra_site: str = ""
    #: Interpreter new versions are built on; empty = the one running the updater.
    python: str = ""


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    reader: ReaderConfig = field(default_factory=ReaderConfig)
    keypad: KeypadConfig = field(default_factory=KeypadConfig)
    indicators: IndicatorConfig = field(default_factory=IndicatorConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    update: UpdateConfig = field(default_factory=UpdateConfig)


_T = TypeVar("_T")


def _build(cls: type[_T], table: dict[str, Any], where: str) -> _T:
    """Build dataclass ``cls`` from a TOML table, refusing unknown keys and wrong types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(f"[{where}]: unknown key(s) {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        default = getattr(cls(), key)
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise ConfigError(f"[{where}.{key}] must be a table")
            values[key] = _build(type(default), value, f"{where}.{key}")
        elif isinstance(default, tuple):
            if not isinstance(value, list):
                raise ConfigError(f"[{where}] {key} must be a list")
            values[key] = tuple(value)
        elif isinstance(default, bool) or not isinstance(default, (int, float)):
            if type(value) is not type(default):
                raise ConfigError(
                    f"[{where}] {key} must be {type(default).__name__}, not {type(value).__name__}"
                )
            values[key] = value
        else:
            # ints may be given where floats are expected
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"[{where}] {key} must be a number")
            values[key] = type(default)(value)
    return cls(**values)


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
    return _build(Config, data, "config")
