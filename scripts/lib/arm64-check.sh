# shellcheck shell=bash
# Run by scripts/arm64 inside the emulated arm64 root (cwd /opt/madoguchi, no network but
# loopback): what a new Pi must do before it serves a counter. Any failure ends the run.
set -euo pipefail
# Bytecode is written on purpose: the venv was installed without it (PIP_NO_COMPILE) and the
# root is cached, so each module is compiled under emulation once, not on every run.
unset PYTHONDONTWRITEBYTECODE
PY=.venv/bin/python
M=.venv/bin/madoguchi
MADOGUCHI_STATE_DIR=$(mktemp -d)
export MADOGUCHI_STATE_DIR

step() { printf '[arm64] %s\n' "$*" >&2; }

step "machine $(uname -m), $(. /etc/os-release && echo "$PRETTY_NAME"), $($PY --version)"
[ "$(uname -m)" = aarch64 ]

step "the Pi's pin factory is installed and imports"
$PY -c 'import lgpio; from gpiozero.pins.lgpio import LGPIOFactory; print(f"lgpio {lgpio.LGPIO_PY_VERSION:#x}")'

step "CLI smoke"
$M --help >/dev/null
$M sim profiles >/dev/null
$M rules explain 2-1-1 >/dev/null
$M rules check docs/cases/2-1-1-continue-pin.json >/dev/null
$M card status --json >/dev/null   # the embedded defaults: the virtual card, in-process
$M pad status --json
printf '[keypad]\nbackend = "gpio"\n' >"$MADOGUCHI_STATE_DIR/gpio.toml"
# No GPIO chip under emulation: the counter must refuse with a sentence, exit 2, no traceback.
set +e
$M --config "$MADOGUCHI_STATE_DIR/gpio.toml" pad status >/dev/null 2>"$MADOGUCHI_STATE_DIR/err"
rc=$?
set -e
err=$MADOGUCHI_STATE_DIR/err
cat "$err" >&2
# (a `!` command never trips set -e: each expectation fails the run explicitly)
[ "$rc" -eq 2 ] || { step "expected exit code 2, got $rc"; exit 1; }
if grep -q Traceback "$err"; then step "a traceback instead of a sentence"; exit 1; fi
# lgpio is there: what fails under emulation is the GPIO chip, not a missing package
grep -q "lgpio: " "$err" || { step "lgpio was not tried"; exit 1; }
grep -q "lgpio is installed but cannot drive" "$err" || { step "lgpio counted as missing"; exit 1; }

step "pcscd with the virtual reader"
scripts/pcscd start
trap 'scripts/pcscd stop' EXIT

step "the rules tests and the PC/SC card tests"
$PY -m pytest -q -p no:cacheprovider tests/rules
$PY -m pytest -q -p no:cacheprovider -m pcsc tests/card tests/pcsc
