#!/usr/bin/env bash
# The guard on the shipped organism, end to end on CPU (~35 minutes on 2 cores): labelled answers from the six
# training novels (seen phrasings only) to fit the calibration, then live and teacher-forced answers from text the
# calibration and the organism never saw (the_coquette.txt; ../shared/eval-corpus) to evaluate it against every
# baseline. The calibrator is gradient-boosted trees (`guard fit --calibrator logistic` for the linear one); every
# baseline is fitted the same way. Run from the repository root; results go to $1 (default: /tmp/guard-eval).
# On the GPU machine (run-organism-train.sh): MODEL, MAP (a head map not yet in headmaps/), EXTRA (e.g. --device cuda
# --dtype fp32) and RGUARD (how to start the CLI) replace the defaults.
set -euo pipefail
out=${1:-/tmp/guard-eval}
shared=${SHARED:-../shared}
mkdir -p "$out"/{train,coquette,evalcorpus}
for f in samples/corpus/*.txt; do [ "$(basename "$f")" = the_coquette.txt ] || ln -sf "$(readlink -f "$f")" "$out/train/"; done
ln -sf "$(readlink -f samples/corpus/the_coquette.txt)" "$out/coquette/"
for f in "$shared"/eval-corpus/*.txt; do ln -sf "$(readlink -f "$f")" "$out/evalcorpus/"; done
if [ -z "${RGUARD:-}" ]; then
  dotnet build src/RetrievalGuard.Cli -c Release -v q
  RGUARD="dotnet run --project src/RetrievalGuard.Cli -c Release --no-build --"
fi
read -ra extra <<< "${EXTRA:-}"
map=(); [ -n "${MAP:-}" ] && map=(--map "$MAP")
rguard() { $RGUARD "$@"; }
M=${MODEL:-samples/models/organism}
rguard organism make-eval --model $M --corpus "$out/train" --seed 101 --count 320 --phrasing seen --out "$out/fit-live.jsonl" "${extra[@]}"
rguard organism make-eval --model $M --corpus "$out/train" --seed 102 --count 160 --phrasing seen --answers --out "$out/fit-tf.jsonl" "${extra[@]}"
cat "$out/fit-live.jsonl" "$out/fit-tf.jsonl" > "$out/fit.jsonl"
rguard guard fit --model $M "${map[@]}" "${extra[@]}" --data "$out/fit.jsonl" --out "$out/organism.calibration.json" | tee "$out/fit.txt"
seed=201
for corpus in coquette evalcorpus; do
  rguard organism make-eval --model $M --corpus "$out/$corpus" --seed $seed --count 240 --out "$out/eval-live-$corpus.jsonl" "${extra[@]}"
  rguard organism make-eval --model $M --corpus "$out/$corpus" --seed $((seed + 1)) --count 120 --answers --out "$out/eval-tf-$corpus.jsonl" "${extra[@]}"
  seed=$((seed + 2))
done
for set in live-coquette tf-coquette live-evalcorpus tf-evalcorpus; do
  # Without SkiaSharp's natives (the GPU machine's carry) only roc.png is missing: eval.json decides.
  rguard eval --model $M "${map[@]}" "${extra[@]}" --calibration "$out/organism.calibration.json" \
    --data "$out/eval-$set.jsonl" --out "$out/eval-$set" || [ -s "$out/eval-$set/eval.json" ]
done
