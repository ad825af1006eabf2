#!/usr/bin/env bash
# scripts/setup.sh — installs what building and testing ragged needs on a
# fresh Debian 12 machine: the C toolchain and libraries from Debian, and the
# Python packages that make test data (onnx, onnxruntime, numpy) from PyPI.
#
# Idempotent and quiet: a package already there is not touched, `apt-get
# update` runs once and only when something is missing, and a second run
# prints one line. Runs as root, or through sudo when not root.
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  protobuf-c-compiler libprotobuf-c-dev libonnx-dev # onnx.proto → protobuf-c
  libcriterion-dev                                  # unit tests
  libopenblas-dev                                   # CPU GEMM
  clang libclang-rt-14-dev                          # fuzz targets (libFuzzer)
  python3 python3-pip ca-certificates               # test data, references
)
PY_PACKAGES=(onnx onnxruntime numpy)
python=${PYTHON:-python3}

sudo_cmd=()
if [[ $(id -u) != 0 ]]; then sudo_cmd=(sudo); fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! "$python" -c 'import onnx, onnxruntime, numpy' 2>/dev/null; then
  echo "setup: pip install ${PY_PACKAGES[*]}"
  # Debian's own python3 refuses pip installs outside a venv (PEP 668); the
  # packages here are test tools only, so install for this user either way.
  if ! "$python" -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}" 2>/dev/null; then
    "$python" -m pip install --quiet --disable-pip-version-check --user --break-system-packages \
      "${PY_PACKAGES[@]}"
  fi
  "$python" -c 'import onnx, onnxruntime, numpy'
fi
echo "setup: ok ($(cmake --version | head -1), $("$python" -c 'import onnx, onnxruntime; print("onnx", onnx.__version__, "onnxruntime", onnxruntime.__version__)'))"
