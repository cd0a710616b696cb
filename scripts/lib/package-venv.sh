#!/bin/bash
# package-venv.sh LOCK APP_WHEEL VERSION [DEPS_TAR]: the app's virtual environment at its real
# path, /opt/madoguchi/versions/VERSION, from Debian's python3.11 and exactly the hashed lock.
# DEPS_TAR caches the venv with the lock's distributions only (byte-compiled): when it exists
# the venv is unpacked from it and only the app's own wheel is installed, so a source change
# costs seconds instead of rebuilding pyscard and lgpio under qemu (scripts/lib/package.sh
# keys it by the lock, this script and the interpreter).
# Run where that path is the package's staging directory (scripts/package binds it there:
# a private mount namespace on an amd64 host, the emulated arm64 root for arm64), since a
# venv's scripts name their interpreter by absolute path and cannot be moved afterwards.
set -euo pipefail
lock=$1 wheel=$2 version=$3 deps_tar=${4:-}
target=/opt/madoguchi/versions/$version
# Only the lock and the index: no pip.conf of the build host (find-links, constraints).
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_CONSTRAINT PIP_EXTRA_INDEX_URL PIP_NO_INDEX
[ -z "$(ls -A "$target")" ] || { echo "package-venv: $target is not empty" >&2; exit 1; }
if [ -n "$deps_tar" ] && [ -f "$deps_tar" ]; then
    tar -C "$target" -xf "$deps_tar"
else
    /usr/bin/python3.11 -m venv "$target"
    # --require-hashes: every distribution is the one scripts/lock recorded, sdists included
    # (pyscard and lgpio build from them where no wheel fits).
    "$target/bin/pip" install --quiet --require-hashes --no-deps -r "$lock"
    # Byte-code is written at build time (the units run with PYTHONDONTWRITEBYTECODE=1).
    "$target/bin/python" -m compileall -q -j 0 "$target/lib" >/dev/null || true
    if [ -n "$deps_tar" ]; then
        # written aside and renamed: an interrupted build never leaves a half cache
        tar -C "$target" -cf "$deps_tar.partial" . && mv "$deps_tar.partial" "$deps_tar"
    fi
fi
"$target/bin/pip" install --quiet --no-deps --no-index "$wheel"
# The release marker the updater requires of a complete version (updater/layout.py).
printf '{\n "installed_by": "deb",\n "version": "%s"\n}\n' "$version" >"$target/.madoguchi-release.json"
"$target/bin/python" -m compileall -q -j 0 "$target/lib" >/dev/null || true
"$target/bin/madoguchi" --help >/dev/null
