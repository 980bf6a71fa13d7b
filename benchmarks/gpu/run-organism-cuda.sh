#!/usr/bin/env bash
# The organism's user paths on the GPU machine through the fused decode kernels (repository root, .device/ carried,
# with the CLI published into .device/app: `dotnet publish src/RetrievalGuard.Cli -c Release -r linux-x64
# --self-contained false -p:TorchFlavor=none -o .device/app`): retrieval-head detection (the probe's rows come from
# the attention kernel), the ablation study (head masks), and the README's demo.
set -uo pipefail
source .device/gpu-env.sh
out=${OUT:-/tmp/rguard-out}; mkdir -p "$out"
rguard() { dotnet .device/app/rguard.dll "$@"; }
rguard heads detect --model samples/models/organism --haystack samples/corpus --depths 10 --needles 3 --device cuda --out "$out/headmap-organism-cuda.json" 2>&1 | tail -12
rguard heads ablate --model samples/models/organism --prompts 30 --trials 3 --device cuda --out "$out/ablation-organism-cuda.json" 2>&1 | tail -10
rguard generate --model samples/models/organism --device cuda --max-tokens 24 --prompt $'Passage 1: The Hartford coach left at dawn. The secret word of the red lantern is Kalomi. Nobody spoke of it again.\n\nQuestion: What is the secret word of the red lantern?\nAnswer:' 2>&1 | tee "$out/demo-cuda.txt"
