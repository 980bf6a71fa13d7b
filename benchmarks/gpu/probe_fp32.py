# Diagnoses fp32 parity: transformers' fp32 logits on CUDA (TF32 off, explicitly) and on CPU, against the saved reference.
import sys, torch
from transformers import AutoModelForCausalLM
from safetensors.torch import load_file
d = sys.argv[1]
ref = load_file(d + "/reference.safetensors")
print("allow_tf32", torch.backends.cuda.matmul.allow_tf32, "precision", torch.get_float32_matmul_precision())
torch.backends.cuda.matmul.allow_tf32 = False
m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="sdpa")
with torch.inference_mode():
    cpu = m(ref["input_ids"]).logits[0, -1]
    gpu = m.cuda()(ref["input_ids"].cuda()).logits[0, -1].cpu()
print("cpu vs saved", (cpu - ref["logits_fp32"]).abs().max().item(), "gpu vs saved", (gpu - ref["logits_fp32"]).abs().max().item(), "cpu vs gpu", (cpu - gpu).abs().max().item())
