#!/usr/bin/env bash
# Creates the Python venv with the DICOM baselines (dicognito, pydicom's deid, OpenCV) used by bench/dicom-*.ts.
set -euo pipefail
VENV="${TRIBUTARY_BENCH_VENV:-$HOME/.cache/tributary/bench-venv}"
HERE="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements-dicom.txt"
echo "$VENV"
