# Writes a Llama-3.1-8B-shaped checkpoint with random bf16 weights (safetensors shards + config.json), made on the
# GPU so it takes seconds; the cold-start benchmarks load it. Usage: make_random_checkpoint.py DIR
import sys, time, torch
from transformers import LlamaConfig, LlamaForCausalLM
t = time.time()
cfg = LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                  num_key_value_heads=8, max_position_embeddings=131072, rope_theta=500000.0, rms_norm_eps=1e-5,
                  tie_word_embeddings=False, rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                  "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
torch.manual_seed(0)
with torch.device("cuda"):
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
model.save_pretrained(sys.argv[1], max_shard_size="5GB")
print(f"random checkpoint written to {sys.argv[1]} in {time.time() - t:.1f}s", flush=True)
