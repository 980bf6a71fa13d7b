#!/usr/bin/env bash
# Runs on the GPU machine from the repository root, with .device/ carried (see prepare-device.sh):
# transformers parity on the real 7–8B shapes (2 layers), greedy decoding through both decode paths.
# Speed, memory, batching and cold start: run-performance.sh.
set -uo pipefail
source .device/gpu-env.sh
out=${OUT:-/tmp/rguard-out}; mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 benchmarks/gpu/make_parity_checkpoints.py /tmp/parity "${PARITY_LAYERS:-2}" 2>&1 | grep -v "Writing model shards"
cp /tmp/parity/checkpoints.json "$out/parity_checkpoints.json"
dotnet .device/app/rguard-bench.dll parity /tmp/parity/llama-3.1-8b /tmp/parity/qwen2.5-7b /tmp/parity/mistral-7b-v0.1 --device cuda --out "$out/parity.json"
rm -rf /tmp/parity
