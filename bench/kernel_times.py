#!/usr/bin/env python3
"""Kernel times of one CUDA-graph replay of a ragged plan, from Nsight Compute.

Reads the CSV that bench/kernel-times.sh has `ncu --csv --metrics gpu__time_duration.sum`
write for a `ragged bench` run of two or more iterations, finds the last replay (the
shortest tail of kernel names that repeats just before itself) and prints its kernels
grouped by kind: count, mean and total time. ncu runs every kernel alone, so each time
includes the kernel's own ramp-up and drain but none of its neighbours' overlap; the
sum over a replay is therefore more than the replay's real time, and at small shapes
the difference is what launching kernels one after another costs.

Usage: kernel_times.py NCU.csv
"""
import collections
import csv
import sys

KINDS = (("rg_gemm", "GEMM (ragged wgmma)"), ("attention", "attention"), ("gelu", "bias+GELU pass"),
         ("gather", "gather"), ("cast", "cast"), ("copy", "data movement"), ("rg_", "generated (LayerNorm, adds)"))


def kind(name):
    low = name.lower()
    for key, label in KINDS:
        if key in low:
            return label
    return "GEMM (cuBLASLt)"


def main(path):
    lines = open(path).read().splitlines()
    header = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
    if header is None:
        sys.exit(f"{path}: no ncu CSV header")
    rows = [r for r in csv.DictReader(lines[header:]) if r.get("Metric Name") == "gpu__time_duration.sum"]
    names = [r["Kernel Name"] for r in rows]
    ns = [float(r["Metric Value"].replace(",", "")) for r in rows]  # --print-units base: ns
    k = next((k for k in range(8, len(names) // 2 + 1) if names[-k:] == names[-2 * k:-k]), None)
    if not k:
        sys.exit(f"{path}: no repeating replay among {len(names)} kernels (run two or more iterations)")
    total, count = collections.defaultdict(float), collections.Counter()
    for name, t in zip(names[-k:], ns[-k:]):
        total[kind(name)] += t
        count[kind(name)] += 1
    print(f"{k} kernels in a replay, {sum(ns[-k:]) / 1e3:.1f} us of kernel time (each run alone)")
    for label, t in sorted(total.items(), key=lambda x: -x[1]):
        print(f"  {label:30s} {count[label]:4d} x {t / count[label] / 1e3:6.2f} us = {t / 1e3:7.1f} us")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
