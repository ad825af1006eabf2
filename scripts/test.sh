#!/usr/bin/env bash
# scripts/test.sh — ragged's whole test suite, as CI runs it (.ci/run).
#
#   1. set-up (scripts/setup.sh), real models and ONNX Runtime references
#      (models/fetch.sh, models/reference.py)
#   2. Debug build (-Werror) and ctest: unit tests of every module, the ONNX
#      backend node tests, the whole-model tests
#   3. the same suite as a Release build (-O2 warnings, optimised code), and
#      built with AddressSanitizer + UndefinedBehaviorSanitizer
#   4. every libFuzzer target (clang) for RG_FUZZ_SECONDS each, from a seed
#      corpus
#
# Every stage runs even when an earlier one failed (a stage whose build
# failed counts as one failure), so one run shows everything that is broken.
# The last line is "N passed, M failed, K skipped"; the exit status is
# non-zero when anything failed.
#
# Environment: RG_JOBS (parallel jobs, default: cores), RG_FUZZ_SECONDS
# (default 60), RG_SKIP_RELEASE=1 / RG_SKIP_SANITIZE=1 / RG_SKIP_FUZZ=1 to
# leave a stage out, RG_BUILD_PREFIX (default build-): the build folders are
# <prefix>debug, <prefix>release, <prefix>asan and <prefix>fuzz. docs/testing.md has more.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${RG_JOBS:-$(nproc)}
fuzz_seconds=${RG_FUZZ_SECONDS:-60}
prefix=${RG_BUILD_PREFIX:-build-}
python=${PYTHON:-python3}

passed=0
failed=0
skipped=0
failures=()
timings=()
start_all=$SECONDS
stage_start=$SECONDS

stage() {
  stage_start=$SECONDS
  printf '\n==== %s\n' "$*"
}

stage_done() {
  timings+=("$(printf '%-28s %5ds' "$1" $((SECONDS - stage_start)))")
}

fail() {
  failed=$((failed + 1))
  failures+=("$1")
  echo "test.sh: FAILED: $1" >&2
}

# Configures and builds one tree; returns non-zero (after recording a
# failure) when either step fails. $targets, when set, limits what is built.
build() {
  local dir=$1
  shift
  if ! cmake -S "$root" -B "$dir" -G Ninja -Wno-dev "$@" >"$dir.configure.log" 2>&1; then
    cat "$dir.configure.log"
    fail "configure $dir"
    return 1
  fi
  local what=()
  if [[ -n ${targets:-} ]]; then
    # shellcheck disable=SC2207
    what=($(ninja -C "$dir" -t targets all | sed -nE "s/^(${targets}): phony$/\1/p"))
    if [[ ${#what[@]} == 0 ]]; then
      echo "build $dir: no targets match $targets"
      return 0
    fi
  fi
  if ! ninja -C "$dir" -j "$jobs" "${what[@]}" >"$dir.build.log" 2>&1; then
    grep -E -B2 -A12 'error|FAILED' "$dir.build.log" | head -80 || tail -40 "$dir.build.log"
    fail "build $dir"
    return 1
  fi
  echo "built $dir${what[*]:+ (${what[*]})}"
}

# Runs ctest in a build tree and adds its counts to the totals.
run_ctest() {
  local dir=$1 label=$2 log=$1/ctest.log
  shift 2
  local status=0
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" "$@" 2>&1 | tee "$log" || status=$?
  local summary
  summary=$(grep -E '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -1 || true)
  if [[ -z $summary ]]; then
    fail "$label: ctest ran no test (status $status)"
    return
  fi
  local total nfail nskip
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$summary")
  nfail=$(sed -E 's/.* ([0-9]+) tests? failed.*/\1/' <<<"$summary")
  nskip=$(grep -cE '^\s*[0-9]+ - .*\(Skipped\)' "$log" || true)
  passed=$((passed + total - nfail - nskip))
  skipped=$((skipped + nskip))
  failed=$((failed + nfail))
  if [[ $nfail != 0 || $status != 0 ]]; then
    failures+=("$label: $nfail of $total ctest tests failed")
    [[ $nfail != 0 ]] || fail "$label: ctest exited $status"
  fi
}

# What the node tests and the model tests measured, from their reports.
figures() {
  local dir=$1
  if [[ -f $dir/node_tests.txt ]]; then
    grep -E '^(node tests:|failed [0-9]+, expected|not applicable by)' "$dir/node_tests.txt" || true
    grep -E '^(FAIL|XPASS|XFAIL)' "$dir/node_tests.txt" || true
  fi
  local report
  for report in "$dir"/models_report_*.txt; do
    [[ -f $report ]] || continue
    # The worst relative error per output over all cases.
    awk '$(NF) == "ok" || $(NF) == "FAIL" {
           key = $1 " " $3
           if (!(key in rel) || $(NF-1) + 0 > rel[key] + 0) rel[key] = $(NF-1)
           if (!(key in abs) || $(NF-3) + 0 > abs[key] + 0) abs[key] = $(NF-3)
         }
         / cases, / { print }
         END { for (k in rel) printf "  %-42s worst over cases: max_abs %s max_rel %s\n", k, abs[k], rel[k] }' "$report" | sort
  done
}

# ---------------------------------------------------------------- set-up
stage "set-up"
bash scripts/setup.sh
stage_done "set-up"

stage "models and references"
if bash models/fetch.sh && "$python" models/reference.py; then
  :
else
  fail "fetching models or writing references"
fi
stage_done "models and references"

# ---------------------------------------------------------------- Debug
stage "Debug build and tests (${prefix}debug)"
if build "${prefix}debug" -DCMAKE_BUILD_TYPE=Debug -DRG_WERROR=ON; then
  run_ctest "${prefix}debug" "Debug"
  figures "${prefix}debug"
fi
stage_done "Debug build + ctest"

# ---------------------------------------------------------------- Release
# Optimised builds warn about what -O0 cannot see (maybe-uninitialized), and
# optimised code is what users run: build with -Werror and run the suite.
if [[ ${RG_SKIP_RELEASE:-0} != 1 ]]; then
  stage "Release build and tests (${prefix}release)"
  if build "${prefix}release" -DCMAKE_BUILD_TYPE=Release -DRG_WERROR=ON; then
    run_ctest "${prefix}release" "Release"
    figures "${prefix}release" | grep -E '^node tests:' || true
  fi
  stage_done "Release build + ctest"
fi

# ---------------------------------------------------------------- sanitizers
if [[ ${RG_SKIP_SANITIZE:-0} != 1 ]]; then
  stage "ASan + UBSan build and tests (${prefix}asan)"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  if build "${prefix}asan" -DCMAKE_BUILD_TYPE=Debug -DRG_WERROR=ON -DRG_SANITIZE=ON; then
    run_ctest "${prefix}asan" "ASan+UBSan"
    figures "${prefix}asan" | grep -E '^node tests:' || true
  fi
  stage_done "sanitizer build + ctest"
fi

# ---------------------------------------------------------------- fuzzing
# Seeds for a target: tests/fuzz/corpus/<target>/ when it exists, plus inputs
# of the kind the target reads, picked by its name.
fuzz_seeds() {
  local name=$1 seeds=$2
  mkdir -p "$seeds"
  if [[ -d tests/fuzz/corpus/$name ]]; then cp -r tests/fuzz/corpus/"$name"/. "$seeds"/; fi
  local i=0 f
  case $name in
    *onnx*)
      cp tests/frontend/data/*.onnx "$seeds"/ 2>/dev/null || true
      for f in "${prefix}debug"/onnx-node-tests/test_*/model.onnx; do
        [[ -f $f ]] || continue
        cp "$f" "$seeds/node_$i.onnx"
        i=$((i + 1))
        [[ $i -lt 200 ]] || break
      done
      ;;
    *plan*)
      if [[ -x ${prefix}debug/ragged ]]; then
        for f in "${prefix}debug"/onnx-node-tests/test_{add,matmul_2d,softmax_axis_1,layer_normalization_2d_axis1,gather_0,reshape_reordered_all_dims,transpose_default,where_example}/model.onnx; do
          [[ -f $f ]] || continue
          "${prefix}debug/ragged" compile "$f" -o "$seeds/seed_$i.plan" >/dev/null 2>&1 || true
          i=$((i + 1))
        done
      fi
      ;;
    *npy*)
      cp models/cache/*/ref/b2_s16/*.npy "$seeds"/ 2>/dev/null || true
      ;;
    *tensor* | *pb*)
      for f in "${prefix}debug"/onnx-node-tests/test_*/test_data_set_0/input_0.pb; do
        [[ -f $f ]] || continue
        cp "$f" "$seeds/t_$i.pb"
        i=$((i + 1))
        [[ $i -lt 200 ]] || break
      done
      ;;
  esac
}

if [[ ${RG_SKIP_FUZZ:-0} != 1 ]]; then
  stage "fuzz targets, ${fuzz_seconds}s each (${prefix}fuzz)"
  if targets='fuzz_[A-Za-z0-9_]+' build "${prefix}fuzz" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
    -DRG_FUZZ=ON -DRG_WERROR=ON; then
    ntargets=0
    for bin in "${prefix}fuzz"/tests/fuzz/fuzz_*; do
      [[ -x $bin && -f $bin ]] || continue
      name=$(basename "$bin")
      ntargets=$((ntargets + 1))
      corpus=${prefix}fuzz/corpus/$name
      seeds=${prefix}fuzz/seeds/$name
      artifacts=${prefix}fuzz/artifacts/$name/
      rm -rf "$seeds"
      mkdir -p "$corpus" "$artifacts"
      fuzz_seeds "$name" "$seeds"
      echo "fuzz: $name ($(find "$seeds" -type f | wc -l) seeds, ${fuzz_seconds}s)"
      if "$bin" -max_total_time="$fuzz_seconds" -timeout=20 -rss_limit_mb=4096 -max_len=1048576 \
        -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" "$seeds" >"${prefix}fuzz/$name.log" 2>&1; then
        passed=$((passed + 1))
        grep -E 'stat::number_of_executed_units|stat::new_units_added' "${prefix}fuzz/$name.log" | tr '\n' ' '
        echo
      else
        tail -60 "${prefix}fuzz/$name.log"
        fail "fuzz target $name (crash input under $artifacts)"
      fi
    done
    if [[ $ntargets == 0 ]]; then echo "fuzz: no fuzz targets were built"; fi
  fi
  stage_done "fuzz build + runs"
fi

# ---------------------------------------------------------------- summary
printf '\n==== summary\n'
printf '%s\n' "${timings[@]}"
printf '%-28s %5ds\n' "total" $((SECONDS - start_all))
if [[ ${#failures[@]} -gt 0 ]]; then
  printf 'failed: %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed == 0 ]]
