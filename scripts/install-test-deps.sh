#!/usr/bin/env bash
# Everything the test suite needs, on a fresh Debian (bookworm or later) machine: the system packages, then a
# virtualenv in .venv with shotrender and its test extras. The README's test command and .ci/run both call it.
#
#   scripts/install-test-deps.sh && . .venv/bin/activate && python -m pytest -q
#
# Run it again at any time: a package already installed is not installed again, and the Python packages are
# installed again only when pyproject.toml or this script changed (a few seconds when nothing did).
# It runs apt-get as root, or through sudo when not root.
#
# To add a dependency: a Debian package goes in APT_PACKAGES with the reason on its line; anything else the
# tests need (a service, a second virtualenv) goes in a function of its own, called at the end.
set -euo pipefail
SCRIPT="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SCRIPT")/.."

APT_PACKAGES=(
    python3-venv   # `python3 -m venv`: Debian's python3 leaves it out
    chromium       # the report and review tests open their pages in a real headless browser
    imagemagick    # the retouch tests read the exported PSDs with a second, independent reader (identify)
)
TORCH=torch==2.13.0  # pinned and first: a bare `torch` requirement pulls a multi-GB CUDA build
VENV=.venv

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_apt_packages() {
    local missing=() package
    for package in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return
    echo "installing ${missing[*]} (apt-get)" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python_packages() {
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    local stamp="$VENV/.shotrender-test-deps"
    local wanted
    wanted="$(cat pyproject.toml "$SCRIPT" | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
        return
    fi
    echo "installing $TORCH and shotrender[test] into $VENV (pip)" >&2
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "$TORCH"
    "$VENV/bin/python" -m pip install --quiet -e '.[test]'
    echo "$wanted" > "$stamp"
}

install_apt_packages
install_python_packages
# the tracker tests run a real Kitsu server: PostgreSQL, Redis and zou in a venv of its own (.kitsu-venv)
bash scripts/install-kitsu.sh
