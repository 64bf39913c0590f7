#!/usr/bin/env bash
# One prepared speed run that measures every open speed target of issues 13 and 14 at once, on the device
# machine (an NVIDIA H200) or, with KIT=local, on this machine's lavapipe with the demo models (to test the
# run itself: its figures say nothing about a real GPU). It extends ../shared/device/run-h200.sh (the kit:
# its README says how the files in .device-kit/ and .gl/ are made; `scripts/device/prepare` makes them
# with this script in place of the kit's):
# - the kit's 125M set, and the 1B set of its README (llama, Mamba, RWKV-7), all Q4_0;
# - `archrace bench` at context 512 (matvec at 4096 x 4096, models: decode, and a prefill of 512 tokens,
#   each with a per-kernel profile), and a 16384 x 8192 matvec bench;
# - `archrace race` at 512, 4096 and 16384 (prefill from empty, then decode);
# - `llama-bench` pp512 at depth 0, tg64 at depth 512 and 16384 (4096 for Mamba 1B, whose llama.cpp
#   prefill of 16K would take minutes);
# - `archrace compare` over all of it: report.md and report.json, the targets met, missed, not measured,
#   and where each model's GPU time goes (bench's profiles);
# - as the budget allows, `archrace bench --matmul-tiles`: each model's prefill with each matmul tile,
#   appended to report.md.
# Every step has a timeout, and steps are skipped once BUDGET seconds have passed, so the report always
# comes back. Writes into $OUT (default bench-out/).
set -u
OUT="${OUT:-bench-out}"; mkdir -p "$OUT"
KIT="${KIT:-h200}"
BUDGET="${BUDGET:-420}"
T0=$(date +%s)
log() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/log.txt"; }
# step LABEL SECONDS OUTFILE CMD...: runs CMD with a timeout, its stdout appended to OUTFILE, unless the
# budget is spent.
step() {
  local label=$1 limit=$2 out=$3; shift 3
  local left=$(( BUDGET - ($(date +%s) - T0) ))
  if (( left < 10 )); then log "skipped (budget spent): $label"; return; fi
  (( limit > left )) && limit=$left
  timeout "$limit" "$@" >> "$out" 2>>"$OUT/log.txt"
  log "$label: rc=$?"
}
K=.device-kit
if [ "$KIT" = h200 ]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
  ls /etc/vulkan/icd.d /usr/share/vulkan/icd.d 2>/dev/null | grep -qi nvidia ||
    export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export XDG_RUNTIME_DIR=/tmp
  xz -dkf "$K/archrace.xz" "$K/llama-bench.xz" && chmod +x "$K/archrace" "$K/llama-bench"
  A="$K/archrace"; LB="$K/llama-bench"
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$K"/gguf-*.whl >/dev/null 2>&1
  export PYTHONPATH=/tmp/site VOCAB_PAD=31738
  M=/tmp/m; mkdir -p $M
  gen() { python3 "$K/make_bench_gguf.py" "$@" >/dev/null; }
  # The 125M-class set (vocabulary 32000), as the kit makes it.
  gen llama $M/llama-q4_0.gguf --qtype Q4_0 --seed 1 --set E=768 --set L=12 --set n_head=12 --set n_head_kv=4 --set n_ff=2048 &
  gen mamba $M/mamba-q4_0.gguf --qtype Q4_0 --seed 2 --set E=768 --set L=20 --set dt_rank=48 &
  gen rwkv7 $M/rwkv7-q4_0.gguf --qtype Q4_0 --seed 3 --set E=768 --set L=12 --set n_ff=2688 --set r_decay=64 --set r_iclr=64 --set r_vres=32 --set r_gate=128 &
  gen jamba $M/jamba-q4_0.gguf --qtype Q4_0 --seed 4 --set E=768 --set L=8 --set attn_layers=4 --set moe_layers=1,3,5,7 --set n_expert=16 --set n_ff=1536 --set dt_rank=48 --set n_head=12 --set n_head_kv=4 &
  # The ~1B-class set (the kit README's shapes; Llama-3.2-1B's heads and FFN, RWKV-7 1.5B's LoRA ranks).
  gen llama $M/llama1b-q4_0.gguf --qtype Q4_0 --seed 5 --set E=2048 --set L=16 --set n_head=32 --set n_head_kv=8 --set n_ff=8192 &
  gen mamba $M/mamba1b-q4_0.gguf --qtype Q4_0 --seed 6 --set E=2048 --set L=32 --set dt_rank=128 &
  gen rwkv7 $M/rwkv71b-q4_0.gguf --qtype Q4_0 --seed 7 --set E=2048 --set L=20 --set n_ff=8192 --set r_decay=96 --set r_iclr=96 --set r_vres=64 --set r_gate=256 &
  "$A" device >> "$OUT/log.txt" 2>&1
  wait; log "models generated"
  SMALL="$M/llama-q4_0.gguf $M/mamba-q4_0.gguf $M/rwkv7-q4_0.gguf $M/jamba-q4_0.gguf"
  BIG="$M/llama1b-q4_0.gguf $M/rwkv71b-q4_0.gguf"; BIG_FLAT="$M/mamba1b-q4_0.gguf"
  SHAPE=(--rows 4096 --cols 4096 --reps 20); BIG_SHAPE=(--rows 16384 --cols 8192 --reps 20)
  CTX=512; LONG=16384; MID=4096; PP=512; TG=64; STEPS=32
else
  # KIT=local: the demo models on lavapipe, every size cut down.
  export NODEVICE_SELECT=1 GGML_VK_VISIBLE_DEVICES=0
  A="${ARCHRACE:-target/release/archrace}"; LB="${LLAMA_BENCH:-/tmp/archrace-kit/llama-bench}"
  if [ ! -x "$LB" ]; then
    mkdir -p "$(dirname "$LB")" && xz -dc ../shared/device/llama-bench.xz > "$LB" && chmod +x "$LB"
  fi
  D=public/models
  SMALL="$D/llama-q4_0.gguf $D/mamba-q4_0.gguf $D/rwkv7-q4_0.gguf $D/jamba-q4_0.gguf"
  BIG=""; BIG_FLAT=""
  SHAPE=(--rows 512 --cols 512 --reps 3); BIG_SHAPE=(--rows 1024 --cols 512 --reps 3)
  CTX=128; LONG=512; MID=256; PP=128; TG=16; STEPS=32 # fewer decode steps make race against bench noise
fi
# Warm up the GPU's clocks before anything is timed (the kit README: they ramp under load).
step "warm-up" 90 /dev/null "$A" bench "${BIG_SHAPE[@]}"
step "bench" 180 "$OUT/bench.json" "$A" bench $SMALL $BIG $BIG_FLAT "${SHAPE[@]}" --steps $STEPS --context $CTX --prefill $PP --json
step "bench big" 120 "$OUT/bench_big.json" "$A" bench "${BIG_SHAPE[@]}" --json
step "race" 120 "$OUT/race.json" "$A" race $SMALL --context $CTX,$MID,$LONG --new-tokens $STEPS --json
[ -n "$BIG" ] && step "race 1b" 90 "$OUT/race_1b.json" "$A" race $BIG $BIG_FLAT --context $CTX,$MID,$LONG --new-tokens $STEPS --json
for m in $SMALL $BIG; do
  step "llama-bench pp $(basename "$m")" 60 "$OUT/llama_bench.jsonl" "$LB" -m "$m" -ngl 99 -p $PP -n 0 -d 0 -r 2 -o jsonl
  step "llama-bench tg $(basename "$m")" 90 "$OUT/llama_bench.jsonl" "$LB" -m "$m" -ngl 99 -p 0 -n $TG -d $CTX,$LONG -r 2 -o jsonl
done
for m in $BIG_FLAT; do
  step "llama-bench pp $(basename "$m")" 60 "$OUT/llama_bench.jsonl" "$LB" -m "$m" -ngl 99 -p $PP -n 0 -d 0 -r 2 -o jsonl
  step "llama-bench tg $(basename "$m")" 60 "$OUT/llama_bench.jsonl" "$LB" -m "$m" -ngl 99 -p 0 -n $TG -d $CTX,$MID -r 2 -o jsonl
done
# Last, as the budget allows: each model's prefill on a device compiled for each matmul tile the kernel
# takes (`bench --matmul-tiles`), for choosing a GPU's tile from figures; not a target, so not compared.
step "bench matmul tiles" 90 "$OUT/bench_tiles.txt" "$A" bench $SMALL $BIG --rows 256 --cols 256 --reps 1 --steps 1 --prefill $PP --matmul-tiles
files=$(ls "$OUT"/bench.json "$OUT"/bench_big.json "$OUT"/race*.json "$OUT"/llama_bench.jsonl 2>/dev/null | while read -r f; do [ -s "$f" ] && echo "$f"; done)
"$A" compare $files > "$OUT/report.md" 2>>"$OUT/log.txt"; log "compare rc=$? (1: a target missed)"
"$A" compare --json $files > "$OUT/report.json" 2>>"$OUT/log.txt"
if [ -s "$OUT/bench_tiles.txt" ]; then
  { printf '\n## prefill tokens/s by matmul tile (bench --matmul-tiles)\n\n```\n'
    grep -E 'ms/token|by matmul tile' "$OUT/bench_tiles.txt" | sed -E 's/: ([0-9.]+ ms\/token).*/: \1/'
    printf '```\n'; } >> "$OUT/report.md"
fi
cat "$OUT/report.md"
log done
