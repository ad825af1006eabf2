#!/usr/bin/env bash
# bench/build-gpu.sh — build ragged on the development machine for the GPU machine.
#
# The GPU machine (docs/cuda.md, ../shared/GPU.md) has CUDA 13 but no
# protobuf-c, no Criterion and probably no OpenBLAS, and nothing can be
# installed there. So: protobuf-c is linked statically, OpenBLAS is left out
# (the CPU executor there is only the reference), and Criterion's .so with its
# non-system dependencies is copied into <build>/lib, which every binary finds
# through an rpath relative to itself ($ORIGIN). CUDA itself is not linked at
# all: libcudart and libnvrtc are dlopen'ed there at run time.
#
# Usage: bench/build-gpu.sh [build-dir]   (default build-gpu; run from the repo root)
set -euo pipefail
build=${1:-build-gpu}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Binaries sit in <build>, <build>/tools or <build>/tests/<module>; RPATH (not
# RUNPATH, hence --disable-new-dtags) so Criterion's own dependencies are found too.
rpath='$ORIGIN/lib;$ORIGIN/../lib;$ORIGIN/../../lib;/usr/local/cuda/lib64'
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRG_WERROR=OFF \
    -DRG_STATIC_PROTOBUF_C=ON -DRG_WITH_OPENBLAS=OFF \
    -DCMAKE_BUILD_RPATH="$rpath" -DCMAKE_EXE_LINKER_FLAGS="-Wl,--disable-new-dtags" >/dev/null
ninja -C "$build" -j"${JOBS:-2}"

# Copy every shared library the binaries need except glibc's own and those the
# GPU machine provides (CUDA is dlopen'ed, never linked).
mkdir -p "$build/lib"
system='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libgcc_s|libstdc\+\+|libcuda|libcudart|libnvrtc|libcublas)[.-]'
find "$build" -type f -perm -u+x ! -path "*/CMakeFiles/*" ! -path "$build/lib/*" -print0 |
    xargs -0 file | grep -E 'ELF .*(executable|shared object)' | cut -d: -f1 |
    while read -r bin; do ldd "$bin" 2>/dev/null; done |
    awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
    while read -r name path; do
        # on a rebuild ldd already resolves to the copies in $build/lib
        if ! [[ $name =~ $system ]] && [[ $(realpath "$path") != $(realpath -m "$build/lib/$name") ]]; then
            cp -L "$path" "$build/lib/$name"
        fi
    done

# The build folder travels to the GPU machine whole; it must stay under 64 MiB.
size=$(du -sm "$build" | cut -f1)
echo "build-gpu.sh: $build is ${size} MiB; libraries copied: $(ls "$build/lib" | tr '\n' ' ')"
if [ "$size" -ge 64 ]; then
    echo "build-gpu.sh: $build is over the 64 MiB transfer limit" >&2
    exit 1
fi
