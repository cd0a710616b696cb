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

venv_ensure() {
    local extras=$1
    local stamp="$VENV/.madoguchi-installed"
    local want
    want="$extras $(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    if [ -x "$PY" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    if [ ! -x "$PY" ]; then
        log "creating $VENV"
        # Prefer the interpreter on PATH (CI images ship their own); Debian's is fine too.
        python3 -m venv "$VENV"
    fi
    log "installing madoguchi[$extras] into the venv"
    "$PY" -m pip install -q --upgrade pip >/dev/null
    "$PY" -m pip install -q -e "$ROOT[$extras]"
    echo "$want" > "$stamp"
}
