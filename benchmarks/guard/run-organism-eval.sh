#!/usr/bin/env bash
# The guard on the shipped organism, end to end on CPU (~35 minutes on 2 cores): labelled answers from the six
# training novels (seen phrasings only) to fit the calibration, then live and teacher-forced answers from text the
# calibration and the organism never saw (the_coquette.txt; ../shared/eval-corpus) to evaluate it against every
# baseline. Run from the repository root; results go to $1 (default: /tmp/guard-eval).
set -euo pipefail
out=${1:-/tmp/guard-eval}
shared=${SHARED:-../shared}
mkdir -p "$out"/{train,coquette,evalcorpus}
for f in samples/corpus/*.txt; do [ "$(basename "$f")" = the_coquette.txt ] || ln -sf "$(readlink -f "$f")" "$out/train/"; done
ln -sf "$(readlink -f samples/corpus/the_coquette.txt)" "$out/coquette/"
for f in "$shared"/eval-corpus/*.txt; do ln -sf "$(readlink -f "$f")" "$out/evalcorpus/"; done
dotnet build src/RetrievalGuard.Cli -c Release -v q
rguard() { dotnet run --project src/RetrievalGuard.Cli -c Release --no-build -- "$@"; }
M=samples/models/organism
rguard organism make-eval --model $M --corpus "$out/train" --seed 101 --count 320 --phrasing seen --out "$out/fit-live.jsonl"
rguard organism make-eval --model $M --corpus "$out/train" --seed 102 --count 160 --phrasing seen --answers --out "$out/fit-tf.jsonl"
cat "$out/fit-live.jsonl" "$out/fit-tf.jsonl" > "$out/fit.jsonl"
rguard guard fit --model $M --data "$out/fit.jsonl" --out "$out/organism.calibration.json" | tee "$out/fit.txt"
seed=201
for corpus in coquette evalcorpus; do
  rguard organism make-eval --model $M --corpus "$out/$corpus" --seed $seed --count 240 --out "$out/eval-live-$corpus.jsonl"
  rguard organism make-eval --model $M --corpus "$out/$corpus" --seed $((seed + 1)) --count 120 --answers --out "$out/eval-tf-$corpus.jsonl"
  seed=$((seed + 2))
done
for set in live-coquette tf-coquette live-evalcorpus tf-evalcorpus; do
  rguard eval --model $M --calibration "$out/organism.calibration.json" --data "$out/eval-$set.jsonl" --out "$out/eval-$set"
done
