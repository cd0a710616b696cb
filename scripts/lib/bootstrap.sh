# shellcheck shell=bash
# Sourced by scripts/demo and scripts/test: installs what the appliance needs on a
# fresh Debian / Raspberry Pi OS machine, idempotently. Sets ROOT and PY.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

# System packages: the PC/SC stack, the virtual reader, OpenSC (an independent
# JPKI client for cross-checks), tmux (TUI tests), systemd-container (nspawn),
# PostgreSQL (the server's production database, tested for real).
# The kiosk (tests/systemd/test_kiosk.py): cage, foot, fonts-noto-cjk and xwayland are what
# a counter's image needs too (docs/kiosk.md); sway is the test's stand-in panel, grim
# its camera. The terminal demo needs none of them, so they are not in APT_RUNTIME.
APT_RUNTIME=(pcscd libpcsclite-dev vsmartcard-vpcd python3-venv python3-dev gcc swig)
APT_TEST=(pcsc-tools opensc opensc-pkcs11 openssl tmux systemd-container postgresql)
APT_TEST+=(cage foot fonts-noto-cjk xwayland sway grim)
# The office console's browser tests: Debian's Chromium, driven by Playwright (never a
# browser downloaded at run time; tests/sync/test_console_browser.py). The console's PDF
# (WeasyPrint) needs Pango and HarfBuzz on the server host; the tests read it back with
# poppler's pdftotext and draw its first page with pdftoppm.
APT_TEST+=(chromium libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils)
# Two central-server hosts behind a load balancer in TCP mode (tests/sync/test_two_hosts.py).
APT_TEST+=(haproxy)
# The demo: the virtual card renders its holder's name and address in Noto Sans CJK JP
# (drivers/simcard/images.py; without the font it falls back to Pillow's, kanji as boxes).
# Kept out of APT_RUNTIME, whose list keys the cached arm64 root.
APT_DEMO=(fonts-noto-cjk)
# arm64 in the test run (tests/arm64, scripts/arm64): the host emulates an arm64 Debian 12
# root with qemu-user-static; the root gets APT_RUNTIME plus APT_ARM64_ROOT (OpenSC for the
# cross-check among the PC/SC tests). Changing either list rebuilds the cached root.
APT_ARM64_HOST=(qemu-user-static binfmt-support debootstrap)
APT_ARM64_ROOT=(opensc opensc-pkcs11)

log() { printf '[madoguchi] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else log "need root for: $*"; return 1
    fi
}

apt_ensure() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing system packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# 64-bit only: refuse 32-bit ARM userlands (armhf/armel, e.g. 32-bit Raspberry Pi OS, whose
# kernel may still say aarch64) before anything is installed, with the way out.
platform_ensure() {
    local arch
    arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
    case "$arch" in
    armhf | armel | armv7l | armv6l)
        log "32-bit ARM ($arch) is not supported: install Raspberry Pi OS (64-bit), bookworm," \
            "on a Raspberry Pi 3, 4, 5 or Zero 2 W (docs/raspberry-pi.md)"
        return 1 ;;
    esac
}

# True when the venv's stamp ("extras pyproject-hash") has this pyproject.toml and every
# extra of $1 (comma-separated): `./scripts/demo` after `./scripts/test` reinstalls nothing.
venv_has() {
    local stamp="$VENV/.madoguchi-installed" hash installed stamped extra
    [ -x "$PY" ] && [ -f "$stamp" ] || return 1
    hash=$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)
    read -r installed stamped < "$stamp" || return 1
    [ "$stamped" = "$hash" ] || return 1
    for extra in ${1//,/ }; do
        case ",$installed," in *",$extra,"*) ;; *) return 1 ;; esac
    done
}

venv_ensure() {
    local extras=$1
    platform_ensure
    local stamp="$VENV/.madoguchi-installed"
    if venv_has "$extras"; then
        return 0
    fi
    local want
    want="$extras $(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    if [ ! -x "$PY" ]; then
        log "creating $VENV"
        # Prefer the interpreter on PATH (CI images ship their own); Debian's is fine too.
        python3 -m venv "$VENV"
    fi
    log "installing madoguchi[$extras] into the venv"
    "$PY" -m pip install -q --upgrade pip >/dev/null
    # PYPI=1: lgpio's sdist (the pin factory on arm64) then builds its own copy of the lg
    # library instead of linking a liblgpio that Debian does not package.
    PYPI=1 "$PY" -m pip install -q -e "$ROOT[$extras]"
    echo "$want" > "$stamp"
}
