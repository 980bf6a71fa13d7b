#!/usr/bin/env bash
# Prepares .device/ (git-ignored) to carry to a GPU machine that has PyTorch's CUDA libtorch but no .NET:
# a packed .NET runtime, the environment script, the HF baseline, and rguard (CLI) + rguard-bench published into one
# folder without libtorch natives (the GPU machine's own libtorch is used through RGUARD_LIBTORCH), packed as
# app.txz. Run from the repository root; carry .device/dotnet-rt.txz, .device/app.txz and .device/gpu-env.sh (plus
# .device/hf_llama_baseline.py for the HF comparisons and .device/tokenizers for rguard-bench's 8B shapes). The
# repository and the carried files must stay under the device's 64 MiB.
# With --server, the guard server and the load tool (rguard-load) go into app.txz too, and ASP.NET Core's shared runtime
# into .device/aspnet-rt.txz (8 MB): carry it for run-performance.sh's `serve` part only.
set -euo pipefail
server=false
case "${1:-}" in
  "") ;;
  --server) server=true ;;
  *) echo "prepare-device.sh: unknown argument '$1' (the only option is --server)" >&2; exit 2 ;;
esac
dest=.device
mkdir -p "$dest"
root=$(dirname "$(readlink -f "$(command -v dotnet)")")
runtime=$(ls -d "$root"/shared/Microsoft.NETCore.App/* | sort -V | tail -1)
if [ ! -s "$dest/dotnet-rt.txz" ]; then
  echo "packing the .NET runtime $(basename "$runtime") (about a minute, once)"
  # The debugger's libraries (4 MB) are left out: nothing attaches a debugger there, and the carry limit is tight.
  XZ_OPT=-9 tar cJf "$dest/dotnet-rt.txz" -C "$root" --exclude='libmscordaccore.so' --exclude='libmscordbi.so' \
    --exclude='createdump' dotnet host "shared/Microsoft.NETCore.App/$(basename "$runtime")"
fi
aspnet=$(ls -d "$root"/shared/Microsoft.AspNetCore.App/* | sort -V | tail -1)
if $server && [ ! -s "$dest/aspnet-rt.txz" ]; then
  XZ_OPT=-9 tar cJf "$dest/aspnet-rt.txz" -C "$root" "shared/Microsoft.AspNetCore.App/$(basename "$aspnet")"
fi
cat > "$dest/gpu-env.sh" <<'ENV'
# Sourced on the GPU machine: unpacks the carried .NET runtime and applications, and points the engine at PyTorch's
# CUDA libtorch.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export DOTNET_ROOT=/tmp/dotnet
if [ ! -x "$DOTNET_ROOT/dotnet" ]; then mkdir -p "$DOTNET_ROOT" && tar xJf "$here/dotnet-rt.txz" -C "$DOTNET_ROOT"; fi
if [ -f "$here/aspnet-rt.txz" ] && [ ! -d "$DOTNET_ROOT/shared/Microsoft.AspNetCore.App" ]; then
  tar xJf "$here/aspnet-rt.txz" -C "$DOTNET_ROOT"
fi
if [ ! -d "$here/app" ] && [ -f "$here/app.txz" ]; then mkdir -p "$here/app" && tar xJf "$here/app.txz" -C "$here/app"; fi
export PATH="$DOTNET_ROOT:$PATH" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
export RGUARD_LIBTORCH=$(python3 -c "import torch,os;print(os.path.join(os.path.dirname(torch.__file__),'lib'))")
ENV
[ -f ../shared/reference/hf_llama_baseline.py ] && cp ../shared/reference/hf_llama_baseline.py "$dest/"
# Llama 3's tokenizer for the 8B shapes of rguard-bench (2.2 MB; ../shared does not travel).
mkdir -p "$dest/tokenizers" && cp -r ../shared/tokenizers/llama3 "$dest/tokenizers/"
rm -rf "$dest/app" "$dest/app.txz"
projects="src/RetrievalGuard.Cli benchmarks/RetrievalGuard.Benchmarks"
$server && projects="$projects src/RetrievalGuard.Server benchmarks/RetrievalGuard.LoadTest"
for project in $projects; do
  dotnet publish "$project" -c Release -r linux-x64 --self-contained false -p:TorchFlavor=none -p:DebugType=none \
    -o "$dest/app" -v q
done
# Charts are drawn here, not there: SkiaSharp's and HarfBuzz's natives (14 MB) stay behind.
XZ_OPT=-9 tar cJf "$dest/app.txz" -C "$dest/app" --exclude='libSkiaSharp.so' --exclude='libHarfBuzzSharp.so' .
rm -rf "$dest/app"
du -sh "$dest"/*
