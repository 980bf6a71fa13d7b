# transformers' time to first token from a cold process for a checkpoint on disk (the comparison for
# `rguard-bench cold-start`): import, from_pretrained in bf16 straight to the GPU, a 512-token prompt, one token.
import time; t0 = time.time()
import json, sys, resource, torch
from transformers import AutoModelForCausalLM
t_import = time.time() - t0
t = time.time()
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.bfloat16, device_map="cuda")
torch.cuda.synchronize(); load = time.time() - t
ids = torch.randint(0, model.config.vocab_size, (1, 512), device="cuda")
t = time.time()
with torch.inference_mode():
    model.generate(ids, max_new_tokens=1, do_sample=False)
torch.cuda.synchronize(); first = time.time() - t
print(json.dumps({"import_seconds": round(t_import, 2), "load_seconds": round(load, 2), "prefill_and_first_token_seconds": round(first, 3),
                  "time_to_first_token_seconds": round(time.time() - t0, 2),
                  "host_peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}))
