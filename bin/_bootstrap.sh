# Sourced by bin/hht-archival and bin/test: make .venv match a lock file, once per lock change.
# Needs only Python 3.11+; everything else (uv, Prefect, boto3...) comes pinned from the lock.
set -euo pipefail
HHT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HHT_VENV=${HHT_VENV:-$HHT_ROOT/.venv}
UV_VERSION=0.13.8

# The stamp also names how the venv is set up (HHT_SETUP), so a change to that redoes it.
HHT_SETUP=bytecode,prefect-db
hht_stamp() { echo "$HHT_VENV/.synced-$(basename "$1")-$(sha256sum "$HHT_ROOT/$1" | cut -c1-16)-$HHT_SETUP"; }

hht_ensure_venv() {  # $1: the lock file to satisfy; $2...: other locks that also satisfy it
  local lock=$1 candidate
  for candidate in "$@"; do
    [ -f "$(hht_stamp "$candidate")" ] && return 0
  done
  local python=${PYTHON:-python3}
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "hht-archival needs Python 3.11 or newer as '$python'; install it or set PYTHON=/path/to/python3.11." >&2
    exit 2
  fi
  echo "Setting up $HHT_VENV from $lock (once per lock change)..." >&2
  [ -x "$HHT_VENV/bin/python" ] || "$python" -m venv "$HHT_VENV"
  "$HHT_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION" 2>/dev/null
  # Compiled once here: every process (a CLI run, each worker's flow run) then imports Prefect in
  # about 0.8 s instead of 1.9 s where nothing may write bytecode (PYTHONDONTWRITEBYTECODE).
  "$HHT_VENV/bin/uv" pip sync --quiet --compile-bytecode --python "$HHT_VENV/bin/python" "$HHT_ROOT/$lock"
  "$HHT_VENV/bin/uv" pip install --quiet --python "$HHT_VENV/bin/python" --no-deps -e "$HHT_ROOT"
  # Prefect's database migrated once for this Prefect version: a run on a new HOME (a CI runner)
  # copies it instead of migrating from nothing (hht_archival/embedded_database.py).
  "$HHT_VENV/bin/python" -m hht_archival.embedded_database >&2
  rm -f "$HHT_VENV"/.synced-*
  touch "$(hht_stamp "$lock")"
}
