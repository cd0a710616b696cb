#!/bin/bash
# package-venv.sh LOCK APP_WHEEL VERSION: the app's virtual environment at its real path,
# /opt/madoguchi/versions/VERSION, from Debian's python3.11 and exactly the hashed lock.
# Run where that path is the package's staging directory (scripts/package binds it there:
# a private mount namespace on an amd64 host, the emulated arm64 root for arm64), since a
# venv's scripts name their interpreter by absolute path and cannot be moved afterwards.
set -euo pipefail
lock=$1 wheel=$2 version=$3
target=/opt/madoguchi/versions/$version
# Only the lock and the index: no pip.conf of the build host (find-links, constraints).
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_CONSTRAINT PIP_EXTRA_INDEX_URL PIP_NO_INDEX
[ -z "$(ls -A "$target")" ] || { echo "package-venv: $target is not empty" >&2; exit 1; }
/usr/bin/python3.11 -m venv "$target"
# --require-hashes: every distribution is the one scripts/lock recorded, sdists included
# (pyscard and lgpio build from them where no wheel fits; pip's cache keeps the builds).
"$target/bin/pip" install --quiet --require-hashes --no-deps -r "$lock"
"$target/bin/pip" install --quiet --no-deps --no-index "$wheel"
# The release marker the updater requires of a complete version (updater/layout.py).
printf '{\n "installed_by": "deb",\n "version": "%s"\n}\n' "$version" >"$target/.madoguchi-release.json"
# Byte-code is written at build time (the units run with PYTHONDONTWRITEBYTECODE=1).
"$target/bin/python" -m compileall -q -j 0 "$target/lib" >/dev/null || true
"$target/bin/madoguchi" --help >/dev/null
