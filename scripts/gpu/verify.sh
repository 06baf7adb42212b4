#!/usr/bin/env bash
# GPU verification in one go (docs/gpu.md): the WebGPU adapter, the model tests on webgpu, the train-step benchmark
# (tiny GPT and d 512 / 8 layers / ctx 512) against PyTorch CUDA on the same GPU, the rollout benchmark, and a short
# tree-GRPO run from a supervised checkpoint. Each step runs under its own time limit and writes LOGDIR/<step>.log;
# a failed step is reported and the next one still runs.
#
#   bash scripts/gpu/verify.sh LOGDIR [PYTHON] [GRPO_CONFIG]
#
# PYTHON: a Python whose torch sees CUDA (default python3). GRPO_CONFIG: a "mode": "grpo" run config whose `init`
# checkpoint exists (the GRPO step is skipped without one). The limits fit one 5-minute device call on an H200
# (docs/benchmarks.md); VERIFY_LIMIT_SCALE=N multiplies them (the 64-tree rollout benchmark needed over 60 s there).
set -u
out=${1:?usage: verify.sh LOGDIR [PYTHON] [GRPO_CONFIG]}
py=${2:-python3}
grpo=${3:-}
mkdir -p "$out"
bin=node_modules/.bin

step() {
  local name=$1 limit=$(($2 * ${VERIFY_LIMIT_SCALE:-1}))
  shift 2
  echo "== $name: $* (limit ${limit} s)"
  local t0=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  grep -v '^var Module' "$out/$name.log" | tail -n 30
  echo "== $name: exit $rc after $((SECONDS - t0)) s"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
node --version
step info-webgpu 20 node bin/selfcest.mjs info --backend webgpu
step info-auto 15 node bin/selfcest.mjs info
step tests 60 "$bin/vitest" run tests/backend/webgpu.test.ts tests/backend/webgpu-kernels.test.ts tests/model/model.test.ts
step kernels 30 "$bin/tsx" scripts/bench/kernels.ts --backend webgpu
step bench-train-large 60 "$bin/tsx" scripts/bench/train-step.ts --backend webgpu --workers 1 --torch-device cuda \
  --python "$py" --d 512 --layers 8 --heads 8 --ctx 512 --vocab 128 --steps 10 --warmup 2
step bench-train-tiny 35 "$bin/tsx" scripts/bench/train-step.ts --backend webgpu --workers 1 --torch-device cuda \
  --python "$py" --steps 30 --warmup 3
if [ -n "$grpo" ]; then
  step grpo 45 node bin/selfcest.mjs train --config "$grpo" --backend webgpu --set train.steps=3 --set train.logEvery=1 \
    --set train.saveEvery=3 --out "$out/grpo-run" --overwrite
fi
step bench-rollout 60 "$bin/tsx" scripts/bench/rollout.ts --backend webgpu --threads 1
