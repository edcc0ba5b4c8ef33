#!/usr/bin/env bash
# Peers: adallava next to llama.cpp (llama-bench) and a numpy/OpenBLAS floor, on LLaMA-7B block
# shapes, the same prompt length and the same thread counts, measured in one run.
#
#   scripts/peers/run_peers.sh            # everything: build, models, llama-bench, numpy, adallava, report
#   scripts/peers/run_peers.sh STAGE...   # some of: deps build models llama numpy adallava report rounds clean
#   scripts/peers/run_peers.sh rounds     # llama-bench and adallava alternately, PEERS_ROUNDS times,
#                                         # then each ratio's median and range over the rounds
#
# Everything heavy lives in $PEERS_WORK (default /tmp/peers-work), never in the repository.
# See scripts/peers/README.md for knobs, time and disk.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

WORK="${PEERS_WORK:-/tmp/peers-work}"
THREADS="${PEERS_THREADS:-1,2}"          # comma-separated, same list for every engine
PP="${PEERS_PP:-600}"                     # prompt tokens (prefill)
TG="${PEERS_TG:-32}"                      # generated tokens (decode)
REPS="${PEERS_REPS:-3}"                   # timed repetitions
ROUNDS="${PEERS_ROUNDS:-3}"               # alternating llama-bench / adallava rounds (rounds stage)
INTERLEAVE="${PEERS_INTERLEAVE:-engine}"  # rounds stage: engine (each engine's whole run) | cell (per dtype × threads)
LAYERS="${PEERS_LAYERS:-4}"               # decoder blocks in the random GGUFs
DTYPES="${PEERS_DTYPES:-f32,bf16}"        # GGUF weight types for llama.cpp
CLEAN="${PEERS_CLEAN:-models}"            # after the report: models | all | none
LCP_VERSION="${LLAMA_CPP_PYTHON_VERSION:-}"  # pin the llama-cpp-python sdist (empty: newest)
PYTHON="${PYTHON:-python3}"

SRC_DIR="$WORK/src"
BUILD_DIR="$WORK/llama-build"
MODEL_DIR="$WORK/models"
RES_DIR="$WORK/results"
LOG_DIR="$WORK/logs"
BENCH_BIN="$BUILD_DIR/bin/llama-bench"
CMAKE_FLAGS=(-DGGML_NATIVE=ON -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
             -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
             -DLLAMA_BUILD_SERVER=OFF)

mkdir -p "$WORK" "$RES_DIR" "$LOG_DIR"
T_START=$(date +%s)
say() { printf '[peers %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
stage_time() {  # keeps the latest time of each stage
    local f="$RES_DIR/stage_seconds.txt"
    { grep -v "^$1 " "$f" 2>/dev/null || true; printf '%s %s\n' "$1" "$2"; } > "$f.new" && mv "$f.new" "$f"
}
timed() {  # timed NAME fn: run a stage and record its wall time
    local name="$1"; shift
    local t0; t0=$(date +%s)
    "$@"
    stage_time "$name" $(( $(date +%s) - t0 ))
}

# ---------------------------------------------------------------- deps
stage_deps() {
    if ! command -v cmake >/dev/null 2>&1; then
        say "installing cmake (apt-get)"
        apt-get update -qq && apt-get install -y -qq cmake >/dev/null
    fi
    command -v c++ >/dev/null 2>&1 || { say "installing g++"; apt-get install -y -qq g++ >/dev/null; }
    "$PYTHON" -c 'import numpy' 2>/dev/null || { say "installing numpy"; "$PYTHON" -m pip install -q numpy; }
    "$PYTHON" -c 'import gguf' 2>/dev/null || { say "installing gguf (PyPI)"; "$PYTHON" -m pip install -q gguf; }
    # Only to report which OpenBLAS kernel numpy runs; optional.
    "$PYTHON" -c 'import threadpoolctl' 2>/dev/null || "$PYTHON" -m pip install -q threadpoolctl >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- build
llama_src() {  # prints the vendored llama.cpp dir, fetching the sdist if needed
    local d
    d=$(ls -d "$SRC_DIR"/llama_cpp_python-*/vendor/llama.cpp 2>/dev/null | sort -V | tail -1 || true)
    if [[ -n "$LCP_VERSION" ]]; then
        d=$(ls -d "$SRC_DIR/llama_cpp_python-$LCP_VERSION/vendor/llama.cpp" 2>/dev/null || true)
    fi
    if [[ -z "$d" ]]; then
        mkdir -p "$SRC_DIR/sdist"
        local spec="llama-cpp-python${LCP_VERSION:+==$LCP_VERSION}"
        say "downloading the $spec sdist (vendors llama.cpp) from PyPI"
        # --no-binary only for this package: with ':all:' pip would also compile its build
        # dependencies (cmake, ninja, scikit-build-core) from source just to read metadata.
        "$PYTHON" -m pip download -q --no-deps --no-binary llama-cpp-python "$spec" -d "$SRC_DIR/sdist" >&2
        local tarball
        tarball=$(ls "$SRC_DIR"/sdist/llama_cpp_python-*.tar.gz | sort -V | tail -1)
        tar xzf "$tarball" -C "$SRC_DIR"
        d=$(ls -d "$SRC_DIR"/llama_cpp_python-*/vendor/llama.cpp | sort -V | tail -1)
    fi
    [[ -f "$d/CMakeLists.txt" ]] || { say "no vendored llama.cpp in $d"; exit 1; }
    echo "$d"
}

llama_version() {  # llama-cpp-python version, upstream commit from its changelog, ggml version
    local src="$1" lcp_dir lcp commit ggml
    lcp_dir=$(cd "$src/../.." && pwd)
    lcp=$(basename "$lcp_dir"); lcp=${lcp#llama_cpp_python-}
    # The sdist carries the submodule's git data: use it when git can read it, else the changelog.
    commit=$(git -C "$src" log -1 --format='%H, committed %cs' 2>/dev/null || true)
    [[ -n "$commit" ]] || commit=$(grep -m1 -oE 'llama\.cpp@[0-9a-f]{7,40}' "$lcp_dir/CHANGELOG.md" 2>/dev/null | cut -d@ -f2 || true)
    ggml=$(awk '/set\(GGML_VERSION_(MAJOR|MINOR|PATCH)/{gsub(/\)/,"",$2); v=v (v==""?"":".") $2} END{print v}' \
           "$src/ggml/CMakeLists.txt" 2>/dev/null || true)
    local lv
    lv=$(grep -m1 -oE 'llama\.cpp version: [^ ]+' "$LOG_DIR/cmake-configure.log" 2>/dev/null | cut -d' ' -f3 || true)
    printf 'llama-cpp-python %s (vendored llama.cpp %s%s, ggml %s)' "$lcp" "${lv:+$lv at }" "${commit:-unknown commit}" "${ggml:-?}"
}

stage_build() {
    local src stamp want
    src=$(llama_src)
    want="$src | ${CMAKE_FLAGS[*]} | $(c++ --version | head -1)"
    stamp="$BUILD_DIR/.peers-stamp"
    if [[ -x "$BENCH_BIN" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        say "llama-bench cached: $BENCH_BIN"
    else
        say "building llama-bench from $src (log: $LOG_DIR/build.log); ~10 min on 2 cores"
        cmake -S "$src" -B "$BUILD_DIR" "${CMAKE_FLAGS[@]}" > "$LOG_DIR/cmake-configure.log" 2>&1 \
            || { tail -30 "$LOG_DIR/cmake-configure.log" >&2; exit 1; }
        cmake --build "$BUILD_DIR" --target llama-bench -j2 > "$LOG_DIR/build.log" 2>&1 \
            || { tail -40 "$LOG_DIR/build.log" >&2; exit 1; }
        echo "$want" > "$stamp"
    fi
    llama_version "$src" > "$RES_DIR/llama_version.txt"
    simd_report > "$RES_DIR/llama_simd.txt"
    say "$(cat "$RES_DIR/llama_version.txt")"
    say "$(head -3 "$RES_DIR/llama_simd.txt" | tr '\n' ' ')"
}

simd_report() {
    # What GGML_NATIVE chose: -march=native as the compiler resolves it on this CPU, the ggml-cpu
    # compile flags, and a count of vector instructions in the binary (zmm = AVX-512).
    local defs flags zmm ymm fma
    defs=$(c++ -march=native -dM -E -x c++ /dev/null 2>/dev/null \
        | grep -oE '__(AVX|AVX2|FMA|F16C|AVX512F|AVX512BF16|AVXVNNI|AVX512VNNI|BMI2)__' | sort -u | tr -d '_' | tr '\n' ' ')
    echo "march=native enables: ${defs:-?}"
    flags=$(grep -m1 -oE '"command": "[^"]*ggml-cpu/ggml-cpu\.c[^"]*"' "$BUILD_DIR/compile_commands.json" 2>/dev/null \
        | grep -oE ' -(march|mtune|mavx|mfma|mf16c)[^ ]*' | sort -u | tr -d '\n' || true)
    echo "ggml-cpu compile flags:${flags:- ?}"
    if command -v objdump >/dev/null 2>&1 && [[ -x "$BENCH_BIN" ]]; then
        objdump -d --no-show-raw-insn "$BENCH_BIN" > "$WORK/.objdump.txt" 2>/dev/null || true
        zmm=$(grep -c '%zmm' "$WORK/.objdump.txt" || true)
        ymm=$(grep -c '%ymm' "$WORK/.objdump.txt" || true)
        fma=$(grep -cE 'vfmadd|vfnmadd' "$WORK/.objdump.txt" || true)
        rm -f "$WORK/.objdump.txt"
        echo "llama-bench instructions: ymm ${ymm} (AVX/AVX2), vfmadd* ${fma} (FMA), zmm ${zmm} (AVX-512)"
    fi
}

# ---------------------------------------------------------------- models
model_path() { echo "$MODEL_DIR/rand-7b-${LAYERS}l-$1.gguf"; }

stage_models() {
    mkdir -p "$MODEL_DIR"
    local dt need
    IFS=, read -ra dts <<< "$DTYPES"
    need=0
    for dt in "${dts[@]}"; do [[ -f "$(model_path "$dt")" ]] || need=$(( need + 1 )); done
    if (( need > 0 )); then
        local free_gb
        free_gb=$(df -BG --output=avail "$WORK" | tail -1 | tr -dc 0-9)
        # F32: 0.75 GiB per 7B-shaped block + 0.98 GiB of embeddings and lm_head; BF16: half.
        say "free disk in $WORK: ${free_gb} GiB (F32 model $(awk -v l="$LAYERS" 'BEGIN{printf "%.1f", 0.754*l+0.98}') GiB, BF16 half that)"
    fi
    for dt in "${dts[@]}"; do
        local out; out=$(model_path "$dt")
        if [[ -f "$out" ]]; then say "model cached: $out"; continue; fi
        say "writing $out (random weights, $LAYERS layers of LLaMA-7B shape)"
        "$PYTHON" "$HERE/make_gguf.py" --out "$out" --dtype "$dt" --layers "$LAYERS" >&2
    done
}

# ---------------------------------------------------------------- llama-bench
stage_llama() {
    [[ -x "$BENCH_BIN" ]] || { say "no $BENCH_BIN: run the build stage"; exit 1; }
    local dt
    IFS=, read -ra dts <<< "$DTYPES"
    for dt in "${dts[@]}"; do
        local m; m=$(model_path "$dt")
        [[ -f "$m" ]] || { say "no model $m: run the models stage"; exit 1; }
        say "llama-bench $dt: -p $PP -n $TG -t $THREADS -r $REPS"
        "$BENCH_BIN" -m "$m" -p "$PP" -n "$TG" -t "$THREADS" -r "$REPS" -o json \
            > "$RES_DIR/llama-$dt.json" 2> "$LOG_DIR/llama-bench-$dt.log" \
            || { tail -30 "$LOG_DIR/llama-bench-$dt.log" >&2; exit 1; }
    done
}

# ---------------------------------------------------------------- numpy floor
stage_numpy() {
    local t
    IFS=, read -ra ts <<< "$THREADS"
    for t in "${ts[@]}"; do
        say "numpy floor: one 7B block, $PP tokens and one decode step at context $PP, $t thread(s)"
        # Thread count through the environment so every BLAS build honours it. OPENBLAS_CORETYPE
        # and OPENBLAS_L2_SIZE are left as the machine has them (see the README).
        OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" MKL_NUM_THREADS="$t" \
            "$PYTHON" "$HERE/numpy_block.py" --tokens "$PP" --threads "$t" --reps "$REPS" \
            > "$RES_DIR/numpy-t$t.json"
    done
}

# ---------------------------------------------------------------- adallava
stage_adallava() {
    # ADALLAVA_CMD: the command that runs the adallava CLI. Default builds and runs the release
    # binary through SwiftPM; set ADALLAVA_CMD="$REPO/.build/release/adallava" to use a built one
    # as it is, or ADALLAVA_CMD=skip to leave adallava out.
    local cmd="${ADALLAVA_CMD:-swift run -c release --package-path $REPO adallava}"
    rm -f "$RES_DIR"/adallava*.json "$RES_DIR/adallava-status.txt"
    if [[ "$cmd" == skip ]]; then
        echo "adallava skipped (ADALLAVA_CMD=skip)" > "$RES_DIR/adallava-status.txt"; return 0
    fi
    local help
    help=$($cmd bench --help 2>"$LOG_DIR/adallava-help.log" || true)
    if ! grep -qE '^[[:space:]]+block([[:space:]]|$)' <<< "$help"; then
        echo "adallava per-block bench not available yet ('$cmd bench --help' lists no 'block' subcommand)" \
            > "$RES_DIR/adallava-status.txt"
        say "$(cat "$RES_DIR/adallava-status.txt")"
        return 0
    fi
    local bhelp
    bhelp=$($cmd bench block --help 2>>"$LOG_DIR/adallava-help.log" || true)
    if grep -q -- '--threads-list' <<< "$bhelp"; then
        # Current interface: every thread count in one run; prefill at $PP tokens and decode at
        # KV length $PP, the same points the numpy floor measures. The vision block is skipped.
        # Decode also at context TG/2: llama-bench's tg runs from an empty cache, so its mean
        # context over the generated tokens is about TG/2 (a like-for-like point for the table).
        local args=(bench block --shape llava-1.5-7b --tokens "$PP" --contexts "$PP,$(( TG / 2 > 0 ? TG / 2 : 1 ))"
                    --threads-list "$THREADS" --repeats "$REPS" --no-vision --json)
        # Every weight format llama.cpp runs that `bench block --dtype` knows (f32 and bf16).
        if grep -q -- '--dtype' <<< "$bhelp"; then
            local dts=() d
            IFS=, read -ra want <<< "$DTYPES"
            for d in "${want[@]}"; do
                case "${d,,}" in f32|bf16|q8_0) dts+=("${d,,}") ;; esac
            done
            (( ${#dts[@]} )) && args+=(--dtype "$(IFS=,; echo "${dts[*]}")")
        fi
        say "adallava ${args[*]}"
        if ! $cmd "${args[@]}" > "$RES_DIR/adallava.json" 2> "$LOG_DIR/adallava.log"; then
            tail -20 "$LOG_DIR/adallava.log" >&2
            echo "adallava bench block failed: see $LOG_DIR/adallava.log" > "$RES_DIR/adallava-status.txt"
            rm -f "$RES_DIR/adallava.json"
        else
            echo "ran '$cmd ${args[*]}'" > "$RES_DIR/adallava-status.txt"
        fi
        return 0
    fi
    local t
    IFS=, read -ra ts <<< "$THREADS"
    for t in "${ts[@]}"; do
        say "adallava bench block: llava-1.5-7b shape, $PP tokens, $t thread(s)"
        if ! $cmd bench block --shape llava-1.5-7b --tokens "$PP" --threads "$t" --json \
                > "$RES_DIR/adallava-t$t.json" 2> "$LOG_DIR/adallava-t$t.log"; then
            tail -20 "$LOG_DIR/adallava-t$t.log" >&2
            echo "adallava bench block failed at $t thread(s): see $LOG_DIR/adallava-t$t.log" \
                > "$RES_DIR/adallava-status.txt"
            rm -f "$RES_DIR/adallava-t$t.json"
        fi
    done
    [[ -f "$RES_DIR/adallava-status.txt" ]] || echo "ran '$cmd bench block --shape llava-1.5-7b --tokens $PP --threads N --json'" > "$RES_DIR/adallava-status.txt"
}

# ---------------------------------------------------------------- rounds
# llama-bench and adallava one after the other, $ROUNDS times: odd rounds llama.cpp first, even
# rounds adallava first. Each round's inputs and report go to $RES_DIR/round-N, then rounds.py
# prints every ratio's median and range over the rounds. Why: this VM's speed drifts by ±15%
# within minutes, and a single llama-bench run followed by a single adallava run puts that
# drift into the ratio (stop 14: f32 2-thread prompt processing 0.90, and 0.98 at the next
# run, with adallava's own rate 270-350 tok/s per block between runs).
#
# PEERS_INTERLEAVE=cell narrows the gap further: within a round each (dtype, threads) cell runs
# llama-bench and adallava back to back (≈ 1 min apart instead of ≈ 3), in the round's order,
# and the cells' outputs are merged into the files one whole run would have written.
stage_rounds() {
    local r dir
    [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { say "PEERS_ROUNDS must be a positive integer (got '$ROUNDS')"; exit 2; }
    [[ "$INTERLEAVE" == engine || "$INTERLEAVE" == cell ]] \
        || { say "PEERS_INTERLEAVE must be engine or cell (got '$INTERLEAVE')"; exit 2; }
    for (( r = 1; r <= ROUNDS; r++ )); do
        say "round $r of $ROUNDS ($( (( r % 2 )) && echo "llama.cpp first" || echo "adallava first"), per $INTERLEAVE)"
        if [[ "$INTERLEAVE" == cell ]]; then
            rounds_by_cell "$r"
        elif (( r % 2 )); then stage_llama; stage_adallava; else stage_adallava; stage_llama; fi
        dir="$RES_DIR/round-$r"
        rm -rf "$dir" && mkdir -p "$dir"
        cp "$RES_DIR"/llama-*.json "$RES_DIR"/adallava*.json "$RES_DIR/adallava-status.txt" "$dir"/
        cp "$RES_DIR/llama_version.txt" "$RES_DIR/llama_simd.txt" "$dir"/ 2>/dev/null || true
        "$PYTHON" "$HERE/report.py" --results "$dir" --layers "$LAYERS" --pp "$PP" --tg "$TG" \
            --threads "$THREADS" --dtypes "$DTYPES" > "$dir/report.md"
    done
    "$PYTHON" "$HERE/rounds.py" --results "$RES_DIR" --rounds "$ROUNDS" \
        --llama-version "$(cat "$RES_DIR/llama_version.txt" 2>/dev/null || echo '?')"
}

# One round of PEERS_INTERLEAVE=cell: each (dtype, threads) pair as its own llama-bench and
# adallava run, then merged: llama-<dtype>.json holds every thread count's results (llama-bench
# writes a JSON list), adallava.json every cell's rows under the first cell's provenance.
rounds_by_cell() {
    local r="$1" dt t cells="$RES_DIR/cells"
    local -a dts ts
    local all_dtypes="$DTYPES" all_threads="$THREADS"
    rm -rf "$cells" && mkdir -p "$cells"
    IFS=, read -ra dts <<< "$all_dtypes"
    IFS=, read -ra ts <<< "$all_threads"
    for dt in "${dts[@]}"; do
        for t in "${ts[@]}"; do
            DTYPES="$dt" THREADS="$t"
            if (( r % 2 )); then stage_llama; stage_adallava; else stage_adallava; stage_llama; fi
            cp "$RES_DIR/llama-$dt.json" "$cells/llama-$dt-t$t.json"
            [[ -f "$RES_DIR/adallava.json" ]] && cp "$RES_DIR/adallava.json" "$cells/adallava-$dt-t$t.json"
            cp "$RES_DIR/adallava-status.txt" "$cells/adallava-status.txt"
        done
    done
    DTYPES="$all_dtypes" THREADS="$all_threads"
    "$PYTHON" - "$cells" "$RES_DIR" <<'PY'
import glob, json, os, sys
cells, out = sys.argv[1], sys.argv[2]
llama = {}
for path in sorted(glob.glob(os.path.join(cells, "llama-*-t*.json"))):
    dtype = os.path.basename(path)[len("llama-"):].rsplit("-t", 1)[0]
    with open(path) as f:
        llama.setdefault(dtype, []).extend(json.load(f))
for dtype, results in llama.items():
    with open(os.path.join(out, f"llama-{dtype}.json"), "w") as f:
        json.dump(results, f, indent=1)
merged = None
for path in sorted(glob.glob(os.path.join(cells, "adallava-*-t*.json"))):
    with open(path) as f:
        run = json.load(f)
    if merged is None:
        merged = run
    else:
        merged["rows"].extend(run["rows"])
if merged is not None:
    with open(os.path.join(out, "adallava.json"), "w") as f:
        json.dump(merged, f, indent=1)
PY
    cp "$cells/adallava-status.txt" "$RES_DIR/adallava-status.txt"
}

# ---------------------------------------------------------------- report / clean
stage_report() {
    "$PYTHON" "$HERE/report.py" --results "$RES_DIR" --layers "$LAYERS" --pp "$PP" --tg "$TG" \
        --threads "$THREADS" --dtypes "$DTYPES" --total-seconds $(( $(date +%s) - T_START ))
}

stage_clean() {
    case "$CLEAN" in
        none) ;;
        models) say "removing the random GGUFs in $MODEL_DIR"; rm -rf "$MODEL_DIR" ;;
        all) say "removing $MODEL_DIR, the llama.cpp source and build"; rm -rf "$MODEL_DIR" "$SRC_DIR" "$BUILD_DIR" ;;
        *) say "PEERS_CLEAN must be models, all or none (got $CLEAN)"; exit 2 ;;
    esac
}

stages=("$@")
if (( ${#stages[@]} == 0 )); then
    stages=(deps build models llama numpy adallava report clean)
    rm -f "$RES_DIR/stage_seconds.txt"
fi
for s in "${stages[@]}"; do
    case "$s" in
        deps|build|models|llama|numpy|adallava|report|rounds|clean) timed "$s" "stage_$s" ;;
        *) echo "unknown stage '$s' (deps build models llama numpy adallava report rounds clean)" >&2; exit 2 ;;
    esac
done
say "done in $(( $(date +%s) - T_START )) s; results in $RES_DIR"
