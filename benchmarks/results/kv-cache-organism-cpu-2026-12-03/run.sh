#!/usr/bin/env bash
# KV cache policies on the shipped organism (CPU): NIAH at 1024 and 2048 tokens (5 depths × 8 needles, 40 prompts per
# length) and 80 passage-QA items (answerable and conflict, 40 per length) on held-out text (../shared/eval-corpus).
# Usage, from the repository root: benchmarks/results/kv-cache-organism-cpu-2026-12-03/run.sh [rguard]
# A run whose JSON exists is skipped (delete it to measure again); runs go most informative first.
set -euo pipefail
# One libtorch thread: on a CPU shared with other work, OpenMP's two spinning threads ran ~8x slower (README).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
rguard=${1:-src/RetrievalGuard.Cli/bin/Release/net10.0/rguard}
out=benchmarks/results/kv-cache-organism-cpu-2026-12-03
common=(--model samples/models/organism --haystack ../shared/eval-corpus --lengths 1024,2048 --depths 5 --needles 8
  --qa 80 --items-seed 1)
run() { # name, then policy options; heat maps for the baselines and the default budget (8 of 32 KV heads = 25%)
  local name=$1; shift
  [[ -f $out/$name.json ]] && return
  local png=()
  [[ $name == full || $name == streaming || $name == *-08 ]] && png=(--png "$out/heatmap-$name.png")
  "$rguard" niah "${common[@]}" "$@" --out "$out/$name.json" "${png[@]}" > "$out/$name.md" 2> "$out/$name.log"
  head -1 "$out/$name.md"
}
budget() { # policy, KV heads kept whole
  run "$1-$(printf %02d "$2")" --cache "$1" --full-kv-heads "$2" --seed 1
}
run full --cache full
run streaming --cache streaming
for n in 8 4 2; do budget headaware "$n"; budget random "$n"; done
for n in 16 12; do budget headaware "$n"; budget random "$n"; done
"$rguard" niah curve --results "$out"/*.json --png "$out/accuracy-vs-bytes.png" > "$out/summary.md"
cat "$out/summary.md"
