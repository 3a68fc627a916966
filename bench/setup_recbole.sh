#!/usr/bin/env bash
# RecBole 1.2.1, the peer baseline, in its own venv (its pins clash with our stack).
# Pins from ../shared/notes/recbole-peer.md: ray needs numpy<2 and setuptools<81,
# scipy>=1.13 breaks its LightGCN graph build.
set -euo pipefail
VENV=${RECBOLE_VENV:-bench/.venv-recbole}
[ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import recbole" 2>/dev/null && exit 0
python3.11 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "torch==2.13.0"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "recbole==1.2.1" "numpy<2" \
    "pandas<2.3" "scipy<1.13" "setuptools<81"
