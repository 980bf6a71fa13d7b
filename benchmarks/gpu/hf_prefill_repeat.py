# transformers' prefill measured as rguard-bench speed measures ours: after hf_llama_baseline.py's warm-up (128 tokens)
# and first timed prefill, the median of three more prefills of the same length (the steady rate, without first-use
# costs). Same model config and weights init as hf_llama_baseline.py. Usage: hf_prefill_repeat.py 1024 8192 32768
import time, json, sys, os, torch
from transformers import LlamaConfig, LlamaForCausalLM
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                  num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=131072,
                  rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False)
cfg._attn_implementation = "sdpa"
with torch.device("cuda"):
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
model.eval()
res = {}
for ctx in [int(x) for x in sys.argv[1:]]:
    ids = torch.randint(0, cfg.vocab_size, (1, ctx), device="cuda")
    times = []
    with torch.inference_mode():
        model(ids[:, :128], use_cache=True)
        for i in range(4):
            torch.cuda.synchronize(); t = time.time()
            out = model(ids, use_cache=True, logits_to_keep=1)
            torch.cuda.synchronize(); times.append(time.time() - t)
            del out
    res[ctx] = dict(first_tok_s=round(ctx / times[0]), repeat_median_tok_s=round(ctx / sorted(times[1:])[1]))
    print(ctx, res[ctx], flush=True)
json.dump(res, open(os.path.join(os.environ.get("OUT", "."), "hf_prefill_repeat.json"), "w"))
