#!/usr/bin/env bash
# One entry point for a fresh machine.
#   ./run.sh          install everything, then serve the map on http://127.0.0.1:8000/
#   ./run.sh test     install everything (incl. Debian's Chromium and PostgreSQL/PostGIS), then run the whole test suite
#   ./run.sh install  install only
# Re-running is cheap: each step is skipped when its inputs have not changed.
set -euo pipefail
cd "$(dirname "$0")"

VENV=.venv
PY="$VENV/bin/python"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

install_python() {
  if [ ! -x "$PY" ]; then
    say "creating virtualenv $VENV"
    python3 -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    say "installing Python packages (pyproject.toml)"
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet -e '.[test]'
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

install_web_assets() {
  # Leaflet and its plugins come from the npm registry and are served by the app: no CDN.
  local stamp="node_modules/.installed-$(sha1sum package-lock.json | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    say "installing web assets (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
    touch "$stamp"
  fi
  "$PY" scripts/vendor_assets.py
}

compile_bytecode() {
  # Our modules' bytecode, once per change (where PYTHONDONTWRITEBYTECODE is set, nothing else writes it):
  # a server then starts without compiling ~100 modules from source (~0.3 s).
  "$PY" -m compileall -q geo webmap stationmap >/dev/null
}

compile_translations() {
  # The one message catalogue: translations/<lang>/LC_MESSAGES/messages.po -> messages.mo (not committed).
  "$VENV/bin/pybabel" -q compile -d translations -D messages
}

install_browser() {
  # Browser tests drive Debian's Chromium; Playwright's own download does not work offline.
  if [ -x /usr/lib/chromium/chromium ] || [ -x /usr/bin/chromium ]; then return; fi
  say "installing Debian's chromium for the browser tests"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk >/dev/null
  if [ ! -x /usr/lib/chromium/chromium ] && [ ! -x /usr/bin/chromium ]; then
    echo "chromium is still missing after apt-get install; browser tests cannot run" >&2
    exit 1
  fi
}

install_postgres() {
  # The PostGIS store's tests run on a real PostgreSQL: tests/pg.py starts a throwaway cluster
  # (as the postgres user: initdb refuses root) and stops it at the end; here we only install it.
  if [ -x /usr/lib/postgresql/15/bin/initdb ] && [ -f /usr/share/postgresql/15/extension/postgis.control ]; then return; fi
  say "installing Debian's PostgreSQL 15 + PostGIS 3 for the database tests"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-15-postgis-3 >/dev/null
  if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
    echo "PostgreSQL is still missing after apt-get install; the database tests cannot run" >&2
    exit 1
  fi
}

case "${1:-serve}" in
  install)
    install_python
    install_web_assets
    compile_translations
    compile_bytecode
    ;;
  serve)
    install_python
    install_web_assets
    compile_translations
    compile_bytecode
    shift || true
    exec "$VENV/bin/stationmap" serve "$@"
    ;;
  test)
    install_python
    install_web_assets
    compile_translations
    compile_bytecode
    install_browser
    install_postgres
    shift || true
    exec "$PY" -m pytest "$@"
    ;;
  *)
    echo "usage: ./run.sh [serve [options] | test [pytest options] | install]" >&2
    exit 2
    ;;
esac
