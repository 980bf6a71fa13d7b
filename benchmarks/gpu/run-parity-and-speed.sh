#!/usr/bin/env bash
# Runs on the GPU machine from the repository root, with .device/ carried (see prepare-device.sh):
# transformers parity on the real 7–8B shapes, then engine speed and the HF baseline in the same call.
set -uo pipefail
source .device/gpu-env.sh
out=${OUT:-/tmp/rguard-out}; mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
bench() { dotnet .device/app/rguard-bench.dll "$@"; }
case "${1:-all}" in
  parity|all)
    python3 benchmarks/gpu/make_parity_checkpoints.py /tmp/parity "${PARITY_LAYERS:-2}" 2>&1 | grep -v "Writing model shards"
    cp /tmp/parity/checkpoints.json "$out/parity_checkpoints.json"
    bench parity /tmp/parity/llama-3.1-8b /tmp/parity/qwen2.5-7b /tmp/parity/mistral-7b-v0.1 --device cuda --out "$out/parity.json"
    rm -rf /tmp/parity ;;&
  speed|all)
    bench speed --shape llama-3.1-8b --contexts ${CONTEXTS:-1024 8192} --device cuda --probe-heads 51 --out "$out/speed.json"
    python3 .device/hf_llama_baseline.py ${CONTEXTS:-1024 8192} 2>&1 | tee "$out/hf_baseline.log" ;;
esac
