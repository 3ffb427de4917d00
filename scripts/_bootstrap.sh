# Sourced by scripts/demo and scripts/test: everything Tenantry needs, from Python 3.11+ and pip.
# uv (pinned) goes into .tools/, the locked dependencies into .venv/. Re-running is cheap.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

UV_VERSION="0.13.9"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "Tenantry needs Python 3.11 or newer (found: $("$PYTHON" --version 2>&1)). Set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

if [ "$(.tools/bin/uv --version 2>/dev/null | awk '{print $2}')" != "$UV_VERSION" ]; then
  echo "Installing uv $UV_VERSION into .tools/ …"
  rm -rf .tools
  "$PYTHON" -m pip install --quiet --disable-pip-version-check --target .tools "uv==$UV_VERSION"
fi
export PATH="$ROOT/.tools/bin:$PATH"
export UV_PYTHON_DOWNLOADS=never
export UV_PYTHON="$("$PYTHON" -c 'import sys; print(sys.executable)')"

# --frozen: install exactly what uv.lock pins, never re-resolve.
uv sync --frozen --quiet
