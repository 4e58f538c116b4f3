#!/usr/bin/env bash
# Creates the Python venv with the DICOM baselines (dicognito, pydicom's deid, OpenCV) used by bench/dicom-*.ts.
set -euo pipefail
VENV="${TRIBUTARY_BENCH_VENV:-$HOME/.cache/tributary/bench-venv}"
HERE="$(cd "$(dirname "$0")" && pwd)"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
# Binary wheels only for the heavy packages: an sdist fallback of matplotlib (a deid dependency) fails offline.
"$VENV/bin/pip" install --quiet --disable-pip-version-check --prefer-binary --only-binary=matplotlib,numpy,opencv-python-headless -r "$HERE/requirements-dicom.txt"
echo "$VENV"
