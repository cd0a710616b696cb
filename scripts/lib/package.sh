# shellcheck shell=bash
# Sourced by scripts/package (and the package test through it) after bootstrap.sh: builds one
# Debian package of madoguchi with dpkg-deb. docs/packaging.md says what goes where and why.

PACKAGE_CACHE=${MADOGUCHI_PACKAGE_CACHE:-/var/cache/madoguchi/packages}
# What building needs on the host: Debian's interpreter and venv (the package's venv is made
# from it, as on the counter), dpkg-deb, and util-linux's unshare for the private /opt.
APT_PACKAGE=(python3.11 python3.11-venv dpkg-dev util-linux)

package_version() {
    "$PY" -c 'import tomllib,sys; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["version"])' \
        "$ROOT/pyproject.toml"
}

package_machine() {
    case "$1" in amd64) echo x86_64 ;; arm64) echo aarch64 ;; *) log "no machine for $1"; return 1 ;; esac
}

# What a build is made of: its lock, the source tree and the packaging files. Same inputs,
# same package: a test run reuses the cached one.
package_key() {
    local role=$1 arch=$2
    {
        printf '%s %s\n' "$role" "$arch"
        sha256sum "$ROOT/locks/$role-cp311-$(package_machine "$arch").txt" "$ROOT/pyproject.toml"
        tar -C "$ROOT" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
            --exclude=__pycache__ --exclude='*.egg-info' -cf - \
            device drivers tui sync madoguchi updater systemd packaging \
            scripts/lib/package.sh scripts/lib/package-venv.sh | sha256sum
    } | sha256sum | cut -c1-16
}

# package_deps_key ROLE ARCH: what the venv's locked distributions are built from (the lock,
# the venv script), so the cached deps venv (package-venv.sh's DEPS_TAR) is reused across
# source changes and rebuilt when the lock moves.
package_deps_key() {
    local role=$1 arch=$2
    cat "$ROOT/locks/$role-cp311-$(package_machine "$arch").txt" "$ROOT/scripts/lib/package-venv.sh" \
        | sha256sum | cut -c1-16
}

# package_venv ROLE ARCH STAGE_VENV WHEEL: the venv, built at /opt/madoguchi/versions/<v>.
package_venv() {
    local role=$1 arch=$2 stage=$3 wheel=$4 version lock deps
    version=$(basename "$stage")
    lock=locks/$role-cp311-$(package_machine "$arch").txt
    deps="deps-$role-$arch-$version-$(package_deps_key "$role" "$arch").tar"
    mkdir -p "$PACKAGE_CACHE/venv"
    # Older deps venvs of this role and machine go: the cache holds the current lock's only.
    local old
    for old in "$PACKAGE_CACHE/venv/deps-$role-$arch-"*.tar; do
        [ ! -e "$old" ] || [ "$(basename "$old")" = "$deps" ] || rm -f "$old"
    done
    if [ "$arch" = amd64 ]; then
        [ "$(dpkg --print-architecture)" = amd64 ] || { log "amd64 packages build on an amd64 host"; return 1; }
        # A private mount namespace with an empty /opt: the venv is made at its real path
        # without touching this host's /opt.
        unshare --mount --propagation private /bin/bash -euc '
            mount -t tmpfs tmpfs /opt
            mkdir -p "/opt/madoguchi/versions/$3"
            mount --bind "$1" "/opt/madoguchi/versions/$3"
            PYPI=1 "$4/scripts/lib/package-venv.sh" "$4/$5" "$2" "$3" "$6"' \
            package-venv "$stage" "$wheel" "$version" "$ROOT" "$lock" "$PACKAGE_CACHE/venv/$deps"
    else
        # In the emulated arm64 Debian 12 root, as a Pi would build it (lgpio and pyscard from
        # source under qemu: minutes, once per lock — the deps venv is cached, see above).
        source "$ROOT/scripts/lib/arm64.sh"
        apt_ensure "${APT_ARM64_HOST[@]}" systemd-container
        arm64_binfmt_ensure
        mkdir -p "$ARM64_CACHE"
        (
            flock 9
            arm64_root_ensure
            arm64_sources_sync
            arm64_run --network --bind="$stage:/opt/madoguchi/versions/$version" \
                --bind-ro="$(dirname "$wheel"):/opt/madoguchi-wheel" --setenv=PYPI=1 \
                --bind="$PACKAGE_CACHE/venv:/opt/madoguchi-deps" \
                /bin/bash /opt/madoguchi/scripts/lib/package-venv.sh "/opt/madoguchi/$lock" \
                "/opt/madoguchi-wheel/$(basename "$wheel")" "$version" "/opt/madoguchi-deps/$deps"
        ) 9>"$ARM64_CACHE/.lock"
    fi
}

# package_fill FILE KEY=VALUE...: the @KEY@ placeholders of a packaging template.
package_fill() {
    local file=$1 pair
    shift
    for pair in "$@"; do
        local key=${pair%%=*} value=${pair#*=}
        value=${value//\\/\\\\}
        value=${value//|/\\|}
        sed -i "s|@$key@|$value|g" "$file"
    done
}

# package_build ROLE ARCH OUT: madoguchi(-server)_<version>_<arch>.deb into OUT, from the
# cache when its inputs have not changed.
package_build() {
    local role=$1 arch=$2 out=$3 version key name deb
    version=$(package_version)
    name=madoguchi
    [ "$role" = counter ] || name=madoguchi-server
    key=$(package_key "$role" "$arch")
    deb="${name}_${version}_${arch}.deb"
    local cached="$PACKAGE_CACHE/$key/$deb"
    if [ -f "$cached" ]; then
        log "package: $deb from the cache ($key)"
        cp "$cached" "$out/$deb"
        return 0
    fi
    local t0=$SECONDS work
    work=$(mktemp -d /tmp/madoguchi-package.XXXXXX)
    # shellcheck disable=SC2064  # expand now: the trap runs after work has gone out of scope
    trap "rm -rf '$work'" RETURN
    log "package: building $deb"
    "$PY" -c 'import sys; from pathlib import Path; from updater.build import build_app_wheel
print(build_app_wheel(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])))' \
        "$ROOT" "$version" "$work/wheel" >/dev/null
    local wheel
    wheel=$(ls "$work/wheel"/madoguchi-"$version"-*.whl)
    local stage=$work/root venv=$work/root/opt/madoguchi/versions/$version
    mkdir -p "$venv"
    package_venv "$role" "$arch" "$venv" "$wheel"
    local sd=$ROOT/systemd pk=$ROOT/packaging/debian
    install -d "$stage/usr/lib/systemd/system" "$stage/usr/lib/sysusers.d" \
        "$stage/usr/lib/tmpfiles.d" "$stage/usr/bin" "$stage/usr/share/doc/$name" "$stage/DEBIAN"
    ln -s /opt/madoguchi/current/bin/madoguchi "$stage/usr/bin/madoguchi"
    install -m 0644 "$pk/copyright" "$stage/usr/share/doc/$name/copyright"
    local units enable start users dirs
    if [ "$role" = counter ]; then
        units="madoguchi-tui.service madoguchi-sync.service madoguchi-sync.path madoguchi-update.service madoguchi-update.timer"
        enable="madoguchi-tui.service madoguchi-sync.service madoguchi-sync.path madoguchi-update.timer"
        start="madoguchi-sync.path madoguchi-update.timer"
        users=madoguchi
        dirs="/var/lib/madoguchi /var/lib/madoguchi-update"
        # The counter's lines of the one sysusers file (the server's user is the server's).
        grep -v '^u madoguchi-server ' "$sd/madoguchi.sysusers.conf" \
            >"$stage/usr/lib/sysusers.d/madoguchi.conf"
        install -m 0644 "$sd/madoguchi.tmpfiles.conf" "$stage/usr/lib/tmpfiles.d/madoguchi.conf"
        install -D -m 0644 "$sd/60-madoguchi-gpio.rules" \
            "$stage/usr/lib/udev/rules.d/60-madoguchi-gpio.rules"
        install -D -m 0644 "$sd/61-madoguchi-usb.rules" \
            "$stage/usr/lib/udev/rules.d/61-madoguchi-usb.rules"
        install -D -m 0644 "$sd/foot.ini" "$stage/usr/share/madoguchi/foot.ini"
    else
        units="madoguchi-server.service madoguchi-server-retention.service madoguchi-server-retention.timer"
        enable="madoguchi-server.service madoguchi-server-retention.timer"
        start=""
        users=madoguchi-server
        dirs="/var/lib/madoguchi-server"
        { grep '^#' "$sd/madoguchi.sysusers.conf"; grep '^u madoguchi-server ' "$sd/madoguchi.sysusers.conf"; } \
            >"$stage/usr/lib/sysusers.d/madoguchi-server.conf"
        { grep '^#' "$sd/madoguchi.tmpfiles.conf"; grep ' /opt/madoguchi' "$sd/madoguchi.tmpfiles.conf"; } \
            >"$stage/usr/lib/tmpfiles.d/madoguchi-server.conf"
    fi
    local unit
    for unit in $units; do install -m 0644 "$sd/$unit" "$stage/usr/lib/systemd/system/$unit"; done
    cp "$pk/$role.control" "$stage/DEBIAN/control"
    local script
    for script in postinst prerm postrm; do
        install -m 0755 "$pk/$script" "$stage/DEBIAN/$script"
        package_fill "$stage/DEBIAN/$script" VERSION="$version" UNITS="$units" \
            ENABLE="$enable" START="$start" USERS="$users" DIRS="$dirs" \
            SYSUSERS="$(basename "$stage"/usr/lib/sysusers.d/*.conf)" \
            TMPFILES="$(basename "$stage"/usr/lib/tmpfiles.d/*.conf)"
    done
    package_fill "$stage/DEBIAN/control" VERSION="$version" ARCH="$arch" \
        SIZE="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
    mkdir -p "$PACKAGE_CACHE/$key"
    dpkg-deb --root-owner-group -Zgzip -z6 --build "$stage" "$PACKAGE_CACHE/$key/$deb.partial" >/dev/null
    mv "$PACKAGE_CACHE/$key/$deb.partial" "$cached"
    # Older builds of the same package go: the cache holds the latest inputs only.
    local old
    for old in "$PACKAGE_CACHE"/*/"$deb"; do
        [ "$old" = "$cached" ] || rm -rf "$(dirname "$old")"
    done
    cp "$cached" "$out/$deb"
    log "package: $deb built in $((SECONDS - t0)) s ($(du -h "$cached" | cut -f1))"
}

# The fresh Debian 12 root the packages are installed into and booted (tests/systemd/
# test_package.py, madoguchi bench package; arm64: tests/systemd/test_package_arm64.py, booted
# under qemu-user): debootstrap (minbase) plus systemd to boot and what the packages depend on
# (their control files), so `apt install ./madoguchi_*.deb` needs no network. Cached under
# /var/cache/madoguchi/boot keyed by those lists and the machine; a test boots it through an
# overlay, so the cached root itself stays fresh.
PACKAGE_BOOT_CACHE=${MADOGUCHI_BOOT_CACHE:-/var/cache/madoguchi/boot}

package_boot_packages() {
    {
        printf '%s\n' systemd systemd-sysv dbus
        sed -n 's/^Depends: //p' "$ROOT"/packaging/debian/*.control | tr ',' '\n'
    } | tr -d ' ' | grep -v '^$' | sort -u | tr '\n' ' '
}

package_boot_setup() {
    local partial=$1
    echo madoguchi-boot >"$partial/etc/hostname"
    if [ -n "${ARM64_INTERPRETER:-}" ]; then
        install -D -m 755 "$ARM64_INTERPRETER" "$partial$ARM64_INTERPRETER"
    fi
    # not booted: nothing is started by the packages' scripts here
    systemd-nspawn --quiet --register=no --keep-unit -D "$partial" \
        --setenv=DEBIAN_FRONTEND=noninteractive /bin/sh -c \
        "apt-get update -qq && apt-get install -y -qq --no-install-recommends $(package_boot_packages) && apt-get clean" \
        >>"$PACKAGE_BOOT_CACHE/debootstrap.log" 2>&1 \
        || { tail -20 "$PACKAGE_BOOT_CACHE/debootstrap.log" >&2; log "installing the boot root's packages failed"; exit 1; }
}

# package_boot_root [ARCH]: prints the path of the cached boot root for ARCH (amd64 by
# default; arm64 runs under qemu-user through binfmt), building it first if need be.
package_boot_root() {
    local arch=${1:-amd64} key dir
    if [ "$arch" = arm64 ]; then
        source "$ROOT/scripts/lib/arm64.sh"
        apt_ensure "${APT_ARM64_HOST[@]}"
        arm64_binfmt_ensure
    fi
    key=$(printf '%s\n' "$DEBROOT_SUITE" "$(debroot_sources)" "$(package_boot_packages)" \
        | sha256sum | cut -c1-12)
    dir="$PACKAGE_BOOT_CACHE/$DEBROOT_SUITE-$arch-$key"
    mkdir -p "$PACKAGE_BOOT_CACHE"
    debroot_build "$arch" "$dir" "$PACKAGE_BOOT_CACHE/debootstrap.log" --variant=minbase \
        -- package_boot_setup >&2
    if [ -n "${ARM64_INTERPRETER:-}" ] && [ ! -x "$dir$ARM64_INTERPRETER" ]; then
        install -D -m 755 "$ARM64_INTERPRETER" "$dir$ARM64_INTERPRETER"
    fi
    echo "$dir"
}
