#!/usr/bin/env bash
# The fused decode kernels on the GPU machine (repository root, .device/ carried; see prepare-device.sh):
# NVRTC found, correctness against libtorch's operators and the general path (kernel-check), batched decoding
# against decoding alone (batch-check), then batch-1 decode with and without the kernels beside transformers.
set -uo pipefail
source .device/gpu-env.sh
out=${OUT:-/tmp/rguard-out}; mkdir -p "$out"
bench() { dotnet .device/app/rguard-bench.dll "$@"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
bench kernel-check --steps 32 --out "$out/kernel-check.json" 2>&1 | grep -E '^\{"shape|rror|xception|   at ' | head -40
for dtype in fp32 bf16; do
  bench batch-check samples/models/organism --dtype "$dtype" --out "$out/batch-check-$dtype.json" 2>&1 | grep -E 'batched vs alone|rror|xception'
done
bench speed --contexts ${CONTEXTS:-1024 32768} --variants graphs unfused guard --out "$out/speed.json" 2>&1 | grep -E '^\{"context|rror|xception|   at '
[ -n "${HF:-1}" ] && { mkdir -p "$out/hf"; OUT="$out/hf" python3 .device/hf_llama_baseline.py ${CONTEXTS:-1024 32768} 2>&1 | grep -vi warn | tail -5; }
