#!/usr/bin/env bash
# The GPU bench (issue #20, goal 5; docs/gpu.md): checks what a GPU run needs, then runs bench/gpu.mjs
# (cold start, warm 12 MP JPEG -> PNG by stage, inference alone, a batch of concurrent cut-outs, nvidia-smi
# before/during/after) with PETCUT_DEVICE=cuda, so a broken GPU set-up fails instead of measuring the CPU.
#
#   bench/gpu.sh --check              only the prerequisites; exit 0 ready, 3 something missing (each listed)
#   bench/gpu.sh [--out DIR] [--cold-runs N] [--batch N]
#                                     the bench; writes DIR/gpu-bench.json, DIR/gpu-bench.log, DIR/nvidia-smi.txt
#                                     (DIR: --out, else $OUT (the device tool's), else bench/results)
# Exit codes: 0 done (or ready), 2 bad arguments, 3 a prerequisite is missing, 4 the bench itself failed.
# Environment: NODE (the node binary; default: node on PATH), PETCUT_DIST (compiled petcut; default dist/),
# PETCUT_MODEL_CACHE_DIR and the other PETCUT_* settings as for the service.
# Example (a GPU host with this tree, node_modules installed with ONNXRUNTIME_NODE_INSTALL=cuda12, dist built):
#   bench/gpu.sh --check && bench/gpu.sh --out /tmp/gpu --batch 8
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="${PETCUT_DIST:-$ROOT/dist}"
ORT_BIN="$ROOT/node_modules/onnxruntime-node/bin/napi-v6/linux/x64"
# What onnxruntime-node 1.24.3's CUDA provider (the CUDA 12 build of Microsoft.ML.OnnxRuntime.Gpu.Linux) links
# against; looked up this way only while the provider itself is absent (with it, ldd says exactly).
CUDA_LIBS=(libcudart.so.12 libcublas.so.12 libcublasLt.so.12 libcufft.so.11 libcurand.so.10 libcudnn.so.9)

usage() {
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

CHECK=0; OUT_DIR="${OUT:-$ROOT/bench/results}"; PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --check) CHECK=1 ;;
    --out) [ $# -ge 2 ] || { echo "bench/gpu.sh: --out needs a folder" >&2; exit 2; }; OUT_DIR="$2"; shift ;;
    --cold-runs|--batch) [ $# -ge 2 ] || { echo "bench/gpu.sh: $1 needs a number" >&2; exit 2; }
      [[ "$2" =~ ^[1-9][0-9]?$ ]] || { echo "bench/gpu.sh: $1 must be a whole number from 1 to 99, got \"$2\"" >&2; exit 2; }
      PASS+=("$1" "$2"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/gpu.sh: unknown argument \"$1\"" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

MISSING=()
missing() { MISSING+=("$1"); }
ok() { echo "ok: $1"; }

# 1. Node.js 20 or later (package.json's engines). The device tool's H200 image has none.
NODE_BIN="${NODE:-$(command -v node || true)}"
if [ -z "$NODE_BIN" ] || ! [ -x "$NODE_BIN" ]; then
  missing "node: no Node.js on PATH (nor NODE=...): bring a Node 20 linux-x64 binary (the gpu image has /usr/local/bin/node) and set NODE=path/to/node"
else
  NODE_MAJOR="$("$NODE_BIN" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$NODE_MAJOR" -lt 20 ]; then missing "node: $NODE_BIN is Node $NODE_MAJOR; petcut needs Node 20 or later"; else ok "node $("$NODE_BIN" --version) ($NODE_BIN)"; fi
fi

# 2. The compiled service and its native modules (node_modules is not in git: it comes with the tree or the image).
[ -f "$DIST/index.js" ] && ok "dist ($DIST)" || missing "dist: $DIST/index.js not found: run \`npm run build\` (or set PETCUT_DIST to a built copy)"
for module in onnxruntime-node sharp; do
  [ -d "$ROOT/node_modules/$module" ] && ok "node_modules/$module" || missing "node_modules/$module: run \`npm ci\` where the npm registry is reachable"
done

# 3. An NVIDIA GPU, its driver and nvidia-smi (the service's GPU metrics read it too).
if command -v nvidia-smi >/dev/null 2>&1; then
  if GPUS="$(nvidia-smi -L 2>&1)" && [ -n "$GPUS" ]; then ok "nvidia-smi: $(echo "$GPUS" | head -n 1)"; else missing "GPU: nvidia-smi lists none: ${GPUS:-no output}"; fi
else
  missing "nvidia-smi: not on PATH: no NVIDIA driver here (on a container: run it with the GPU passed in, e.g. docker run --gpus all)"
fi
if [ -e /dev/nvidiactl ] || [ -e /dev/nvidia0 ]; then ok "NVIDIA device node"; else missing "GPU device: neither /dev/nvidiactl nor /dev/nvidia0 exists (petcut's own CUDA check looks for them)"; fi

# 4. onnxruntime-node's CUDA execution provider: not in the npm package; its install script downloads it from NuGet.
PROVIDER="$ORT_BIN/libonnxruntime_providers_cuda.so"
if [ -f "$PROVIDER" ] && [ -f "$ORT_BIN/libonnxruntime_providers_shared.so" ]; then
  ok "CUDA provider ($PROVIDER)"
  # 5a. With the provider: what it links against and cannot find.
  NOT_FOUND="$(ldd "$PROVIDER" 2>/dev/null | awk '/not found/ {print $1}' | tr '\n' ' ')"
  [ -z "$NOT_FOUND" ] && ok "the provider's libraries (ldd)" || missing "CUDA 12 / cuDNN 9 libraries the provider needs and ldd cannot find: $NOT_FOUND(put them on LD_LIBRARY_PATH; the gpu image's base nvidia/cuda:12.4.1-cudnn-runtime has them)"
else
  missing "CUDA provider: $PROVIDER not found: onnxruntime-node was installed without it (ONNXRUNTIME_NODE_INSTALL=skip). Install it where api.nuget.org is reachable: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js --onnxruntime-node-install=cuda12 (or build the gpu image: docker build -f deploy/container/Dockerfile --target gpu .)"
  # 5b. Without it: the CUDA 12 and cuDNN 9 libraries it would need, by soname.
  LIBS_MISSING=()
  for lib in "${CUDA_LIBS[@]}"; do
    found=0
    ldconfig -p 2>/dev/null | grep -q " $lib " && found=1
    if [ $found -eq 0 ]; then
      IFS=: read -r -a dirs <<< "${LD_LIBRARY_PATH:-}"
      for dir in "${dirs[@]}"; do [ -n "$dir" ] && [ -e "$dir/$lib" ] && found=1; done
    fi
    [ $found -eq 1 ] || LIBS_MISSING+=("$lib")
  done
  [ ${#LIBS_MISSING[@]} -eq 0 ] && ok "CUDA 12 / cuDNN 9 libraries (${CUDA_LIBS[*]})" || missing "CUDA 12 / cuDNN 9 libraries, not in ldconfig's cache nor on LD_LIBRARY_PATH: ${LIBS_MISSING[*]} (CUDA 13's libraries do not serve a CUDA 12 build)"
fi

# 6. The Node side: dist current, petcut's own CUDA decision, the model file (only when node and dist are there).
if [ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] && [ -f "$DIST/index.js" ]; then
  if NODE_CHECK="$("$NODE_BIN" "$ROOT/bench/gpu.mjs" --check --dist "$DIST" 2>&1)"; then
    # Its CUDA verdict repeats what is listed above when the provider or the device is missing.
    while IFS= read -r line; do
      [ -z "$line" ] && continue
      [[ "$line" == "CUDA for onnxruntime-node:"* ]] && ! { [ -f "$PROVIDER" ] && { [ -e /dev/nvidiactl ] || [ -e /dev/nvidia0 ]; }; } && continue
      missing "$line"
    done < <(echo "$NODE_CHECK" | "$NODE_BIN" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const m of JSON.parse(s).missing)console.log(m)})')
    echo "$NODE_CHECK" | grep -q '"modelPrepared":true' && ok "model file prepared"
  else
    missing "bench/gpu.mjs --check failed: $NODE_CHECK"
  fi
fi

if [ ${#MISSING[@]} -gt 0 ]; then
  printf 'missing: %s\n' "${MISSING[@]}" >&2
  echo "bench/gpu.sh: ${#MISSING[@]} prerequisite(s) missing; nothing measured (docs/gpu.md says what a GPU run needs)" >&2
  exit 3
fi
if [ $CHECK -eq 1 ]; then echo "bench/gpu.sh: ready"; exit 0; fi

mkdir -p "$OUT_DIR" || { echo "bench/gpu.sh: cannot create $OUT_DIR" >&2; exit 2; }
nvidia-smi > "$OUT_DIR/nvidia-smi.txt" 2>&1
nvidia-smi --query-gpu=index,name,driver_version,temperature.gpu,memory.used,memory.total,power.draw,power.limit,clocks.sm,clocks.max.sm --format=csv >> "$OUT_DIR/nvidia-smi.txt" 2>&1
echo "bench/gpu.sh: measuring; log in $OUT_DIR/gpu-bench.log"
PETCUT_DEVICE=cuda "$NODE_BIN" "$ROOT/bench/gpu.mjs" --device cuda --dist "$DIST" --out "$OUT_DIR/gpu-bench.json" "${PASS[@]}" > /dev/null 2> "$OUT_DIR/gpu-bench.log"
STATUS=$?
nvidia-smi --query-gpu=index,temperature.gpu,memory.used,power.draw --format=csv >> "$OUT_DIR/nvidia-smi.txt" 2>&1
if [ $STATUS -ne 0 ]; then
  tail -n 30 "$OUT_DIR/gpu-bench.log" >&2
  echo "bench/gpu.sh: the bench failed (exit $STATUS); the log is $OUT_DIR/gpu-bench.log" >&2
  exit 4
fi
cat "$OUT_DIR/gpu-bench.log" >&2
echo "bench/gpu.sh: done: $OUT_DIR/gpu-bench.json"
