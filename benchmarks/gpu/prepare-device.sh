#!/usr/bin/env bash
# Prepares .device/ (git-ignored) to carry to a GPU machine that has PyTorch's CUDA libtorch but no .NET:
# a packed .NET runtime, the environment script, the HF baseline, and rguard-bench published without libtorch
# natives (the GPU machine's own libtorch is used through TORCH_LIB_DIR). Run from the repository root.
set -euo pipefail
dest=.device
mkdir -p "$dest"
root=$(dirname "$(readlink -f "$(command -v dotnet)")")
runtime=$(ls -d "$root"/shared/Microsoft.NETCore.App/* | sort -V | tail -1)
if [ ! -s "$dest/dotnet-rt.txz" ]; then
  echo "packing the .NET runtime $(basename "$runtime") (about a minute, once)"
  tar cJf "$dest/dotnet-rt.txz" -C "$root" dotnet host "shared/Microsoft.NETCore.App/$(basename "$runtime")"
fi
cat > "$dest/gpu-env.sh" <<'ENV'
# Sourced on the GPU machine: unpacks the carried .NET runtime and points the engine at PyTorch's CUDA libtorch.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export DOTNET_ROOT=/tmp/dotnet
if [ ! -x "$DOTNET_ROOT/dotnet" ]; then mkdir -p "$DOTNET_ROOT" && tar xJf "$here/dotnet-rt.txz" -C "$DOTNET_ROOT"; fi
export PATH="$DOTNET_ROOT:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export RGUARD_LIBTORCH=$(python3 -c "import torch,os;print(os.path.join(os.path.dirname(torch.__file__),'lib'))")
ENV
[ -f ../shared/reference/hf_llama_baseline.py ] && cp ../shared/reference/hf_llama_baseline.py "$dest/"
rm -rf "$dest/app"
dotnet publish benchmarks/RetrievalGuard.Benchmarks -c Release -r linux-x64 --self-contained false -p:TorchFlavor=none -o "$dest/app" -v q
du -sh "$dest" "$dest/app"
