#!/usr/bin/env bash
# Issue #5's figures, on the GPU machine from the repository root with .device/ carried (see prepare-device.sh).
# Every ratio compares runs made in this one call: the engine and transformers (hf_llama_baseline.py) on the same
# Llama-3.1-8B-shaped random bf16 weights. Peak GPU memory is sampled with nvidia-smi for each process alike.
#   check:  the fused decode kernels against libtorch's operators (kernel-check) and batched vs alone (batch-check).
#   part 1: batch-1 prefill/decode at 1K, 8K, 32K (5 decode variants) + HF; weight-product bandwidth (gemv);
#           continuous batching at 8 and 32.
#   part 2: 128K (chunked prefill) memory and speed + HF at 128K; cold-start time to first token + HF's.
#   kv:     the compressed KV cache (issue #13): 128K with the full cache and with headaware alone (separate
#           processes, so each peak is its own), 32K decode of both, and transformers at 128K.
#   kvserve: continuous batching at 32K-token rows in a 40 GiB KV budget (rows from the exact account; full vs
#           headaware end to end).
#   serve:  the guard server under 32 streaming HTTP clients against BatchDecoder alone (prepare-device.sh --server).
#   batch:  continuous batching alone (part 1's last step: requests joined one by one vs prefilled together).
#   guard:  the guard's cost on the 8B shape (issue #12): streaming at 1K and 32K, teacher-forced scoring at 4K.
#   parity: transformers parity on the 7-8B shapes (run-parity-and-speed.sh).
#   report: the table (rguard-bench report); pack: everything into results.tgz (the device tool returns 8 files).
# Usage: run-performance.sh check 1 pack   then   run-performance.sh 2 parity pack   (two calls, each under 10 minutes;
# unpack both into one folder and run `rguard-bench report DIR` anywhere); `kv pack`, `kvserve pack` and
# `batch guard pack` are more.
set -uo pipefail
parts="check 1 2 kv kvserve batch guard serve parity report pack"
for part in "${@:-1}"; do  # every part is known before any device time is spent
  case " $parts " in *" $part "*) ;; *) echo "run-performance.sh: unknown part '$part' (parts: $parts)" >&2; exit 2 ;; esac
done
source .device/gpu-env.sh
out=${OUT:-/tmp/rguard-out}; mkdir -p "$out"
bench() { dotnet .device/app/rguard-bench.dll "$@"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"

# Runs a command while sampling the GPU's used memory every 50 ms; appends "label peak_mib" to peaks.txt.
peak() {
  local label=$1; shift
  local before; before=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 50 > "/tmp/mem-$label.txt" & local sampler=$!
  "$@"; local rc=$?
  kill $sampler 2>/dev/null; wait $sampler 2>/dev/null
  echo "$label $(sort -n "/tmp/mem-$label.txt" | tail -1) idle_before=$before" | tee -a "$out/peaks.txt"
  return $rc
}

for part in "${@:-1}"; do
case "$part" in
  1)
    peak ours-short bench speed --contexts 1024 8192 32768 --out "$out/speed.json" 2>&1 | grep -v '^{$' | grep -E '^\{"context|rror|xception' 
    bench gemv --out "$out/gemv.json" 2>&1 | grep -E '"weight_|"copy_bandwidth|rror|xception'
    mkdir -p "$out/hf-short"; OUT="$out/hf-short" peak hf-short python3 .device/hf_llama_baseline.py 1024 8192 32768 2>&1 | tee "$out/hf-short/log.txt" | grep -vi warn
    OUT="$out/hf-short" python3 benchmarks/gpu/hf_prefill_repeat.py 1024 8192 32768 2>&1 | grep -vi warn
    bash "$0" batch
    ;;
  batch)
    bench batch --concurrency 8 32 --requests 96 --join one-by-one together --out "$out/batch.json" 2>&1 \
      | grep -E '^\{"(steps|cache)|rror|xception'
    ;;
  guard)
    bench guard-cost --shape llama-3.1-8b --device cuda --dtype bf16 --contexts 1024 32768 --score-context 4096 \
      --answer-tokens 128 --stream-tokens 64 --tokenizer .device/tokenizers/llama3 --out "$out/guard-cost.json" 2>&1 \
      | tee "$out/guard-cost-log.txt" | grep -E 'streaming at|teacher-forced|rror|xception'
    ;;
  2)
    peak ours-128k bench speed --contexts 131072 --prefill-chunk 8192 --variants graphs guard --steps 32 --out "$out/speed-128k.json" 2>&1 | grep -E '^\{"context|rror|xception'
    mkdir -p "$out/hf-128k"; OUT="$out/hf-128k" peak hf-128k python3 .device/hf_llama_baseline.py 131072 2>&1 | tee "$out/hf-128k/log.txt" | grep -vi warn | grep -v generate
    python3 benchmarks/gpu/make_random_checkpoint.py /tmp/llama8b 2>&1 | grep -v "Writing model shards"
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null && echo "page cache dropped" || echo "page cache NOT dropped (no permission): loads read from memory"
    bench cold-start /tmp/llama8b --out "$out/cold-start.json" 2>&1 | grep -E '"(load_seconds|time_to_first_token_seconds|host_peak_rss_gib|runtime_start_seconds)"|rror'
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null
    python3 benchmarks/gpu/hf_cold_start.py /tmp/llama8b 2>/dev/null > "$out/hf-cold-start.json"; cat "$out/hf-cold-start.json"
    ;;
  kv)
    peak ours-128k-full bench speed --contexts 131072 --prefill-chunk 8192 --variants graphs --steps 32 --out "$out/kv-128k-full.json" 2>&1 | grep -E '^\{"context|rror|xception'
    peak ours-128k-headaware bench speed --contexts 131072 --prefill-chunk 8192 --variants headaware --steps 32 --out "$out/kv-128k-headaware.json" 2>&1 | grep -E '^\{"context|rror|xception'
    bench speed --contexts 32768 --prefill-chunk 8192 --variants graphs headaware --steps 64 --out "$out/kv-32k.json" 2>&1 | grep -E '^\{"context|rror|xception'
    # transformers' one-shot prefill at 128K in the same call: the compressed cache's prefill must not be slower.
    mkdir -p "$out/hf-128k"; OUT="$out/hf-128k" peak hf-128k python3 .device/hf_llama_baseline.py 131072 2>&1 \
      | tee "$out/hf-128k/log.txt" | grep -vi warn | grep -v generate
    ;;
  kvserve)
    bench batch --cache full headaware --kv-budget-gib 40 --capacity 32768 --min-prompt 28000 --max-prompt 32000 --new-tokens 128 --requests 48 --out "$out/kv-serving.json" 2>&1 | grep -E '^\{"steps|^\[|rror|xception'
    ;;
  serve)
    # #16: 32 streaming HTTP clients against the guard server (8B shape, random bf16 weights, the shipped
    # DuoAttention map, guard on; prepare-device.sh --server, .device/aspnet-rt.txz carried), then BatchDecoder alone
    # with 32 rows on prompts of about the same length (the load tool's passages in the chat template: ~100-200
    # tokens) and the same mean answer length, in this one call.
    [ -d /tmp/llama8b ] || python3 benchmarks/gpu/make_random_checkpoint.py /tmp/llama8b 2>&1 | grep -v "Writing"
    cp .device/tokenizers/llama3/* /tmp/llama8b/
    RetrievalGuard__Model__Path=/tmp/llama8b RetrievalGuard__Model__Device=cuda RetrievalGuard__Model__DType=bf16 \
      RetrievalGuard__Model__HeadMap="$PWD/headmaps/Meta-Llama-3.1-8B-Instruct.duoattention.json" \
      RetrievalGuard__Serving__MaxSequences=32 RetrievalGuard__Serving__MaxQueued=256 \
      RetrievalGuard__RequestsPerMinute=0 ASPNETCORE_URLS=http://127.0.0.1:5123 \
      dotnet .device/app/RetrievalGuard.Server.dll > "$out/serve-server-log.txt" 2>&1 &
    server=$!
    dotnet .device/app/rguard-load.dll load --url http://127.0.0.1:5123 --clients 32 --requests-per-client 3 \
      --max-tokens 128 --duration-limit 240 --server-pid $server --out "$out/serve-load.json" 2>&1 | tail -14
    kill $server; wait $server
    bench batch --concurrency 32 --requests 96 --min-prompt 96 --max-prompt 192 --new-tokens 128 --join together \
      --out "$out/serve-batch.json" 2>&1 | grep -E '^\{"(steps|cache)|rror|xception'
    ;;
  check)
    bench kernel-check --steps 32 --out "$out/kernel-check.json" 2>&1 | grep -E '^\{"shape|rror|xception'
    for dtype in fp32 bf16; do
      bench batch-check samples/models/organism --dtype "$dtype" --out "$out/batch-check-$dtype.json" 2>&1 | grep -E 'batched vs alone|rror|xception'
    done
    ;;
  parity)
    OUT="$out/parity" bash benchmarks/gpu/run-parity-and-speed.sh 2>&1 | grep -E 'max \||rror|xception' | head -60
    ;;
  report)
    bench report "$out"
    ;;
  pack)
    (cd "$out" && tar czf /tmp/results.tgz --exclude=results.tgz . && find . -mindepth 1 ! -name summary.md -delete && mv /tmp/results.tgz .)
    ;;
esac
done
