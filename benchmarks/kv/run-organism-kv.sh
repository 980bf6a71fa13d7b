#!/usr/bin/env bash
# KV cache policies on an organism: NIAH at 1024 and 2048 tokens (5 depths × 8 needles, 40 prompts per length) and
# 80 passage-QA items (answerable and conflict, 40 per length) on held-out text, for full, streaming, and headaware vs
# random at 2-16 of the 32 KV heads (6: the most under 25% of the bytes at 2,048 tokens) kept whole; then the accuracy-vs-bytes summary.
# Usage, from the repository root: benchmarks/kv/run-organism-kv.sh OUT_DIR
# Environment: RGUARD (how to start the CLI), MODEL, MAP (a head map not yet in headmaps/), HAYSTACK (default
# ../shared/eval-corpus), EXTRA (e.g. --device cuda --dtype fp32), PNG=0 to skip the heat maps and the curve chart.
# A run whose JSON exists is skipped (delete it to measure again); runs go most informative first.
set -euo pipefail
# One libtorch thread on a CPU shared with other work: OpenMP's two spinning threads ran ~8x slower there.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
out=${1:?usage: run-organism-kv.sh OUT_DIR}
mkdir -p "$out"
read -ra rguard <<< "${RGUARD:-src/RetrievalGuard.Cli/bin/Release/net10.0/rguard}"
read -ra extra <<< "${EXTRA:-}"
map=(); [ -n "${MAP:-}" ] && map=(--map "$MAP")
common=(--model "${MODEL:-samples/models/organism}" "${map[@]}" "${extra[@]}" --haystack "${HAYSTACK:-../shared/eval-corpus}"
  --lengths 1024,2048 --depths 5 --needles 8 --qa 80 --items-seed 1)
run() { # name, then policy options; heat maps for the baselines and the default budget (8 of 32 KV heads = 25%)
  local name=$1; shift
  [[ -f $out/$name.json ]] && return
  local png=()
  [[ ${PNG:-1} == 1 && ( $name == full || $name == streaming || $name == *-08 ) ]] && png=(--png "$out/heatmap-$name.png")
  "${rguard[@]}" niah "${common[@]}" "$@" --out "$out/$name.json" "${png[@]}" > "$out/$name.md" 2> "$out/$name.log"
  head -1 "$out/$name.md"
}
budget() { # policy, KV heads kept whole
  run "$1-$(printf %02d "$2")" --cache "$1" --full-kv-heads "$2" --seed 1
}
run full --cache full
run streaming --cache streaming
for n in 8 4 2; do budget headaware "$n"; budget random "$n"; done
for n in 16 12 6; do budget headaware "$n"; budget random "$n"; done
curve=(); [[ ${PNG:-1} == 1 ]] && curve=(--png "$out/accuracy-vs-bytes.png")
"${rguard[@]}" niah curve --results "$out"/*.json "${curve[@]}" > "$out/summary.md"
cat "$out/summary.md"
