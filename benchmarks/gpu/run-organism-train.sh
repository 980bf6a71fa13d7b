#!/usr/bin/env bash
# Trains the organism on the GPU machine, then evaluates it on the held-out novel, re-detects its retrieval heads and
# runs the ablation there, all in fp32 on CUDA like the CPU figures (repository root, .device/ carried:
# prepare-device.sh). Training outlasts one device call (10 minutes), so the pipeline runs in its own process session:
#   run-organism-train.sh start     launches it and follows its log for up to 9 minutes
#   run-organism-train.sh wait      follows the log until the pipeline ends (or 9 more minutes pass)
#   run-organism-train.sh collect   packs the results into $OUT (model folder and everything else as two archives)
# FIT_MINUTES (default 12.5) is the training budget; the issue allows 15 minutes. MIX: the training mix (default
# paraphrasing, the shipped model's). After the model: the guard's
# evaluation (benchmarks/guard/run-organism-eval.sh) and the KV cache runs (benchmarks/kv/run-organism-kv.sh), with
# ../shared/eval-corpus copied to .device/eval-corpus and carried. `collect` takes whatever has finished.
set -uo pipefail
run=/tmp/organism-run
case "${1:-}" in
  start)
    mkdir -p "$run"
    setsid nohup bash "$0" pipeline > "$run/pipeline.log" 2>&1 < /dev/null &
    sleep 5; exec bash "$0" wait ;;
  wait)
    for _ in $(seq 1 108); do
      [ -f "$run/done" ] && break
      sleep 5
    done
    tail -40 "$run/pipeline.log"; [ -f "$run/done" ] && echo "pipeline ended: $(cat "$run/done")" ;;
  collect)
    out=${OUT:?}
    tar czf "$out/model.tgz" -C "$run" model
    tar czf "$out/results.tgz" -C "$run" --exclude=model --exclude='*.jsonl' . 
    tar czf "$out/eval-sets.tgz" -C "$run" --exclude=model $(cd "$run" && find . -name '*.jsonl' | grep -v /train/) ;;
  pipeline)
    source .device/gpu-env.sh
    rguard() { dotnet .device/app/rguard.dll "$@"; }
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$run/device.txt"
    date -u +%FT%TZ >> "$run/device.txt"
    (while [ ! -f "$run/trained" ]; do
       nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader >> "$run/gpu-utilisation.txt"
       sleep 20
     done) &
    rguard organism train --corpus samples/corpus --out "$run/model" --device cuda --seed 1 --steps 12000 \
      --fit-minutes "${FIT_MINUTES:-12.5}" --mix "${MIX:-paraphrasing}" > "$run/train.log" 2>&1
    status=$?; touch "$run/trained"; tail -3 "$run/train.log"
    if [ $status -ne 0 ]; then echo "training failed ($status)" > "$run/done"; exit 1; fi
    mkdir -p /tmp/heldout && ln -sf "$PWD/samples/corpus/the_coquette.txt" /tmp/heldout/
    m=(--model "$run/model" --device cuda --dtype fp32)
    rguard organism evaluate "${m[@]}" --corpus /tmp/heldout --per-cell 10 --seed 7 --out "$run/evaluation.json" \
      > "$run/evaluate.log" 2>&1
    tail -30 "$run/evaluate.log"
    rguard heads detect "${m[@]}" --haystack samples/corpus --depths 10 --needles 3 --out "$run/organism.json" \
      > "$run/detect.log" 2>&1
    tail -3 "$run/detect.log"
    rguard heads ablate "${m[@]}" --map "$run/organism.json" --prompts 30 --trials 3 \
      --out "$run/organism.ablation.json" > "$run/ablate.log" 2>&1
    tail -12 "$run/ablate.log"
    echo "model ready $(date -u +%T)" > "$run/model-ready"
    # Then the guard's and the cache's figures for the new model on the GPU (the CPU takes over an hour for both).
    app="dotnet .device/app/rguard.dll"
    RGUARD="$app" MODEL="$run/model" MAP="$run/organism.json" EXTRA="--device cuda --dtype fp32" SHARED=.device \
      bash benchmarks/guard/run-organism-eval.sh "$run/guard" > "$run/guard.log" 2>&1
    tail -5 "$run/guard.log"
    RGUARD="$app" MODEL="$run/model" MAP="$run/organism.json" EXTRA="--device cuda --dtype fp32" PNG=0 \
      HAYSTACK=.device/eval-corpus bash benchmarks/kv/run-organism-kv.sh "$run/kv" > "$run/kv.log" 2>&1
    tail -14 "$run/kv.log"
    echo "ok $(date -u +%T)" > "$run/done" ;;
  *) echo "usage: $0 start|wait|collect" >&2; exit 2 ;;
esac
