# shellcheck shell=bash
# Sourced after bootstrap.sh: Debian 12 roots made with debootstrap from apt's own mirror and
# cached under /var/cache/madoguchi, keyed by what they are built from — the emulated arm64
# root (scripts/lib/arm64.sh) and the fresh amd64 root the packages are installed into and
# booted (scripts/package boot-root, tests/systemd/test_package.py). Needs root.

DEBROOT_SUITE=bookworm

# The Debian mirror apt is configured with (this machine may reach no other), for the suite
# and its -updates and -security companions, one "URI SUITE" a line.
debroot_sources() {
    apt-get indextargets --format '$(REPO_URI) $(CODENAME) $(ORIGIN)' 'Identifier: Packages' \
        2>/dev/null | awk -v s="$DEBROOT_SUITE" '$3 == "Debian" && ($2 == s || $2 ~ "^" s "-") \
        { print $1, $2 }' | sort -u
}

debroot_mirror() {
    local uri
    uri=$(debroot_sources | awk -v s="$DEBROOT_SUITE" '$2 == s { print $1; exit }')
    echo "${uri:-http://deb.debian.org/debian/}"
}

# debroot_build ARCH DIR LOG [DEBOOTSTRAP_OPTION...] [-- SETUP_FUNCTION]: DIR as a complete
# root, built aside and renamed when complete, so an interrupted build is never taken for a
# cached one. SETUP_FUNCTION (if any) is called with the partial root before the rename.
# Other roots beside DIR with the same name up to its last "-" (older keys) are removed.
debroot_build() {
    local arch=$1 dir=$2 logfile=$3 opts=() setup=""
    shift 3
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then setup=$2; break; fi
        opts+=("$1"); shift
    done
    if [ -f "$dir/.madoguchi-root" ]; then
        log "using the cached root $dir"
    else
        local partial="$dir.partial" t0=$SECONDS
        rm -rf "$partial"
        log "building a Debian $DEBROOT_SUITE $arch root in $dir (a few minutes, once)"
        debootstrap --arch="$arch" "${opts[@]}" "$DEBROOT_SUITE" "$partial" "$(debroot_mirror)" \
            >"$logfile" 2>&1 || { tail -20 "$logfile" >&2; log "debootstrap failed"; exit 1; }
        debroot_sources | awk '{ print "deb " $1 " " $2 " main" }' >"$partial/etc/apt/sources.list"
        [ -z "$setup" ] || "$setup" "$partial"
        touch "$partial/.madoguchi-root"
        mv "$partial" "$dir"
        log "debootstrap took $((SECONDS - t0)) s"
    fi
    local old
    for old in "${dir%-*}"-*; do
        [ "$old" = "$dir" ] || [ ! -d "$old" ] || rm -rf "$old"
    done
}
