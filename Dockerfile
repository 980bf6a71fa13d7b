# syntax=docker/dockerfile:1
# RetrievalGuard server (src/RetrievalGuard.Server): OpenAI-compatible chat completions guarded by retrieval heads,
# on CPU libtorch from NuGet. build/docker-check.sh checks this file without Docker.
#
#   docker build -t retrievalguard .
#   docker run --rm -p 8080:8080 -v "$PWD/samples/models/organism:/models/model:ro" retrievalguard
#
# No model is baked in: mount a Hugging Face model folder at /models/model (or set RetrievalGuard__Model__Path).
# Head maps and calibrations: the repository's headmaps/ is at /app/headmaps (RGUARD_HEADMAPS). Maps of your own are
# found in /models/headmaps (beside the model), or add folders to RGUARD_HEADMAPS (':'-separated).
#
# CUDA variant (not built or tested here; the NuGet feed serves no CUDA libtorch for TorchSharp):
#   - build with --build-arg TORCH_FLAVOR=none: /app then holds TorchSharp's bridge (libLibTorchSharp.so) and no
#     libtorch at all (build/TorchNatives.targets);
#   - base the runtime stage on an NVIDIA CUDA runtime image (Ubuntu 24.04, CUDA major version and cuDNN matching
#     the libtorch you bring) with the .NET runtime copied in:
#       FROM nvidia/cuda:<cuda version>-cudnn-runtime-ubuntu24.04
#       COPY --from=mcr.microsoft.com/dotnet/aspnet:10.0 /usr/share/dotnet /usr/share/dotnet
#       RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libicu74 \
#           && rm -rf /var/lib/apt/lists/* && ln -s /usr/share/dotnet/dotnet /usr/bin/dotnet
#     plus a non-root user (useradd --uid 1654 app) and the same ENV/COPY/USER lines as below;
#   - bring a CUDA libtorch lib folder built for TorchSharp 0.107's libtorch (2.10; the GPU benchmarks used PyTorch's
#     site-packages/torch/lib) and point RGUARD_LIBTORCH at it, mounted or installed; the engine loads it instead of
#     the packaged CPU one (src/RetrievalGuard.Engine/Native/TorchRuntime.cs). The fused decode kernels need NVRTC
#     (found beside that libtorch, in the CUDA image, or via RGUARD_NVRTC):
#       docker run --gpus all -v /opt/torch/lib:/opt/libtorch:ro -e RGUARD_LIBTORCH=/opt/libtorch \
#         -e RetrievalGuard__Model__Device=cuda -v /data/llama:/models/model:ro -p 8080:8080 retrievalguard-cuda

ARG TORCH_FLAVOR=cpu

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
ARG TORCH_FLAVOR
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1
WORKDIR /src

# Restore first, from the project files alone, so that source edits do not re-download libtorch (~500 MB).
# The server's references, transitively: Guard -> Engine, Heads, Data; Heads -> Engine, Data.
COPY Directory.Build.props Directory.Packages.props .editorconfig ./
COPY build/*.props build/*.targets ./build/
COPY src/RetrievalGuard.Engine/RetrievalGuard.Engine.csproj src/RetrievalGuard.Engine/
COPY src/RetrievalGuard.Data/RetrievalGuard.Data.csproj src/RetrievalGuard.Data/
COPY src/RetrievalGuard.Heads/RetrievalGuard.Heads.csproj src/RetrievalGuard.Heads/
COPY src/RetrievalGuard.Guard/RetrievalGuard.Guard.csproj src/RetrievalGuard.Guard/
COPY src/RetrievalGuard.Server/RetrievalGuard.Server.csproj src/RetrievalGuard.Server/
RUN dotnet restore src/RetrievalGuard.Server -r linux-x64 -p:TorchFlavor=$TORCH_FLAVOR

COPY src/RetrievalGuard.Engine/ src/RetrievalGuard.Engine/
COPY src/RetrievalGuard.Data/ src/RetrievalGuard.Data/
COPY src/RetrievalGuard.Heads/ src/RetrievalGuard.Heads/
COPY src/RetrievalGuard.Guard/ src/RetrievalGuard.Guard/
COPY src/RetrievalGuard.Server/ src/RetrievalGuard.Server/
# Framework-dependent, no apphost (the entry point is `dotnet RetrievalGuard.Server.dll`). For linux-x64 only: a
# portable publish would also carry TorchSharp's SkiaSharp natives for Windows and macOS (~300 MB, pdbs included).
# libtorch and TorchSharp's bridge land in /app itself, where the engine looks first.
RUN dotnet publish src/RetrievalGuard.Server -c Release -o /app --no-restore -r linux-x64 --self-contained false \
    -p:TorchFlavor=$TORCH_FLAVOR -p:UseAppHost=false

# Ubuntu 24.04 (the .NET 10 images' default). Nothing to apt-get: the packaged libtorch brings its own OpenMP
# (libgomp-98b21ff3.so.1) and otherwise needs only glibc, libstdc++6 and libgcc-s1, which the image has; its
# libstdc++ (GCC 14) defines the GLIBCXX_3.4.32 that TorchSharp's bridge asks for, so the engine's Debian 12 patch
# of the bridge is not needed here (RGUARD_NATIVE_CACHE is set anyway, for bases with an older libstdc++).
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
ENV ASPNETCORE_HTTP_PORTS=8080 \
    RetrievalGuard__Model__Path=/models/model \
    RGUARD_HEADMAPS=/app/headmaps \
    RGUARD_FINGERPRINT_CACHE=/var/cache/retrievalguard/fingerprints \
    RGUARD_NATIVE_CACHE=/var/cache/retrievalguard/native
# Writable for the non-root user: the model fingerprints' cache (mount a volume here to keep it across containers).
RUN mkdir -p /var/cache/retrievalguard/fingerprints /var/cache/retrievalguard/native \
    && chown -R "$APP_UID:$APP_UID" /var/cache/retrievalguard
# The content root is the working directory: appsettings.json and wwwroot/ are in /app.
WORKDIR /app
COPY headmaps/ /app/headmaps/
COPY --from=build /app /app
USER $APP_UID
VOLUME /models
EXPOSE 8080
# /healthz is liveness (200 while the model loads, 503 once loading failed); /readyz says when it is loaded.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["dotnet", "RetrievalGuard.Server.dll", "healthcheck"]
ENTRYPOINT ["dotnet", "RetrievalGuard.Server.dll"]
