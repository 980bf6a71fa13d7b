# Builds random-weight checkpoints with the exact configs of Llama-3.1-8B, Qwen2.5-7B and Mistral-7B-v0.1 (fewer
# layers; every other dimension real), saves them with transformers' save_pretrained (bf16, sharded), and records
# transformers' own last-token logits and 32 greedy tokens in fp32 and bf16 for the engine to match.
#   python3 benchmarks/gpu/make_parity_checkpoints.py OUT_DIR [LAYERS]
import json, os, sys, time, datetime
import torch, transformers
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)
from safetensors.torch import save_file

out = sys.argv[1]
layers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
shapes = {
    "llama-3.1-8b": (LlamaConfig, LlamaForCausalLM, dict(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_attention_heads=32, num_key_value_heads=8,
        max_position_embeddings=131072, rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=128000,
        eos_token_id=128001, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})),
    "qwen2.5-7b": (Qwen2Config, Qwen2ForCausalLM, dict(
        vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_attention_heads=28, num_key_value_heads=4,
        max_position_embeddings=131072, rms_norm_eps=1e-6, tie_word_embeddings=False, rope_theta=1000000.0,
        sliding_window=131072, use_sliding_window=False, max_window_layers=28, bos_token_id=151643, eos_token_id=151643)),
    "mistral-7b-v0.1": (MistralConfig, MistralForCausalLM, dict(
        vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_attention_heads=32, num_key_value_heads=8,
        max_position_embeddings=32768, rms_norm_eps=1e-5, tie_word_embeddings=False, rope_theta=10000.0,
        sliding_window=4096, bos_token_id=1, eos_token_id=2)),
}
summary = {"date": datetime.date.today().isoformat(), "device": torch.cuda.get_device_name(0),
           "torch": torch.__version__, "transformers": transformers.__version__, "layers": layers, "models": {}}
for name, (cfg_cls, model_cls, dims) in shapes.items():
    t0 = time.time()
    torch.manual_seed(0)
    cfg = cfg_cls(num_hidden_layers=layers, **dims)
    cfg._attn_implementation = "sdpa"
    with torch.device("cuda"):
        model = model_cls(cfg).to(torch.bfloat16).eval()
    folder = os.path.join(out, name)
    model.save_pretrained(folder, max_shard_size="2GB")
    params = sum(p.numel() for p in model.parameters())
    del model
    torch.cuda.empty_cache()
    ids = torch.randint(0, cfg.vocab_size, (1, 64), generator=torch.Generator().manual_seed(1)).cuda()
    ref = {"input_ids": ids.cpu().clone()}
    for tag, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        # Reload as a user would: casting the in-memory model with .to() would also round the fp32 RoPE
        # inv_freq buffer to bf16, which from_pretrained does not do.
        model = model_cls.from_pretrained(folder, dtype=dtype, attn_implementation="sdpa").cuda().eval()
        with torch.inference_mode():
            ref[f"logits_{tag}"] = model(ids).logits[0, -1].float().cpu().clone()
            gen = model.generate(ids, max_new_tokens=32, min_new_tokens=32, do_sample=False, pad_token_id=0)
        ref[f"greedy_{tag}"] = gen[0, ids.shape[1]:].cpu().clone()
        del model
        torch.cuda.empty_cache()
    save_file(ref, os.path.join(folder, "reference.safetensors"))
    summary["models"][name] = {"files": sorted(os.listdir(folder)), "seconds": round(time.time() - t0, 1),
                               "params": params}
    print(name, summary["models"][name], flush=True)
json.dump(summary, open(os.path.join(out, "checkpoints.json"), "w"), indent=1)
