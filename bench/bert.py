#!/usr/bin/env python3
"""BERT-base: ragged next to PyTorch on the same GPU, shapes and inputs.

Peers, all on BertModel(BertConfig()) with random weights (seed 0, the same
weights export_hf.py exports), inputs of token ids and an all-ones mask:
  eager      PyTorch eager, attn_implementation="sdpa"
  cudagraph  the eager model captured in a CUDA graph and replayed
  compile    torch.compile(mode="reduce-overhead")
ragged is timed by `ragged bench --json` on the plans run-bert.sh compiled
(both exporters; the faster is reported, both are logged), twice: with the
outputs copied to host memory (the default API) and with --device-outputs
(left on the GPU, like the peers'). Where run-bert.sh also compiled an fp16
plan with --approximate-gelu (bert-base_<exporter>.fp16-approx.plan) or with
--custom-gemm (.fp16-custom.plan), each is timed device-out too and gets its
own column. Every time is the median over
CUDA-event-timed runs after warm-up; ragged's includes copying the ids/mask
in. Peak memory: torch.cuda.max_memory_allocated for the peers; for ragged
the weights plus the arena plus cuBLASLt's 32 MiB workspace. Before any
timing, every plan's output is checked against PyTorch fp32 (accuracy()).
Writes bert.json and bert.md under --out.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
import transformers as tf

# Plans compiled with an opt-in flag, found by their name's suffix
# (bert-base_<exporter>.fp16-<suffix>.plan): suffix, flag, key in bert.json.
VARIANTS = (("approx", "--approximate-gelu", "ragged_approximate_gelu"),
            ("custom", "--custom-gemm", "ragged_custom_gemm"))


def median_ms(fn, iters, warmup=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(iters):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def peers(dtype, shapes, iters):
    torch.manual_seed(0)
    cfg = tf.BertConfig()
    cfg._attn_implementation = "sdpa"  # transformers 5 takes it on the config
    model = tf.BertModel(cfg).eval().cuda().to(dtype)
    print(f"  torch attention: {model.config._attn_implementation}", flush=True)
    compiled = torch.compile(model, mode="reduce-overhead")
    results = {}
    for (b, s) in shapes:
        ids = torch.randint(0, 100, (b, s), device="cuda")
        mask = torch.ones(b, s, dtype=torch.int64, device="cuda")
        row = {}
        with torch.no_grad():
            torch.cuda.reset_peak_memory_stats()
            row["eager"] = median_ms(lambda: model(input_ids=ids, attention_mask=mask), iters)
            row["eager_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
            try:
                static_out = None
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    for _ in range(3):
                        model(input_ids=ids, attention_mask=mask)
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    static_out = model(input_ids=ids, attention_mask=mask)
                row["cudagraph"] = median_ms(graph.replay, iters)
                del graph, static_out
            except Exception as e:  # report, do not hide the other peers
                row["cudagraph"] = None
                row["cudagraph_error"] = str(e).splitlines()[0][:200]
            try:
                t0 = time.time()
                compiled(input_ids=ids, attention_mask=mask)
                row["compile_seconds"] = time.time() - t0
                row["compile"] = median_ms(lambda: compiled(input_ids=ids, attention_mask=mask), iters)
            except Exception as e:
                row["compile"] = None
                row["compile_error"] = str(e).splitlines()[0][:200]
        results[f"{b}x{s}"] = row
        print(f"  torch {dtype} {b}x{s}: {row}", flush=True)
    del model, compiled
    torch.cuda.empty_cache()
    return results


def ragged_bench(binary, plan, shapes, iters, device_outputs=False):
    cmd = [binary, "bench", plan, "--shapes", ",".join(f"{b}x{s}" for b, s in shapes), "--iters", str(iters),
           "--device", "cuda", "--json"] + (["--device-outputs"] if device_outputs else ["--breakdown"])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        print(f"  ragged bench {plan} failed: {p.stderr.strip()}", flush=True)
        return None
    data = json.loads(p.stdout)
    rows = {f"{r['batch']}x{r['seq']}": r for r in data["shapes"]}
    # logged as it comes, so a run cut short still shows what was measured
    print(f"  ragged {os.path.basename(plan)}{' device-outputs' if device_outputs else ''}: " +
          ", ".join(f"{k} {r['median_ms']:.3f} ms (arena {r['arena_bytes'] / 2**20:.1f} MiB, gpu used "
                    f"{r.get('gpu_used_bytes', 0) / 2**20:.0f} MiB)" for k, r in rows.items()), flush=True)
    return rows


def accuracy(binary, plan, out_dir, reference, extra=()):
    """ragged's last hidden state (`ragged run` on the GPU) against PyTorch fp32
    on the same weights and inputs: 2 sequences of 384 tokens, the second
    padded after 200 (so multi-tile attention, right padding and a partial key
    tile all run). Relative Frobenius error and largest error over the largest
    value, both over real tokens only."""
    import numpy as np
    ids_path, mask_path = os.path.join(out_dir, "acc_ids.npy"), os.path.join(out_dir, "acc_mask.npy")
    out_path = os.path.join(out_dir, "acc_hidden.npy")
    ids, mask, want = reference
    np.save(ids_path, ids)
    np.save(mask_path, mask)
    p = subprocess.run([binary, "run", plan, "--input", f"ids={ids_path}", "--input", f"mask={mask_path}",
                        "--output", f"hidden={out_path}", "--device", "cuda", *extra], capture_output=True, text=True)
    if p.returncode != 0:
        return f"ragged run failed: {p.stderr.strip()[:300]}"
    got = np.load(out_path).astype(np.float64)
    real = mask.astype(bool)
    diff = got[real] - want[real]
    frob = float(np.linalg.norm(diff) / np.linalg.norm(want[real]))
    maxrel = float(np.abs(diff).max() / np.abs(want[real]).max())
    return f"relative Frobenius {frob:.2e}, max error / max value {maxrel:.2e}"


def reference_outputs():
    """The inputs of accuracy() and PyTorch fp32's last hidden state for them."""
    import numpy as np
    torch.manual_seed(0)
    model = tf.BertModel(tf.BertConfig()).eval().cuda()
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (2, 384), generator=gen)
    mask = torch.ones(2, 384, dtype=torch.int64)
    mask[1, 200:] = 0
    with torch.no_grad():
        want = model(input_ids=ids.cuda(), attention_mask=mask.cuda()).last_hidden_state.double().cpu().numpy()
    del model
    torch.cuda.empty_cache()
    return ids.numpy(), mask.numpy(), want


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ragged", required=True)
    ap.add_argument("--plans", required=True)
    ap.add_argument("--shapes", default="1x16,1x128,1x512,8x128,32x128,64x512")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--out", default="bench-out")
    ap.add_argument("--dtypes", default="fp16,fp32")
    args = ap.parse_args()
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
    os.makedirs(args.out, exist_ok=True)
    report = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "transformers": tf.__version__,
              "dtypes": {}}
    lines = [f"device {report['device']}, torch {torch.__version__}, transformers {tf.__version__}", ""]
    wanted = args.dtypes.split(",")
    # accuracy first: a fast plan that computes the wrong thing is not a result
    reference = reference_outputs()
    lines.append("Accuracy of each plan against PyTorch fp32 (2 x 384 tokens, the second padded after 200; "
                 "bounds: fp16 relative Frobenius <= 1e-2, fp32 max error / max value <= 1e-4):")
    lines.append("")
    for plan in sorted(os.listdir(args.plans)):
        if plan.startswith("bert-base_") and plan.endswith(".plan") and plan.split(".")[1].split("-")[0] in wanted:
            result = accuracy(args.ragged, os.path.join(args.plans, plan), args.out, reference)
            print(f"  accuracy {plan}: {result}", flush=True)
            lines.append(f"- {plan}: {result}")
            if not plan.split(".")[1].startswith("fp32"):
                # the same with every run of nodes as one persistent launch (2 x 384 tokens: 768 rows)
                result = accuracy(args.ragged, os.path.join(args.plans, plan), args.out, reference,
                                  ("--persistent", "on"))
                print(f"  accuracy {plan} --persistent on: {result}", flush=True)
                lines.append(f"- {plan} --persistent on: {result}")
    lines.append("")
    for name, dtype in (("fp16", torch.float16), ("fp32", torch.float32)):
        if name not in wanted:
            continue
        rg, rgd = {}, {}
        variants = {suffix: {} for suffix, _, _ in VARIANTS}  # plans compiled with an opt-in flag
        for exporter in ("classic_o17", "dynamo_o18"):
            plan = os.path.join(args.plans, f"bert-base_{exporter}.{name}.plan")
            if os.path.exists(plan):
                rg[exporter] = ragged_bench(args.ragged, plan, shapes, args.iters)
                rgd[exporter] = ragged_bench(args.ragged, plan, shapes, args.iters, device_outputs=True)
            for suffix, _, _ in VARIANTS:
                other = os.path.join(args.plans, f"bert-base_{exporter}.{name}-{suffix}.plan")
                if os.path.exists(other):
                    variants[suffix][exporter] = ragged_bench(args.ragged, other, shapes, args.iters,
                                                              device_outputs=True)
        variants = {suffix: runs for suffix, runs in variants.items() if runs}
        torch_rows = peers(dtype, shapes, args.iters)
        report["dtypes"][name] = {"ragged": rg, "ragged_device_outputs": rgd, "torch": torch_rows}
        for suffix, flag, key in VARIANTS:
            report["dtypes"][name][key] = variants.get(suffix, {})
        flags = {suffix: flag for suffix, flag, _ in VARIANTS}
        lines.append(f"### {name}")
        lines.append("")
        lines.append("| shape | ragged host-out ms | ragged device-out ms | eager SDPA ms | CUDA graph ms | "
                     "torch.compile ms | best peer / ragged device-out | best peer / ragged host-out "
                     "| ragged MiB (weights+arena+workspace) | arena MiB | eager peak MiB |"
                     + "".join(f" ragged {flags[s]} device-out ms | best peer / it |" for s in variants))
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|" + "---|---|" * len(variants))
        fmt = lambda x: f"{x:.3f}" if x else "-"

        def fastest(runs, key):
            cands = [r[key] for r in runs.values() if r and key in r]
            return min(cands, key=lambda r: r["median_ms"]) if cands else None

        for (b, s) in shapes:
            key = f"{b}x{s}"
            best, bestd = fastest(rg, key), fastest(rgd, key)
            others = [fastest(runs, key) for runs in variants.values()]
            t = torch_rows[key]
            peer_times = [x for x in (t.get("eager"), t.get("cudagraph"), t.get("compile")) if x]
            ratio = lambda r: f"{min(peer_times) / r['median_ms']:.2f}x" if r and peer_times else "-"
            mem = (f"{(best['weights_bytes'] + best['arena_bytes']) / 2**20 + 32:.0f}" if best else "-")
            arena = f"{best['arena_bytes'] / 2**20:.2f}" if best else "-"
            lines.append(f"| {key} | {fmt(best['median_ms']) if best else 'failed'} | "
                         f"{fmt(bestd['median_ms']) if bestd else 'failed'} | {fmt(t.get('eager'))} | "
                         f"{fmt(t.get('cudagraph'))} | {fmt(t.get('compile'))} | {ratio(bestd)} | {ratio(best)} | "
                         f"{mem} | {arena} | {t.get('eager_peak_mib', 0):.0f} |"
                         + "".join(f" {fmt(o['median_ms']) if o else 'failed'} | {ratio(o)} |" for o in others))
        lines.append("")
        lines.append(f"ragged {name} breakdown (medians, ms; the faster export): host prepare / stage / launch / "
                     "wait | device copy in / kernels / copy out")
        lines.append("")
        lines.append("| shape | total | host prepare | host stage | host launch | host wait | copy in | kernels | copy out |")
        lines.append("|---|---|---|---|---|---|---|---|---|")
        for (b, s) in shapes:
            key = f"{b}x{s}"
            cands = [r[key] for r in rg.values() if r and key in r]
            best = min(cands, key=lambda r: r["median_ms"]) if cands else None
            bd = best.get("breakdown_ms") if best else None
            if bd:
                lines.append(f"| {key} | {bd['host_total']:.4f} | {bd['host_prepare']:.4f} | {bd['host_stage']:.4f} | "
                             f"{bd['host_launch']:.4f} | {bd['host_wait']:.4f} | {bd['h2d']:.4f} | "
                             f"{bd['kernels']:.4f} | {bd['d2h']:.4f} |")
        lines.append("")
    with open(os.path.join(args.out, "bert.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(args.out, "bert.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
