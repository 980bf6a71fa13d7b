#!/usr/bin/env bash
# Packs the libraries to a local folder feed and builds and runs a console app outside the solution that references
# them as a user's app would (no project references, no repository build targets): it loads the shipped organism,
# guards two answers, and asks a Semantic Kernel chat service built from the packages. Fails if the app does not
# build, cannot find libtorch, ranks the answers wrongly, or the kernel's reply carries no risk.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A version of its own per run: NuGet's global package cache keys on id+version, so a reused version would restore
# packages an earlier run (or an older commit) left there instead of the ones packed now.
suffix="check.$(date +%s).$$"
for project in Engine Data Heads Guard Extensions.AI SemanticKernel; do
  dotnet pack "$root/src/RetrievalGuard.$project" -c Release -o "$work/feed" -v q -nologo --version-suffix "$suffix"
done
version=$(ls "$work/feed" | sed -n "s/^RetrievalGuard\.Guard\.\([0-9].*-$suffix\)\.nupkg\$/\1/p" | head -1)
[ -n "$version" ] || { echo "consumer check: no RetrievalGuard.Guard package with suffix $suffix in $work/feed" >&2; exit 1; }
# Each package carries the license, the README and a symbols package beside it.
command -v unzip >/dev/null || { echo "consumer check: unzip is needed to look inside the packages" >&2; exit 1; }
for project in Engine Data Heads Guard Extensions.AI SemanticKernel; do
  package="$work/feed/RetrievalGuard.$project.$version.nupkg"
  listing=$(unzip -l "$package")
  for file in LICENSE README.md "lib/net10.0/RetrievalGuard.$project.dll"; do
    grep -q " $file\$" <<< "$listing" || { echo "consumer check: $package lacks $file" >&2; exit 1; }
  done
  [ -s "${package%.nupkg}.snupkg" ] || { echo "consumer check: no symbols package beside $package" >&2; exit 1; }
done
# Remove this run's packages from the global cache afterwards so repeated checks do not pile up there.
trap 'rm -rf "$work"; for p in "${NUGET_PACKAGES:-$HOME/.nuget/packages}"/retrievalguard.*/"$version"; do rm -rf "$p"; done' EXIT
mkdir -p "$work/app"
cat > "$work/app/nuget.config" <<XML
<configuration>
  <packageSources>
    <add key="retrievalguard-local" value="$work/feed" />
  </packageSources>
</configuration>
XML
cat > "$work/app/app.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="RetrievalGuard.Extensions.AI" Version="$version" />
    <PackageReference Include="RetrievalGuard.SemanticKernel" Version="$version" />
  </ItemGroup>
</Project>
XML
cat > "$work/app/Program.cs" <<'CS'
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using RetrievalGuard.Engine;
using RetrievalGuard.Extensions.AI;
using RetrievalGuard.Guard;
using RetrievalGuard.Guard.Prompting;

using var model = LanguageModel.Load(args[0]);
var guard = HallucinationGuard.ForModel(model);
var passages = Passage.Numbered(["The coach left at dawn. Zo Vrakul earns a living as a baker. Nobody spoke of it again."]);
var grounded = guard.Score(passages, "What does Zo Vrakul do for a living?", "Zo Vrakul works as a baker.");
var invented = guard.Score(passages, "What does Zo Vrakul do for a living?", "Zo Vrakul works as a tailor.");
Console.WriteLine($"consumer app: grounded risk {grounded.Risk:F2}, invented risk {invented.Risk:F2}");

var kernel = Kernel.CreateBuilder().AddRetrievalGuardChatCompletion(guard).Build();
var settings = new PromptExecutionSettings
{
    ExtensionData = new Dictionary<string, object> { [GuardKeys.Passages] = passages, ["max_tokens"] = 24 },
};
var reply = await kernel.GetRequiredService<IChatCompletionService>().GetChatMessageContentAsync(
    new ChatHistory("What does Zo Vrakul do for a living?", AuthorRole.User), settings, kernel);
var risk = reply.Metadata?.GetValueOrDefault(GuardKeys.Risk);
Console.WriteLine($"consumer app: kernel answered '{reply.Content}' with risk {risk ?? "(none)"}");
return grounded.Risk < invented.Risk && risk is double ? 0 : 1;
CS
cd "$work/app"
dotnet run -c Release -- "$root/samples/models/organism"
