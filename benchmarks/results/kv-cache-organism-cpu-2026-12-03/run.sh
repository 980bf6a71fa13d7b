#!/usr/bin/env bash
# KV cache policies on the shipped organism (CPU): NIAH at 1024 and 2048 tokens (5 depths × 8 needles, 40 prompts per
# length) and 80 passage-QA items (answerable and conflict, 40 per length) on held-out text (../shared/eval-corpus).
# Usage, from the repository root: benchmarks/results/kv-cache-organism-cpu-2026-12-03/run.sh [rguard]
# The runs are benchmarks/kv/run-organism-kv.sh's; a run whose JSON exists here is skipped (delete it to measure again).
set -euo pipefail
RGUARD=${1:-src/RetrievalGuard.Cli/bin/Release/net10.0/rguard} \
  exec benchmarks/kv/run-organism-kv.sh benchmarks/results/kv-cache-organism-cpu-2026-12-03
