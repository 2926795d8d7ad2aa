#!/usr/bin/env bash
# The Kitsu test stack: Debian's PostgreSQL and Redis, and zou (Kitsu's API server) in a venv of its own.
#
# The tracker tests (tests/test_tracker.py) start a real zou server from these. zou pins ~60 exact
# versions (numpy, Pillow, Flask...), so it cannot share shotrender's venv; it lives in .kitsu-venv at
# the repository's root (gitignored), where the tests look for it. Running this again changes nothing.
#
#   bash scripts/install-kitsu.sh
set -euo pipefail
cd "$(dirname "$0")/.."

ZOU_VERSION=1.0.97
VENV=.kitsu-venv

# PostgreSQL's initdb/pg_ctl and redis-server (the tests run them as their own processes).
if ! command -v redis-server >/dev/null || ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server >/dev/null
fi

# The marker is written last: a venv without it (an interrupted install) is made again from nothing.
# (A venv cannot be built elsewhere and moved into place: its scripts name their python by full path.)
MARKER="$VENV/installed-zou-$ZOU_VERSION"
[ -f "$MARKER" ] && exit 0
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "zou==$ZOU_VERSION"
touch "$MARKER"
