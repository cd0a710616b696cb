# shellcheck shell=bash
# Sourced by scripts/arm64 after bootstrap.sh: the emulated arm64 Debian 12 root, its cache and
# how commands run in it. Needs root.
source "$ROOT/scripts/lib/debroot.sh"

ARM64_SUITE=$DEBROOT_SUITE
ARM64_CACHE=${MADOGUCHI_ARM64_CACHE:-/var/cache/madoguchi/arm64}

arm64_fail() { log "arm64: $*"; exit 1; }

# The cache key: what the root is built from. A change to the package lists builds a new one.
arm64_key() {
    printf '%s\n' "$ARM64_SUITE" "$(debroot_sources)" "${APT_RUNTIME[*]}" "${APT_ARM64_ROOT[*]}" \
        | sha256sum | cut -c1-12
}

ARM64_DIR="$ARM64_CACHE/$ARM64_SUITE-$(arm64_key)"

# qemu-aarch64 registered in binfmt_misc, or a failure that says why it cannot be.
arm64_binfmt_ensure() {
    local bm=/proc/sys/fs/binfmt_misc entry=/proc/sys/fs/binfmt_misc/qemu-aarch64 out
    if [ ! -e "$bm/register" ]; then
        out=$(mount -t binfmt_misc binfmt_misc "$bm" 2>&1) \
            || arm64_fail "cannot mount binfmt_misc on $bm (needed to run arm64 programs): $out"
    fi
    if ! grep -qx enabled "$entry" 2>/dev/null; then
        out=$(update-binfmts --enable qemu-aarch64 2>&1) || true
        grep -qx enabled "$entry" 2>/dev/null \
            || arm64_fail "cannot register the qemu-aarch64 binfmt handler in $bm: ${out:-not registered}"
    fi
    # Without the F flag the kernel looks the interpreter up inside the root at exec time.
    if ! grep -q '^flags: .*F' "$entry"; then
        ARM64_INTERPRETER=$(awk '$1 == "interpreter" { print $2 }' "$entry")
    fi
}

# Installing pcscd in the root must not try to start it; the checks start their own.
arm64_root_setup() {
    printf '#!/bin/sh\nexit 101\n' >"$1/usr/sbin/policy-rc.d"
    chmod 755 "$1/usr/sbin/policy-rc.d"
}

# The root: debootstrap (minbase) from apt's mirror (scripts/lib/debroot.sh: built aside and
# renamed when complete; older keys are removed).
arm64_root_ensure() {
    debroot_build arm64 "$ARM64_DIR" "$ARM64_CACHE/debootstrap.log" --variant=minbase \
        -- arm64_root_setup
    if [ -n "${ARM64_INTERPRETER:-}" ]; then
        install -D -m 755 "$ARM64_INTERPRETER" "$ARM64_DIR$ARM64_INTERPRETER"
    fi
}

# The working tree (not .git, not the host's venv) copied to /opt/madoguchi in the root; the
# root's own .venv there is kept between runs (venv_ensure reinstalls when pyproject changes).
arm64_sources_sync() {
    local dest="$ARM64_DIR/opt/madoguchi"
    mkdir -p "$dest"
    find "$dest" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
    # dist/: scripts/package's debs, tens of MB that the root has no use for
    tar -C "$ROOT" --exclude=./.venv --exclude=./.git --exclude=./.run --exclude=./dist \
        --exclude='*.egg-info' \
        --exclude=__pycache__ --exclude=.mypy_cache --exclude=.ruff_cache \
        --exclude=.pytest_cache --exclude=.hypothesis -cf - . | tar -C "$dest" -xf -
}

# arm64_run [--network] COMMAND...: run in the root under systemd-nspawn (not booted). Without
# --network it gets a private network with only loopback, so its vpcd ports do not meet the
# host's. With it (installing) pip skips byte-compiling, the slowest part of an install under
# emulation: the checks write the bytecode of what they import, once, into the cached root.
# pip's cache (downloads, and the wheels of pyscard and lgpio built from source) lives beside
# the roots, so a root rebuilt for new package lists does not build them again. The host's CA
# bundle goes along for pip (some networks re-sign TLS).
arm64_run() {
    local opts=(--private-network) ca=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
    if [ "${1:-}" = --network ]; then opts=(--setenv=PIP_NO_COMPILE=1); shift; fi
    mkdir -p "$ARM64_CACHE/pip" "$ARM64_DIR/root/.cache/pip"
    opts+=(--bind="$ARM64_CACHE/pip:/root/.cache/pip" --console="${ARM64_CONSOLE:-pipe}")
    if [ -f "$ca" ]; then
        touch "$ARM64_DIR/opt/host-ca.crt"
        opts+=(--bind-ro="$ca:/opt/host-ca.crt" --setenv=PIP_CERT=/opt/host-ca.crt)
    fi
    [ -z "${PIP_INDEX_URL:-}" ] || opts+=(--setenv=PIP_INDEX_URL="$PIP_INDEX_URL")
    systemd-nspawn --quiet --register=no --keep-unit -D "$ARM64_DIR" --chdir=/opt/madoguchi \
        --setenv=CI="${CI:-}" --setenv=PIP_DISABLE_PIP_VERSION_CHECK=1 \
        --setenv=PIP_DEFAULT_TIMEOUT=180 "${opts[@]}" "$@"
}
