#!/usr/bin/env bash
# GPU check of fashion_seg on a lent NVIDIA H100/H200 (JAX backend, bf16, XLA), under 8 minutes; one table at the end.
#
# Here, once (downloads the Keras wheels the GPU image lacks into .whl/, git-ignored):
#     bash benchmarks/gpu_check.sh --fetch-wheels
# On the GPU machine (the device tool, carry [".whl"]):
#     bash benchmarks/gpu_check.sh [--json $OUT/gpu_check.json]
# Toy size, on any machine (CI runs this on CPU):
#     PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh --toy
# Other options go to benchmarks/gpu_check.py (--train-batch, --infer-images, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# keras and the two packages it needs that the GPU image has not; pip picks the cp312 build of optree
WHEELS=("keras==3.15.1" "namex==0.1.0" "optree==0.20.0")

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  "$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
  exit 0
fi

export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 NO_ALBUMENTATIONS_UPDATE=1
if ! "$PYTHON" -c "import keras" 2>/dev/null; then
  if ! ls .whl/*.whl >/dev/null 2>&1; then
    echo "keras is not installed and no wheels are in .whl/: run 'bash benchmarks/gpu_check.sh --fetch-wheels' here and carry .whl" >&2
    exit 2
  fi
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu_check_site .whl/*.whl
  export PYTHONPATH=/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}
fi

export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.92}
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; fi
exec timeout "${GPU_CHECK_TIMEOUT:-470}" "$PYTHON" benchmarks/gpu_check.py "$@"
