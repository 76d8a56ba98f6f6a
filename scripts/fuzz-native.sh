#!/usr/bin/env bash
# Builds the fuzz target of the addon's per-byte kernels (src/native/fuzz)
# with AddressSanitizer and UBSan, and runs it for a bounded time.
#
#   scripts/fuzz-native.sh [SECONDS] [SEED]
#
# With FUZZ_ENGINE=libfuzzer and clang++ installed (Debian: clang,
# libclang-rt-14-dev), it builds a coverage-guided libFuzzer binary instead of
# the structure-aware driver. Any sanitizer report fails the run (exit != 0).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
seed=${2:-$RANDOM}
out=build/fuzz
mkdir -p "$out"
sources=(src/native/fuzz/kernels_fuzz.cc src/native/tso.cc src/native/coalesce.cc src/native/frame.cc src/native/batch_io.cc)
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ "${FUZZ_ENGINE:-driver}" = libfuzzer ]; then
  clang++ "${flags[@]}" -fsanitize=fuzzer "${sources[@]}" -o "$out/kernels_libfuzzer"
  exec "$out/kernels_libfuzzer" -max_total_time="$seconds" -seed="$seed"
fi
g++ "${flags[@]}" -DVTEP_FUZZ_DRIVER "${sources[@]}" -o "$out/kernels_fuzz"
exec "$out/kernels_fuzz" "$seconds" "$seed"
