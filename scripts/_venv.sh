# Shared by scripts/serve and scripts/test: create .venv and install the project once.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
VENV="$ROOT/.venv"
EXTRAS="${1:-}"
STAMP="$VENV/.installed${EXTRAS:+-$EXTRAS}"
# GOST signatures need OpenSSL 3's gost engine (Debian: libengine-gost-openssl). Install it
# once when we can; without it GOST packets get a Fault naming the package and GOST tests skip.
gost_engine_present() {
  local candidate
  for candidate in /usr/lib/*/engines-3/gost.so /usr/lib/engines-3/gost.so /usr/lib64/engines-3/gost.so; do
    [ -e "$candidate" ] && return 0
  done
  return 1
}
if ! gost_engine_present && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "scripts: installing libengine-gost-openssl (GOST R 34.10/34.11-2012 signatures)" >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libengine-gost-openssl; } >/dev/null 2>&1; then
    echo "scripts: could not install libengine-gost-openssl; GOST signatures will be refused" >&2
  fi
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT${EXTRAS:+[$EXTRAS]}"
  touch "$STAMP"
fi
