#!/usr/bin/env bash
# Checks the Dockerfile without Docker (none is available where this project is built), as far as that is honest:
#  (a) every COPY source exists in the repository and is not excluded by .dockerignore;
#  (b) the build stage is replayed: its COPYs fill a staging folder from the build context (filtered by .dockerignore),
#      its RUN lines run there as written (ARG defaults, absolute paths re-rooted under the stage's folder), and the
#      published app is checked for the server, its content and libtorch's natives;
#  (c) the runtime stage is replayed: COPYs, RUNs and ENV with absolute paths re-rooted under a scratch root, WORKDIR as
#      the working directory, USER as that UID (setpriv), samples/models/organism copied to the model path in the
#      /models volume; the ENTRYPOINT starts the server, /readyz must answer, the HEALTHCHECK command must exit 0, a
#      guarded chat completion must answer "Kalomi" with a calibrated risk, and SIGTERM must end the server with 0;
#  (d) a Dockerfile linter, if one is installed or installable.
# Not checked: the base images themselves (their packages, APP_UID 1654, Ubuntu's libstdc++), layer caching, BuildKit.
# This host's libstdc++ (Debian 12) makes the engine patch TorchSharp's bridge, which Ubuntu 24.04's does not need.
# Usage: build/docker-check.sh   (KEEP=1 keeps the scratch folder; DOCKERFILE=path checks another Dockerfile)
set -euo pipefail
shopt -s nullglob dotglob
repo=$(cd "$(dirname "$0")/.." && pwd)
dockerfile=${DOCKERFILE:-$repo/Dockerfile}
work=$(mktemp -d "${TMPDIR:-/tmp}/docker-check.XXXXXX")
chmod 755 "$work"
server_pid=""
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  if [[ ${KEEP:-0} == 1 ]]; then echo "scratch folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
started=$SECONDS
say() { printf '[docker-check %3ds] %s\n' $((SECONDS - started)) "$*"; }
fail() { printf '[docker-check] FAIL: %s\n' "$*" >&2; exit 1; }

# --- The Dockerfile as instructions: continuations joined, comments and blank lines dropped. ---
mapfile -t instructions < <(awk '
  /^[[:space:]]*#/ { next }
  { line = $0
    if (sub(/\\[[:space:]]*$/, "", line)) { buf = buf line; next }
    buf = buf line
    if (buf ~ /[^[:space:]]/) print buf
    buf = "" }
  END { if (buf ~ /[^[:space:]]/) print buf }' "$dockerfile")
[[ ${#instructions[@]} -gt 0 ]] || fail "no instructions in $dockerfile"

# --- .dockerignore as anchored regular expressions (Go filepath.Match plus **; a match also covers what is below). ---
ignore_res=() ignore_neg=()
glob_to_regex() {
  local g=$1 out="" c i
  for ((i = 0; i < ${#g}; i++)); do
    c=${g:i:1}
    if [[ $c == '*' && ${g:i+1:1} == '*' ]]; then
      if [[ ${g:i+2:1} == / ]]; then out+='(.*/)?'; ((i += 2)); else out+='.*'; ((i += 1)); fi
    else
      case $c in
        '*') out+='[^/]*' ;;
        '?') out+='[^/]' ;;
        '.' | '+' | '^' | '$' | '(' | ')' | '|' | '{' | '}' | "\\") out+="\\$c" ;;
        *) out+=$c ;;
      esac
    fi
  done
  printf '^%s(/.*)?$' "$out"
}
if [[ -f $repo/.dockerignore ]]; then
  while IFS= read -r pattern || [[ -n $pattern ]]; do
    pattern=${pattern#"${pattern%%[![:space:]]*}"}; pattern=${pattern%"${pattern##*[![:space:]]}"}
    [[ -z $pattern || $pattern == \#* ]] && continue
    neg=0; [[ $pattern == !* ]] && { neg=1; pattern=${pattern#!}; }
    pattern=${pattern#/}; pattern=${pattern%/}
    ignore_res+=("$(glob_to_regex "$pattern")"); ignore_neg+=("$neg")
  done < "$repo/.dockerignore"
fi
ignored() { # context-relative path -> 0 when .dockerignore leaves it out of the build context
  local rel=${1#./} result=1 i
  for i in "${!ignore_res[@]}"; do
    if [[ $rel =~ ${ignore_res[i]} ]]; then result=$((ignore_neg[i] == 1 ? 1 : 0)); fi
  done
  return $result
}
copy_context_tree() { # context-relative path, destination: what Docker sends of it, .dockerignore applied
  local rel=$1 dest=$2 entry
  ignored "$rel" && return 0
  if [[ -d $repo/$rel ]]; then
    mkdir -p "$dest"
    for entry in "$repo/$rel"/*; do copy_context_tree "$rel/${entry##*/}" "$dest/${entry##*/}"; done
  else
    cp -p "$repo/$rel" "$dest"
  fi
}

# --- Small helpers for instruction arguments. ---
reroot() { # absolute paths (also ':'-separated lists and after ' ', '=', quotes) moved under folder $1
  sed -E "s#(^|[[:space:]=:\"'])/([A-Za-z0-9_.])#\\1$1/\\2#g" <<< "$2"
}
json_array() { # ["a", "b"] -> one element per line (no commas or escapes inside elements)
  local body=${1#*[}; body=${body%]*}
  tr ',' '\n' <<< "$body" | sed -E 's/^[[:space:]]*"//; s/"[[:space:]]*$//'
}
json_field() { # JSON file, jq filter
  if command -v jq > /dev/null; then jq -r "$2" "$1"
  elif command -v python3 > /dev/null; then
    python3 -c 'import json,sys
d=json.load(open(sys.argv[1])); f=sys.argv[2]
v={".choices[0].message.content": lambda: d["choices"][0]["message"]["content"],
   ".retrieval_guard.risk": lambda: d["retrieval_guard"]["risk"], ".model": lambda: d.get("model")}[f]()
print("null" if v is None else v)' "$1" "$2"
  else fail "neither jq nor python3 is installed to read JSON"; fi
}

# --- (a) COPY sources. ---
say "(a) COPY sources in $(basename "$dockerfile") against the repository and .dockerignore"
copies=0
for ins in "${instructions[@]}"; do
  read -ra words <<< "$ins"
  [[ ${words[0]^^} == COPY ]] || continue
  [[ ${words[1]} == \[* ]] && fail "COPY in JSON form is not supported by this check: $ins"
  srcs=()
  for w in "${words[@]:1}"; do [[ $w == --* ]] && { [[ $w == --from=* ]] && continue 2; continue; }; srcs+=("$w"); done
  unset 'srcs[${#srcs[@]}-1]'
  for src in "${srcs[@]}"; do
    # shellcheck disable=SC2206 # the source is a glob, as in Docker
    matches=("$repo"/$src)
    [[ ${#matches[@]} -gt 0 && -e ${matches[0]} ]] || fail "COPY source '$src' does not exist in $repo"
    for m in "${matches[@]}"; do
      rel=${m#"$repo"/}
      ignored "${rel%/}" && fail "COPY source '$rel' is excluded by .dockerignore"
      copies=$((copies + 1))
    done
  done
done
say "(a) ok: $copies COPY sources exist and are in the build context"

# --- (b), (c) Replay the stages. ---
declare -A stage_root=() arg_default=()
stage=-1 root="" cwd="" user=0 base=""
stage_env=() base_env=() healthcheck=() entrypoint=() volumes=() exposed=()
run_in_stage() { # a RUN line, with the stage's ENV and ARGs, re-rooted
  local cmd
  cmd=$(reroot "$root" "$1")
  if [[ $cmd =~ (apt-get|apk|dnf|yum)[[:space:]] ]]; then
    say "    not replayed (package manager of the base image): $1"; return 0
  fi
  say "    RUN $cmd"
  (cd "$cwd" && env "${base_env[@]}" "${stage_env[@]}" bash -c "set -e; $cmd") > "$work/run.log" 2>&1 || {
    tail -40 "$work/run.log"; fail "RUN failed: $1"; }
}
for ins in "${instructions[@]}"; do
  read -ra words <<< "$ins"
  op=${words[0]^^} rest=${ins#*[[:space:]]}
  case $op in
    ARG)
      name=${rest%%=*}; name=${name%% *}
      if [[ $rest == *=* ]]; then value=${rest#*=}; else value=${arg_default[$name]:-}; fi
      if [[ $stage -lt 0 ]]; then arg_default[$name]=$value; else stage_env+=("$name=$value"); fi ;;
    FROM)
      stage=$((stage + 1)); base=${words[1]}
      root=$work/stage$stage; mkdir -p "$root"; chmod 755 "$root"; cwd=$root; user=0; stage_env=() base_env=()
      [[ ${#words[@]} -ge 4 && ${words[2]^^} == AS ]] && stage_root[${words[3]}]=$root
      case $base in
        mcr.microsoft.com/dotnet/aspnet:* | mcr.microsoft.com/dotnet/runtime:* \
          | mcr.microsoft.com/dotnet/runtime-deps:*)
          # What the .NET images set (runtime-deps Dockerfile) and the 'app' user's home it creates.
          base_env=(APP_UID=1654 ASPNETCORE_HTTP_PORTS=8080 DOTNET_RUNNING_IN_CONTAINER=true "HOME=$root/home/app")
          mkdir -p "$root/home/app"; chown 1654:1654 "$root/home/app" ;;
        mcr.microsoft.com/dotnet/sdk:*) base_env=(DOTNET_RUNNING_IN_CONTAINER=true) ;;
        *) say "    base image $base is not known to this check: its environment is not emulated" ;;
      esac
      say "stage $stage: FROM ${words[*]:1} (emulated in $root)" ;;
    ENV)
      read -ra pairs <<< "$rest"
      [[ ${pairs[0]} == *=* ]] || pairs=("${pairs[0]}=${rest#"${pairs[0]}"[[:space:]]}")
      for pair in "${pairs[@]}"; do
        value=${pair#*=}; value=${value%\"}; value=${value#\"}
        [[ $value == /* ]] && value=$(reroot "$root" "$value")
        stage_env+=("${pair%%=*}=$value")
      done ;;
    WORKDIR)
      if [[ $rest == /* ]]; then cwd=$root$rest; else cwd=$cwd/$rest; fi
      mkdir -p "$cwd" ;;
    COPY)
      from="" srcs=()
      for w in "${words[@]:1}"; do
        if [[ $w == --from=* ]]; then from=${w#--from=}; elif [[ $w != --* ]]; then srcs+=("$w"); fi
      done
      dest=${srcs[-1]}; unset 'srcs[${#srcs[@]}-1]'
      if [[ $dest == /* ]]; then target=$root$dest; else target=$cwd/$dest; fi
      if [[ -n $from ]]; then
        [[ -n ${stage_root[$from]:-} ]] || fail "COPY --from=$from: no earlier stage named $from"
        src_root=${stage_root[$from]}
      else
        src_root=$repo
      fi
      for src in "${srcs[@]}"; do
        for m in "$src_root"/${src#/}; do
          rel=${m#"$src_root"/}; rel=${rel%/}
          if [[ -d $m ]]; then into=$target
          elif [[ $dest == */ || ${#srcs[@]} -gt 1 ]]; then into=${target%/}/${m##*/}
          else into=$target; fi
          mkdir -p "$(dirname "$into")"
          if [[ -n $from && -d $m ]]; then
            mkdir -p "$into"; cp -al "$m/." "$into/" 2> /dev/null || cp -a "$m/." "$into/"
          elif [[ -n $from ]]; then
            cp -a "$m" "$into"
          elif [[ -d $m ]]; then
            mkdir -p "$into"; for entry in "$m"/*; do copy_context_tree "$rel/${entry##*/}" "$into/${entry##*/}"; done
          else
            copy_context_tree "$rel" "$into"
          fi
        done
      done
      say "    COPY ${words[*]:1}" ;;
    RUN) run_in_stage "$rest" ;;
    USER)
      user=$(env "${base_env[@]}" "${stage_env[@]}" bash -c "echo $rest")
      [[ $user == app ]] && user=1654
      [[ $user =~ ^[0-9]+(:[0-9]+)?$ ]] || fail "USER $rest: this check only runs numeric users"
      [[ ${user%%:*} != 0 ]] || fail "USER is root" ;;
    VOLUME) volumes+=("${words[@]:1}") ;;
    EXPOSE) exposed+=("${words[@]:1}") ;;
    HEALTHCHECK)
      [[ $rest == *CMD\ \[* ]] || fail "HEALTHCHECK must use the exec form CMD [...] for this check"
      mapfile -t healthcheck < <(json_array "${rest#*CMD }") ;;
    ENTRYPOINT)
      [[ $rest == \[* ]] || fail "ENTRYPOINT must use the exec form for this check"
      mapfile -t entrypoint < <(json_array "$rest") ;;
    CMD | LABEL | STOPSIGNAL | SHELL | ONBUILD) say "    $op not replayed" ;;
    *) fail "unknown instruction: $ins" ;;
  esac
  if [[ $op == RUN && $ins == *"dotnet publish"* ]]; then
    # (b) What publish produced, in the stage's output folder (-o).
    out=$(grep -oE -- '-o +[^ ]+' <<< "$rest" | awk '{print $2}')
    [[ $out == /* ]] && out=$root$out
    say "(b) published $(du -sh "$out" | cut -f1) to $out"
    for f in RetrievalGuard.Server.dll RetrievalGuard.Server.runtimeconfig.json appsettings.json wwwroot/index.html; do
      [[ -f $out/$f ]] || fail "publish output lacks $f"
    done
    # The engine looks for natives in the app folder (RID-specific publish), then in runtimes/linux-x64/native.
    natives=$out; [[ -f $natives/libLibTorchSharp.so ]] || natives=$out/runtimes/linux-x64/native
    flavor=$(grep -oE 'TorchFlavor=[^ ]+' <<< "$rest" | head -1); flavor=${flavor#TorchFlavor=}
    flavor=$(env "${stage_env[@]}" bash -c "echo $flavor")
    needed=(libLibTorchSharp.so)
    [[ $flavor == cpu ]] && needed+=(libc10.so libtorch_cpu.so libtorch.so libgomp-98b21ff3.so.1)
    for f in "${needed[@]}"; do [[ -f $natives/$f ]] || fail "publish output lacks $f (in ${natives#"$out"}/)"; done
    say "(b) ok: ${needed[*]} (TorchFlavor=$flavor) in ${natives#"$root"}"
    [[ ! -e $out/RetrievalGuard.Server ]] || say "    note: an apphost was published (UseAppHost is not false)"
    other=0
    [[ -d $out/runtimes ]] && other=$(find "$out/runtimes" -mindepth 1 -maxdepth 1 ! -name linux-x64 | wc -l)
    [[ $other == 0 ]] || say "    note: natives of $other other platforms were published too"
  fi
done
final_root=$root
[[ ${#entrypoint[@]} -gt 0 ]] || fail "no ENTRYPOINT"
[[ ${#healthcheck[@]} -gt 0 ]] || fail "no HEALTHCHECK"
[[ $user != 0 ]] || fail "the final stage runs as root (no USER)"

# --- (c) Run the image's entry point as the container would. ---
declare -A env_now=()
for kv in "${base_env[@]}" "${stage_env[@]}"; do env_now[${kv%%=*}]=${kv#*=}; done
model=${env_now[RetrievalGuard__Model__Path]:-}
[[ -n $model ]] || fail "ENV RetrievalGuard__Model__Path is not set"
in_volume=0
for v in "${volumes[@]}"; do [[ ${model#"$final_root"} == "$v"/* ]] && in_volume=1; done
[[ $in_volume == 1 ]] || fail "the model path ${model#"$final_root"} is not inside a VOLUME (${volumes[*]:-none})"
port=${env_now[ASPNETCORE_HTTP_PORTS]}
[[ " ${exposed[*]} " == *" $port "* ]] \
  || fail "EXPOSE (${exposed[*]:-none}) does not include ASPNETCORE_HTTP_PORTS=$port"
for candidate in $(shuf -i 20000-40000 -n 20); do
  (echo > "/dev/tcp/127.0.0.1/$candidate") 2> /dev/null || { port=$candidate; break; }
done
env_now[ASPNETCORE_HTTP_PORTS]=$port
mkdir -p "$model"; cp -p "$repo"/samples/models/organism/* "$model/"
say "(c) volume: samples/models/organism at ${model#"$final_root"}; port 8080 -> $port on this host"
run_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=docker-check)
[[ -n ${DOTNET_ROOT:-} ]] && run_env+=("DOTNET_ROOT=$DOTNET_ROOT")
for k in "${!env_now[@]}"; do run_env+=("$k=${env_now[$k]}"); done
as_container() { # the command as the container's user, in its WORKDIR, with only its environment (call in ( ))
  cd "$cwd" && exec env -i "${run_env[@]}" setpriv --reuid="${user%%:*}" --regid="${user##*:}" --clear-groups "$@"
}
[[ $user == *:* ]] || user=$user:$user
command -v curl > /dev/null || fail "curl is needed to talk to the server"
say "(c) ENTRYPOINT ${entrypoint[*]} as UID ${user%%:*} in ${cwd#"$final_root"}"
(as_container "${entrypoint[@]}") > "$work/server.log" 2>&1 &
server_pid=$!
base_url=http://127.0.0.1:$port
ready=""
for _ in $(seq 1 180); do
  kill -0 "$server_pid" 2> /dev/null || { tail -30 "$work/server.log"; fail "the server exited while starting"; }
  ready=$(curl -s --max-time 5 "$base_url/readyz" || true)
  [[ $ready == *'"ready"'* ]] && break
  [[ $ready == *'"failed"'* ]] && { tail -30 "$work/server.log"; fail "the model failed to load: $ready"; }
  sleep 0.5
done
[[ $ready == *'"ready"'* ]] || { tail -30 "$work/server.log"; fail "/readyz did not say ready within 90 s"; }
say "(c) /readyz: $ready"
grep -q 'calibrated True' "$work/server.log" || say "    note: the log does not say the guard is calibrated"

if (as_container "${healthcheck[@]}") > "$work/health.log" 2>&1; then
  say "(c) HEALTHCHECK ${healthcheck[*]}: exit 0 ($(tr -d '\n' < "$work/health.log"))"
else
  cat "$work/health.log"; fail "HEALTHCHECK ${healthcheck[*]} exited non-zero"
fi

body='{"max_tokens":24,"messages":[{"role":"user","content":"What is the secret word of the red lantern?"}],'
body+='"retrieval_guard":{"passages":["The coach left at dawn. The secret word of the red lantern is Kalomi. '
body+='Nobody spoke of it again."]}}'
status=$(curl -s --max-time 60 -o "$work/answer.json" -w '%{http_code}' -H 'Content-Type: application/json' -d "$body" \
  "$base_url/v1/chat/completions")
[[ $status == 200 ]] || { cat "$work/answer.json"; fail "chat completion answered HTTP $status"; }
answer=$(json_field "$work/answer.json" '.choices[0].message.content')
risk=$(json_field "$work/answer.json" '.retrieval_guard.risk')
say "(c) guarded chat completion: answer '$answer', risk $risk"
[[ $answer == *Kalomi* ]] || fail "the answer does not contain Kalomi"
[[ $risk != null ]] || fail "no calibrated risk: the calibration beside the head maps was not found"

fingerprints=${env_now[RGUARD_FINGERPRINT_CACHE]:-}
if [[ -n $fingerprints ]]; then
  n=$(find "$fingerprints" -type f -user "${user%%:*}" | wc -l)
  [[ $n -gt 0 ]] || fail "nothing was cached in RGUARD_FINGERPRINT_CACHE (${fingerprints#"$final_root"})"
  say "(c) fingerprint cache: $n file(s) written by UID ${user%%:*} in ${fingerprints#"$final_root"}"
fi
if [[ -n ${env_now[RGUARD_NATIVE_CACHE]:-} ]]; then
  n=$(find "${env_now[RGUARD_NATIVE_CACHE]}" -name 'libLibTorchSharp.so' | wc -l)
  say "(c) native cache: $n patched bridge(s) (this host's libstdc++ needs the patch; Ubuntu 24.04's does not)"
fi

kill -TERM "$server_pid"
rc=""
for _ in $(seq 1 90); do kill -0 "$server_pid" 2> /dev/null || break; sleep 0.5; done
if kill -0 "$server_pid" 2> /dev/null; then fail "the server did not exit within 45 s of SIGTERM"; fi
wait "$server_pid" && rc=0 || rc=$?
server_pid=""
[[ $rc == 0 ]] || { tail -20 "$work/server.log"; fail "the server exited with $rc after SIGTERM"; }
say "(c) SIGTERM: the server exited 0"

# --- (d) Lint. ---
if command -v hadolint > /dev/null; then
  hadolint "$dockerfile" && say "(d) hadolint: no findings"
elif [[ $(id -u) == 0 ]] && command -v apt-cache > /dev/null \
  && apt-cache policy hadolint 2> /dev/null | grep -q 'Candidate: [0-9]'; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends hadolint > /dev/null
  hadolint "$dockerfile" && say "(d) hadolint: no findings"
else
  say "(d) no Dockerfile linter is available (hadolint is not installed nor packaged for this system): not linted"
fi
say "all checks passed"
