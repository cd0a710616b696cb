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

# The lock (scripts/lock) that holds this venv's Python and machine to the versions that
# ship: the server's when the extras include it and one exists, else the counter's; none
# (empty) for a Python or machine nothing ships on. Needs the venv's interpreter.
venv_lock() {
    local extras=$1 abi machine role
    abi=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    machine=$(uname -m)
    for role in server counter; do
        if [ "$role" = server ]; then
            case ",$extras," in *,server,*) ;; *) continue ;; esac
        fi
        if [ -f "$ROOT/locks/$role-$abi-$machine.txt" ]; then
            echo "$ROOT/locks/$role-$abi-$machine.txt"
            return 0
        fi
    done
}

# What the venv was installed from: pyproject.toml and the lock that held it.
venv_inputs() {
    cat "$ROOT/pyproject.toml" ${1:+"$1"} | sha256sum | cut -c1-16
}

# True when the venv's stamp ("extras inputs-hash") has these inputs and every extra of $1
# (comma-separated): `./scripts/demo` after `./scripts/test` reinstalls nothing.
venv_has() {
    local stamp="$VENV/.madoguchi-installed" installed stamped extra
    [ -x "$PY" ] && [ -f "$stamp" ] || return 1
    read -r installed stamped < "$stamp" || return 1
    [ "$stamped" = "$(venv_inputs "$(venv_lock "$1")")" ] || return 1
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
    if [ ! -x "$PY" ]; then
        log "creating $VENV"
        # Prefer the interpreter on PATH (CI images ship their own); Debian's is fine too.
        python3 -m venv "$VENV"
    fi
    log "installing madoguchi[$extras] into the venv"
    "$PY" -m pip install -q --upgrade pip >/dev/null
    local lock constraints
    lock=$(venv_lock "$extras")
    # PYPI=1: lgpio's sdist (the pin factory on arm64) then builds its own copy of the lg
    # library instead of linking a liblgpio that Debian does not package.
    if [ -n "$lock" ]; then
        # The tests and the demo run the versions the packages ship. Versions only: pip
        # takes a hash in a constraints file as --require-hashes for every requirement,
        # which an editable install cannot meet.
        constraints=$(mktemp)
        sed -e '/--hash=/d' -e 's/ \\$//' "$lock" > "$constraints"
        if ! PYPI=1 "$PY" -m pip install -q -c "$constraints" -e "$ROOT[$extras]"; then
            log "${lock#"$ROOT"/} does not fit pyproject.toml (run scripts/lock);" \
                "installing the newest allowed versions instead"
            lock=""
            PYPI=1 "$PY" -m pip install -q -e "$ROOT[$extras]"
        fi
        rm -f "$constraints"
    else
        log "no lock in locks/ for this Python and machine: installing the newest allowed versions"
        PYPI=1 "$PY" -m pip install -q -e "$ROOT[$extras]"
    fi
    echo "$extras $(venv_inputs "$lock")" > "$stamp"
}
