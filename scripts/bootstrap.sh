#!/usr/bin/env bash
# Prepare a working checkout: .venv with skubridge installed editable (plus dev
# extras), Debian's chromium for the browser tests, then the local Postgres/Redis via
# scripts/ensure-services.sh.
#
# Quiet when nothing needs doing. Dependencies come from requirements-dev.lock (exact versions,
# every file checked against its sha256; refresh it with scripts/lock.sh) and are (re)installed
# only when the lock or pyproject.toml changed since the last successful install:
# .venv/.installed holds the sha256 of both as they were installed.
#
# Environment: PYTHON (interpreter to build the venv with; default: first python3
# >= 3.11 found), SKUBRIDGE_SKIP_SERVICES=1 (skip Postgres/Redis checks).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
STAMP="$VENV/.installed"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

as_root() {
  if [[ "$(id -u)" -eq 0 ]]; then
    "$@"
  elif have sudo; then
    if [[ -t 0 ]]; then sudo "$@"; else sudo -n "$@"; fi
  else
    die "need root privileges (no sudo available) to run: $*"
  fi
}

APT_UPDATED=0
apt_install() {
  have apt-get || die "please install $* (apt-get is not available here)"
  [[ "$(id -u)" -eq 0 ]] || have sudo || die "please install $* (not root and no sudo)"
  local log
  log="$(mktemp "${TMPDIR:-/tmp}/bootstrap-apt.XXXXXX")"
  if [[ "$APT_UPDATED" == 0 ]]; then
    say "running apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1 \
      || { cat "$log" >&2; rm -f "$log"; die "apt-get update failed"; }
    APT_UPDATED=1
  fi
  say "installing with apt-get: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1 \
    || { cat "$log" >&2; rm -f "$log"; die "apt-get install $* failed"; }
  rm -f "$log"
}

py_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }

find_python() {
  local c
  if [[ -n "${PYTHON:-}" ]]; then
    py_ok "$PYTHON" || die "PYTHON=$PYTHON is not a working Python >= 3.11"
    echo "$PYTHON"
    return 0
  fi
  for c in python3 python3.13 python3.12 python3.11; do
    if have "$c" && py_ok "$c"; then echo "$c"; return 0; fi
  done
  return 1
}

file_sha256() {
  if have sha256sum; then
    sha256sum "$1" | cut -d' ' -f1
  else
    "$VENV/bin/python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
  fi
}

# A venv is usable when its interpreter runs, is new enough and has pip.
venv_ok() {
  [[ -x "$VENV/bin/python" ]] && py_ok "$VENV/bin/python" \
    && "$VENV/bin/python" -c 'import pip' >/dev/null 2>&1
}

create_venv() {
  local py=$1
  say "creating $VENV with $py"
  rm -rf "$VENV"
  if "$py" -m venv "$VENV" >/dev/null 2>&1 && venv_ok; then
    return 0
  fi
  # Debian/Ubuntu ship venv/ensurepip separately (python3-venv).
  rm -rf "$VENV"
  have apt-get || die "'$py -m venv' failed; install the venv module for $py"
  apt_install python3-venv
  "$py" -m venv "$VENV" || die "'$py -m venv $VENV' failed even after installing python3-venv"
  venv_ok || die "$VENV was created but is not usable"
}

# --------------------------------------------------------------------------- venv

if ! venv_ok; then
  if ! PY="$(find_python)"; then
    say "no Python >= 3.11 found"
    apt_install python3 python3-venv
    PY="$(find_python)" || die "no Python >= 3.11 available (Debian 12+ / Ubuntu 24.04+ ship one)"
  fi
  create_venv "$PY"
fi

# --------------------------------------------------------------------------- deps

want="$(file_sha256 requirements-dev.lock) $(file_sha256 pyproject.toml)"
have_stamp="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "$want" != "$have_stamp" || ! -x "$VENV/bin/skubridge" ]]; then
  say "installing skubridge and dev dependencies into $VENV"
  rm -f "$STAMP"
  "$VENV/bin/python" -m pip install -q --require-hashes -r requirements-dev.lock \
    || die "pip install -r requirements-dev.lock failed"
  # The project itself, editable; its dependencies are all in the lock already.
  "$VENV/bin/python" -m pip install -q --no-deps -e . \
    || die "pip install -e . failed"
  printf '%s\n' "$want" >"$STAMP.tmp"
  mv -f "$STAMP.tmp" "$STAMP"
fi

# --------------------------------------------------------------------------- browser

# The console's browser tests (tests/ui/) drive Debian's chromium through Playwright's
# executable_path: Playwright's own browser downloads are not reachable from every machine.
if ! have chromium; then
  apt_install chromium
fi

# --------------------------------------------------------------------------- services

bash scripts/ensure-services.sh
