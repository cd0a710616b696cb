"""First boot: enrol a counter that has no configuration and write the configuration.

``madoguchi counter`` on a counter with no configuration shows the provisioning screen
(``tui/screens/provision.py``); this module is what that screen asks for, in a worker:

1. **The server's CA, trusted explicitly.** Either the enrolment file on a USB stick
   carries it (``ca_pem``) or its SHA-256 fingerprint (``ca_sha256``, compared here), or
   the counter fetches it from ``GET /v1/enrolment/ca`` and the screen shows its
   fingerprint for the person to compare with the one IT gave them. Nothing is sent to
   the server (no token) before the CA is trusted; there is no trust on first use.
2. **Enrolment over TLS that trusts that CA only** (:func:`sync.enrol.request_certificate`):
   the key is made here, only the CSR leaves; the result stays in memory.
3. **One atomic commit** (:func:`commit`): the key, certificate and CA go into a fresh
   private folder, moved into place as ``<state>/sync``; then the configuration is
   written beside it as a temporary file, fsynced and renamed to
   ``<state>/madoguchi.toml``. That rename is the one moment the counter becomes
   provisioned: a kill -9 before it leaves no configuration (the screen comes back; the
   key of the lost enrolment is moved aside by the next commit), after it a whole one.

Where: the kiosk runs as the unprivileged ``madoguchi`` user under
``ProtectSystem=strict``, so ``/etc/madoguchi`` is read-only to it. The provisioned
configuration lives in its state directory (``/var/lib/madoguchi/madoguchi.toml``,
:func:`madoguchi.config.provisioned_config`), which the loader reads when
``/etc/madoguchi/madoguchi.toml`` does not exist (IT's file always wins). See
docs/kiosk.md, "First boot".

Every failure is a :class:`ProvisioningError` whose ``reason`` is a key of the UI's
string catalogue (``provision.error.<reason>``), so the screen says it in Japanese.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import ssl
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import msgspec
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from device.private_files import DIR_MODE, FILE_MODE, private_dir
from madoguchi.config import CONFIG_NAME, Config
from madoguchi.errors import MadoguchiError

if TYPE_CHECKING:
    from sync.enrol import EnrolledDevice

#: The enrolment file IT puts on a USB stick (its top level, or one folder down).
ENROLMENT_FILE = "madoguchi-enrol.toml"
#: Where a kiosk finds a mounted stick: ``/media/<name>/`` (the appliance's udev rule,
#: docs/kiosk.md), ``/media/<user>/<label>/`` and ``/run/media/<user>/<label>/``
#: (udisks on a desktop). ``$MADOGUCHI_USB_ROOTS`` (``:``-separated) replaces them.
USB_ROOTS: tuple[str, ...] = ("/media", "/run/media")
USB_ROOTS_ENV = "MADOGUCHI_USB_ROOTS"
#: How long one request to the server may take.
TIMEOUT_S = 15.0
#: The tables of the configuration an enrolment file's ``[config]`` may set: the
#: counter's hardware and policy, never ``[sync]`` (the enrolment decides that).
HARDWARE_TABLES = ("reader", "keypad", "indicators", "ui", "rules", "log")


class ProvisioningError(MadoguchiError):
    """Provisioning failed; nothing was written.

    Args:
        reason: the catalogue key's last part (``provision.error.<reason>``).
        detail: what went wrong, for the log and the screen's small print.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class EnrolmentFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``madoguchi-enrol.toml`` on the USB stick (docs/kiosk.md, "First boot")."""

    server_url: str
    token: str
    #: The office the token was issued for (checked against the server's answer).
    office_code: str = ""
    #: The server's CA certificate (PEM) ...
    ca_pem: str = ""
    #: ... or its SHA-256 fingerprint (hex, colons and spaces allowed).
    ca_sha256: str = ""
    #: Tables of ``madoguchi.toml`` for this counter's hardware (``[config.keypad]`` …).
    config: dict[str, Any] = msgspec.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Request:
    """What the person typed or the stick held: enough to enrol once the CA is trusted."""

    server_url: str
    token: str
    office_code: str = ""
    ca_pem: bytes = b""
    ca_sha256: str = ""
    hardware: tuple[tuple[str, Any], ...] = ()
    source: str = ""  # the enrolment file's path, or "" when typed


# -- the USB stick ----------------------------------------------------------------------


def usb_roots() -> tuple[str, ...]:
    """The mount roots searched for a stick (``$MADOGUCHI_USB_ROOTS`` or :data:`USB_ROOTS`)."""
    value = os.environ.get(USB_ROOTS_ENV)
    return tuple(p for p in value.split(":") if p) if value else USB_ROOTS


def find_enrolment_files(roots: Iterable[str] | None = None) -> list[Path]:
    """Every enrolment file on a mounted stick: ``<root>/*/FILE`` and ``<root>/*/*/FILE``."""
    found: set[Path] = set()
    for root in usb_roots() if roots is None else roots:
        for pattern in (f"{glob.escape(root)}/*/{ENROLMENT_FILE}",
                        f"{glob.escape(root)}/*/*/{ENROLMENT_FILE}"):
            found.update(Path(p) for p in glob.glob(pattern))
    return sorted(found)


def read_enrolment_file(path: Path) -> Request:
    """Parse and check an enrolment file.

    Raises:
        ProvisioningError: ``usb_unreadable`` (with what is wrong in ``detail``).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        doc = msgspec.convert(data, EnrolmentFile, strict=True)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProvisioningError("usb_unreadable", f"{path}: {exc}") from exc
    except msgspec.ValidationError as exc:
        raise ProvisioningError("usb_unreadable", f"{path}: {exc}") from exc
    if bool(doc.ca_pem) == bool(doc.ca_sha256):
        raise ProvisioningError(
            "usb_unreadable", f"{path}: give exactly one of ca_pem and ca_sha256")
    unknown = sorted(set(doc.config) - set(HARDWARE_TABLES))
    if unknown:
        raise ProvisioningError(
            "usb_unreadable", f"{path}: [config] may hold {', '.join(HARDWARE_TABLES)},"
            f" not {', '.join(unknown)}")
    ca_pem = doc.ca_pem.encode()
    if ca_pem:
        _load_ca(ca_pem, where=str(path))
    if doc.ca_sha256:
        _normal_fingerprint(doc.ca_sha256, where=str(path))
    request = Request(
        server_url=check_url(doc.server_url), token=check_token(doc.token),
        office_code=doc.office_code, ca_pem=ca_pem, ca_sha256=doc.ca_sha256,
        hardware=tuple(sorted(doc.config.items())), source=str(path),
    )
    configuration(request, device_id="check", office_code=doc.office_code or "000000",
                  tls_dir=Path("/nonexistent"))  # a bad [config] table is refused now
    return request


# -- the typed fields -------------------------------------------------------------------


def check_url(text: str) -> str:
    """An ``https://host[:port]`` URL without a trailing slash (a bare ``host[:port]`` is
    taken as HTTPS).

    Raises:
        ProvisioningError: ``url_invalid``.
    """
    url = text.strip().rstrip("/")
    if url and "://" not in url and not url.lower().startswith(("http:", "https:")):
        # A clerk types what IT wrote on the slip, often without the scheme: the counter
        # only ever talks HTTPS, so a bare host[:port] means that (http:// stays refused).
        url = "https://" + url
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme != "https" or not parts.hostname or port == -1 or parts.query or parts.fragment:
        raise ProvisioningError("url_invalid", url)
    return url


def check_token(text: str) -> str:
    """A token as ``madoguchi server enrol-token`` prints it (URL-safe base64).

    Raises:
        ProvisioningError: ``token_missing``.
    """
    token = text.strip()
    if not token or any(not (c.isascii() and (c.isalnum() or c in "-_")) for c in token):
        raise ProvisioningError("token_missing")
    return token


# -- the server's CA --------------------------------------------------------------------


def _load_ca(pem: bytes, *, where: str) -> x509.Certificate:
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise ProvisioningError("usb_unreadable", f"{where}: ca_pem is not a PEM certificate") \
            from exc
    return cert


def fingerprint(ca_pem: bytes) -> str:
    """The SHA-256 fingerprint of a PEM certificate: 32 hex pairs joined by colons, as
    ``openssl x509 -noout -fingerprint -sha256`` prints it."""
    der = x509.load_pem_x509_certificate(ca_pem).public_bytes(Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _normal_fingerprint(text: str, *, where: str) -> str:
    hexdigits = "".join(c for c in text.upper() if c not in ": ")
    if len(hexdigits) != 64 or any(c not in "0123456789ABCDEF" for c in hexdigits):
        raise ProvisioningError("usb_unreadable", f"{where}: ca_sha256 is not a SHA-256 hex")
    return ":".join(hexdigits[i : i + 2] for i in range(0, 64, 2))


def _trust(ca_pem: bytes) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca_pem.decode("ascii"))


def _unreachable(exc: BaseException, url: str) -> ProvisioningError:
    """A failed connection as the screen says it."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return ProvisioningError("ca_mismatch", f"{url}: {cause.verify_message}")
        if isinstance(cause, ssl.SSLError):
            return ProvisioningError("tls_failed", f"{url}: {cause}")
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.TimeoutException):
        return ProvisioningError("server_timeout", f"{url}: {exc!r}")
    return ProvisioningError("server_unreachable", f"{url}: {exc}")


def fetch_ca(server_url: str, *, timeout_s: float = TIMEOUT_S) -> bytes:
    """The CA the server at ``server_url`` says it has, **not yet trusted**.

    Fetched over TLS without verification (there is nothing to verify with yet), then
    asked again over TLS that trusts only that CA, so the server's own certificate is
    known to be signed by it. Trusting it is the person's (fingerprint) or the enrolment
    file's decision, never this function's.

    Raises:
        ProvisioningError: ``server_unreachable``, ``server_timeout``, ``not_a_server``
            (something answers that is not a madoguchi server), ``ca_mismatch``.
    """
    url = server_url.rstrip("/") + "/v1/enrolment/ca"
    # The first look cannot verify: the answer is checked by the person or the file.
    with contextlib.ExitStack() as stack:
        try:
            http = stack.enter_context(httpx.Client(verify=False, timeout=timeout_s))  # noqa: S501
            response = http.get(url)
        except httpx.HTTPError as exc:
            raise _unreachable(exc, server_url) from exc
    ca_pem = _ca_from(response, server_url)
    try:
        with httpx.Client(verify=_trust(ca_pem), timeout=timeout_s) as http:
            again = http.get(url)
    except httpx.HTTPError as exc:
        raise _unreachable(exc, server_url) from exc
    if _ca_from(again, server_url) != ca_pem:
        raise ProvisioningError("not_a_server", f"{server_url}: the CA changed between two asks")
    return ca_pem


def _ca_from(response: httpx.Response, server_url: str) -> bytes:
    try:
        doc = response.json()
    except ValueError:
        doc = None
    pem = doc.get("ca_pem") if isinstance(doc, dict) else None
    if response.status_code != 200 or not isinstance(pem, str):
        raise ProvisioningError(
            "not_a_server", f"{server_url}: GET /v1/enrolment/ca answered {response.status_code}")
    try:
        x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ProvisioningError("not_a_server", f"{server_url}: the CA is not a certificate") \
            from exc
    return pem.encode()


def server_ca(request: Request, *, timeout_s: float = TIMEOUT_S) -> tuple[bytes, bool]:
    """The server's CA for ``request`` and whether it is already trusted.

    Trusted: the enrolment file carried it (the server is then only asked to prove it
    holds a certificate of that CA, at enrolment) or its fingerprint, which matched.
    Not trusted (typed): the screen must show :func:`fingerprint` and have it confirmed.

    Raises:
        ProvisioningError: as :func:`fetch_ca`; ``fingerprint_mismatch`` when the file's
            fingerprint is not the server's CA's.
    """
    if request.ca_pem:
        return request.ca_pem, True
    ca_pem = fetch_ca(request.server_url, timeout_s=timeout_s)
    if request.ca_sha256:
        wanted = _normal_fingerprint(request.ca_sha256, where=request.source)
        if fingerprint(ca_pem) != wanted:
            raise ProvisioningError(
                "fingerprint_mismatch", f"server {fingerprint(ca_pem)}, file {wanted}")
        return ca_pem, True
    return ca_pem, False


# -- enrolment --------------------------------------------------------------------------


def enrol(request: Request, ca_pem: bytes, *, timeout_s: float = TIMEOUT_S) -> EnrolledDevice:
    """Enrol over TLS that trusts ``ca_pem`` only; the :class:`sync.enrol.EnrolledDevice`
    (in memory: nothing is written).

    Raises:
        ProvisioningError: ``token_refused`` (unknown, used or expired: the server says
            no more, on purpose), ``too_many_attempts``, ``office_mismatch``, or a
            connection's reason as :func:`fetch_ca`.
    """
    from sync.enrol import EnrolmentRefusedError, request_certificate
    from sync.errors import EnrolmentError

    try:
        enrolled = request_certificate(
            request.server_url, request.token, _trust(ca_pem), ca_pem, timeout_s=timeout_s)
    except EnrolmentRefusedError as exc:
        reason = {403: "token_refused", 429: "too_many_attempts"}.get(exc.status, "refused")
        raise ProvisioningError(reason, str(exc)) from exc
    except EnrolmentError as exc:
        if exc.__cause__ is not None:
            raise _unreachable(exc.__cause__, request.server_url) from exc
        raise ProvisioningError("refused", str(exc)) from exc
    if request.office_code and enrolled.office_code and request.office_code != \
            enrolled.office_code:
        # Enrolled, but for another office than the file says: IT must look (the token
        # is spent; nothing is written, so the screen stays).
        raise ProvisioningError(
            "office_mismatch", f"file {request.office_code}, server {enrolled.office_code}")
    return enrolled


# -- the configuration ------------------------------------------------------------------


def default_hardware(machine: str | None = None) -> dict[str, Any]:
    """The counter's hardware when the enrolment file names none: a PC/SC reader, and
    the GPIO PIN pad on lgpio on a Raspberry Pi (aarch64), the keyboard pad on a PC."""
    machine = machine or os.uname().machine
    keypad: dict[str, Any] = (
        {"backend": "gpio", "pin_factory": "lgpio"} if machine == "aarch64"
        else {"backend": "keyboard"}
    )
    return {"reader": {"backend": "pcsc", "pin_writer": "jlis"}, "keypad": keypad}


def configuration(
    request: Request, *, device_id: str, office_code: str, tls_dir: Path
) -> dict[str, Any]:
    """The counter's configuration as TOML tables, checked against the schema.

    Raises:
        ProvisioningError: ``usb_unreadable`` when the file's ``[config]`` breaks the
            schema or names the virtual card (a counter never runs on the sim backends).
    """
    data: dict[str, Any] = default_hardware()
    for table, values in request.hardware:
        base = data.get(table, {})
        data[table] = {**base, **values} if isinstance(values, dict) else values
    data["sync"] = {
        "server_url": request.server_url,
        "device_id": device_id,
        "office_code": office_code,
        "tls_dir": str(tls_dir),
    }
    where = request.source or "the provisioning"
    reader = data.get("reader", {})
    if isinstance(reader, dict) and reader.get("backend", "sim") == "sim":
        raise ProvisioningError("usb_unreadable", f"{where}: [config.reader] backend is the"
                                " virtual card; a counter needs a real reader (pcsc)")
    keypad = data.get("keypad", {})
    if isinstance(keypad, dict) and keypad.get("backend") == "virtual-matrix":
        raise ProvisioningError("usb_unreadable", f"{where}: [config.keypad] backend"
                                " virtual-matrix is the demo's")
    try:
        msgspec.convert(data, Config, strict=True)
    except (msgspec.ValidationError, MadoguchiError) as exc:
        raise ProvisioningError("usb_unreadable", f"{where}: [config] {exc}") from exc
    return data


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """TOML for a configuration's tables: strings, numbers, booleans, lists of them and
    nested tables (what :func:`configuration` makes). Checked by reading it back."""
    scalars, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            scalars.append(f"{key} = {_toml_value(value)}")
    out = ""
    if scalars:
        out += (f"[{prefix}]\n" if prefix else "") + "\n".join(scalars) + "\n"
    for key, value in tables:
        name = f"{prefix}.{key}" if prefix else key
        body = to_toml(value, name)
        out += ("\n" if out else "") + (body if body else f"[{name}]\n")
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ProvisioningError("usb_unreadable", f"a value of type {type(value).__name__}")


def _write_synced(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(request: Request, enrolled: EnrolledDevice, state_dir: Path) -> Path:
    """Write the TLS files and the configuration so that a kill at any moment leaves
    either no configuration or a whole one; the configuration's path.

    ``<state>/sync`` left by an earlier commit that never wrote its configuration is
    moved aside (``sync.unused-<time>``), not deleted.

    Raises:
        ProvisioningError: ``already_provisioned`` (a configuration appeared meanwhile),
            ``write_failed``.
    """
    config_path = state_dir / CONFIG_NAME
    tls_dir = state_dir / "sync"
    stamp = time.strftime("%Y%m%dT%H%M%S")
    try:
        private_dir(state_dir)
        if config_path.exists():
            raise ProvisioningError("already_provisioned", str(config_path))
        data = configuration(request, device_id=enrolled.device_id,
                             office_code=enrolled.office_code or request.office_code,
                             tls_dir=tls_dir)
        text = (
            "# Written by the counter's provisioning screen (madoguchi counter, first boot)\n"
            f"# on {stamp}; enrolled as {enrolled.device_id}. /etc/madoguchi/madoguchi.toml,\n"
            "# when IT writes one, is read instead of this file (docs/kiosk.md).\n\n"
            + to_toml(data)
        )
        if tomllib.loads(text) != data:
            raise ProvisioningError("write_failed", "the configuration does not read back")
        staging = state_dir / f".provisioning-{os.getpid()}-{time.monotonic_ns()}"
        staging.mkdir(mode=DIR_MODE)
        os.chmod(staging, DIR_MODE)
        from sync.client import DEVICE_CERT, DEVICE_KEY, SERVER_CA

        _write_synced(staging / DEVICE_KEY, enrolled.key_pem, FILE_MODE)
        _write_synced(staging / DEVICE_CERT, enrolled.cert_pem, 0o644)
        _write_synced(staging / SERVER_CA, enrolled.ca_pem, 0o644)
        _sync_dir(staging)
        if tls_dir.exists():
            # No configuration names it: a lost commit's, or left from before.
            tls_dir.rename(state_dir / f"sync.unused-{stamp}-{time.monotonic_ns()}")
        staging.rename(tls_dir)
        temporary = state_dir / f".{CONFIG_NAME}.{os.getpid()}.new"
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        _write_synced(temporary, text.encode("utf-8"), FILE_MODE)
        _sync_dir(state_dir)
        # The one moment the counter becomes provisioned.
        temporary.rename(config_path)
        _sync_dir(state_dir)
    except OSError as exc:
        raise ProvisioningError("write_failed", str(exc)) from exc
    return config_path


def clean_leftovers(state_dir: Path) -> Sequence[Path]:
    """Remove staging folders and temporary files a killed commit left; what went."""
    gone: list[Path] = []
    if not state_dir.is_dir():
        return gone
    for path in state_dir.iterdir():
        if path.name.startswith(".provisioning-") and path.is_dir():
            for child in path.iterdir():
                child.unlink()
            path.rmdir()
            gone.append(path)
        elif path.name.startswith(f".{CONFIG_NAME}.") and path.name.endswith(".new"):
            path.unlink()
            gone.append(path)
    return gone


class Provisioner:
    """What the provisioning screen calls (in a worker thread): the steps above, with
    the state directory and the stick's mount roots bound.

    Args:
        state_dir: the counter's state directory (``/var/lib/madoguchi`` in the kiosk).
        roots: where sticks are mounted (default :func:`usb_roots`).
        timeout_s: per request to the server.
    """

    def __init__(
        self, state_dir: Path, *, roots: Sequence[str] | None = None, timeout_s: float = TIMEOUT_S
    ) -> None:
        self.state_dir = state_dir
        self.roots = tuple(roots) if roots is not None else usb_roots()
        self.timeout_s = timeout_s

    def find_usb(self) -> list[Path]:
        """Enrolment files on mounted sticks."""
        return find_enrolment_files(self.roots)

    def read_usb(self, path: Path) -> Request:
        """See :func:`read_enrolment_file`."""
        return read_enrolment_file(path)

    def typed(self, server_url: str, token: str) -> Request:
        """A request from the typed fields (checked)."""
        return Request(server_url=check_url(server_url), token=check_token(token))

    def server_ca(self, request: Request) -> tuple[bytes, bool]:
        """See :func:`server_ca`."""
        return server_ca(request, timeout_s=self.timeout_s)

    def fingerprint(self, ca_pem: bytes) -> str:
        """See :func:`fingerprint`."""
        return fingerprint(ca_pem)

    def enrol_and_commit(self, request: Request, ca_pem: bytes) -> tuple[str, Path]:
        """Enrol, then write everything (:func:`commit`); the device id and the
        configuration's path."""
        enrolled = enrol(request, ca_pem, timeout_s=self.timeout_s)
        clean_leftovers(self.state_dir)
        return enrolled.device_id, commit(request, enrolled, self.state_dir)
