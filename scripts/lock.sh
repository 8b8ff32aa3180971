#!/usr/bin/env bash
# Refresh the lock files from pyproject.toml, with a sha256 for every file pip may install.
#
#   scripts/lock.sh            keep the locked versions, add/remove what pyproject.toml changed
#   scripts/lock.sh --upgrade  move every package to its newest release within pyproject.toml
#
# requirements.lock (the service) is what the Docker image installs; requirements-dev.lock
# (service + test tools) is what scripts/bootstrap.sh installs for `make test` and `make demo`.
# Both are resolved for every platform (--universal), so one lock serves this machine and the
# image. After an upgrade: run `make test`, then commit pyproject.toml and both locks together.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

UV_VERSION=0.13.9
TOOLS=.cache/lock-tools
if [[ "$("$TOOLS/bin/uv" --version 2>/dev/null)" != "uv $UV_VERSION"* ]]; then
  rm -rf "$TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q "uv==$UV_VERSION"
fi

compile() {
  "$TOOLS/bin/uv" pip compile pyproject.toml --generate-hashes --universal --python-version 3.11 \
    --custom-compile-command "scripts/lock.sh" -q "$@"
}
compile -o requirements.lock "${@}"
compile --extra dev -o requirements-dev.lock "${@}"
echo "lock: wrote requirements.lock and requirements-dev.lock" >&2
