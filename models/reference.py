#!/usr/bin/env python3
"""models/reference.py — reference outputs from ONNX Runtime for the
whole-model tests (tests/models/).

For every model fetched by models/fetch.sh and every (batch, seq) case below,
this writes deterministic inputs and ONNX Runtime's outputs (CPU execution
provider, graph optimizations off so the reference is the plain graph) as .npy
files into models/cache/<model>/ref/b{B}_s{S}/:

  <input>.npy        every graph input, by sanitized name
  <output>.npy       every graph output, by sanitized name
  manifest.json      case, ORT version, and name -> file, dtype, shape
  manifest.txt       the same, one "input|output NAME FILE" per line, for C

Names are sanitized to [A-Za-z0-9_.-] (any other byte becomes '_'), so
"onnx::Shape_422" is stored as onnx__Shape_422.npy.

Inputs: token ids are random in [1, vocab) with [CLS]=101 first and [SEP]=102
last, from a seed derived from (B, S) only, so every run writes the same
bytes. Sequence b of a padded case has a shorter real length; padded positions
have id 0 and mask 0. token_type_ids, when the model has it, are zeros.

Exported models. The small random-weight models committed under
tests/data/exported/ (models/export_hf.py: inputs `ids` and `mask`, int64
[batch, sequence], vocab 512, 128 positions; output `hidden`) get cases too,
in models/cache/exported/<stem>/ref/b{B}_s{S}/ (same files as above), and an
index models/cache/exported/manifest.txt with one "model NAME ONNX_PATH" line
per model, written last, which tests/models/test_models.c reads. Their ids are
uniform in [0, vocab) from a seed of (B, S); padding has id 0 and mask 0. A
case is rewritten when the model file's sha256 differs from the one recorded
in its manifest.json.

Usage: python3 models/reference.py [--cache DIR] [--force] [MODEL...]
       python3 models/reference.py [--cache DIR] [--force] --exported-only
Without --exported-only and MODEL names both sets are written (the exported
ones first, since they need no download); with MODEL names only those. A case whose manifest.json exists is kept unless
--force is given.
"""

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort

# (batch, seq, real lengths per sequence): the B=2 cases with shorter second
# sequences exercise padding, the mask and the masked mean pooling; (2, 64)
# is a full batch of two.
CASES = [
    (1, 8, [8]),
    (1, 64, [64]),
    (2, 128, [128, 77]),
    (2, 16, [16, 9]),
    (1, 128, [128]),
    (2, 64, [64, 64]),
]

# The exported models' cases: (1, 37) is a length that is no multiple of any
# tile or vector width; (2, 128) fills the position table with a padded second
# sequence.
EXPORTED_CASES = [
    (1, 8, [8]),
    (2, 16, [16, 16]),
    (1, 37, [37]),
    (2, 128, [128, 77]),
]
# RoBERTa and MPNet number positions from padding_idx + 1 = 2, so their
# 128-row position tables hold 126 tokens; ONNX Runtime (and ragged) refuse
# 127 and 128 with an out-of-range Gather. Their longest case is (2, 126).
EXPORTED_MAX_TOKENS = {"roberta": 126, "mpnet": 126}

DEFAULT_VOCAB = 30522  # BERT uncased WordPiece
CLS_ID, SEP_ID = 101, 102


def sanitize(name):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def find_vocab(model, ids_name="input_ids", default=DEFAULT_VOCAB):
    """Rows of the word-embedding table: the data input of the Gather that
    reads input_ids, or an initializer named like one (int8 models keep the
    table quantized under another name)."""
    inits = {t.name: list(t.dims) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Gather" and len(node.input) >= 2 and node.input[1] == ids_name:
            dims = inits.get(node.input[0])
            if dims and len(dims) == 2:
                return dims[0]
    for name, dims in inits.items():
        if "word_embeddings" in name and len(dims) == 2 and dims[0] > 1000:
            return dims[0]
    return default


def make_inputs(session, vocab, batch, seq, lengths):
    rng = np.random.default_rng(1000003 * batch + seq)
    ids = np.zeros((batch, seq), dtype=np.int64)
    mask = np.zeros((batch, seq), dtype=np.int64)
    for b, length in enumerate(lengths):
        ids[b, :length] = rng.integers(1, vocab, size=length)
        ids[b, 0] = CLS_ID
        ids[b, length - 1] = SEP_ID
        mask[b, :length] = 1
    feeds = {}
    for inp in session.get_inputs():
        if inp.type != "tensor(int64)":
            raise SystemExit(f"reference: input {inp.name} has type {inp.type}; only int64 token inputs are known")
        if inp.name == "input_ids":
            feeds[inp.name] = ids
        elif inp.name == "attention_mask":
            feeds[inp.name] = mask
        elif inp.name == "token_type_ids":
            feeds[inp.name] = np.zeros((batch, seq), dtype=np.int64)
        else:
            raise SystemExit(f"reference: do not know how to fill input {inp.name}")
    return feeds


def make_exported_inputs(session, vocab, batch, seq, lengths):
    rng = np.random.default_rng(1000003 * batch + seq)
    ids = np.zeros((batch, seq), dtype=np.int64)
    mask = np.zeros((batch, seq), dtype=np.int64)
    for b, length in enumerate(lengths):
        ids[b, :length] = rng.integers(0, vocab, size=length)
        mask[b, :length] = 1
    feeds = {}
    for inp in session.get_inputs():
        if inp.name == "ids":
            feeds[inp.name] = ids
        elif inp.name == "mask":
            feeds[inp.name] = mask
        else:
            raise SystemExit(f"reference: exported model has an unknown input {inp.name}")
    return feeds


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_case(model_dir, model_name, session, vocab, case, force, inputs=make_inputs, sha256=None):
    batch, seq, lengths = case
    out_dir = os.path.join(model_dir, "ref", f"b{batch}_s{seq}")
    manifest_path = os.path.join(out_dir, "manifest.json")
    if os.path.exists(manifest_path) and not force:
        with open(manifest_path) as f:
            recorded = json.load(f).get("model_sha256")
        if sha256 is None or recorded == sha256:
            print(f"reference: {model_name} b{batch}_s{seq}: kept")
            return
        os.remove(manifest_path)
    os.makedirs(out_dir, exist_ok=True)
    feeds = inputs(session, vocab, batch, seq, lengths)
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, feeds)
    manifest = {
        "model": model_name,
        "batch": batch,
        "seq": seq,
        "lengths": lengths,
        "onnxruntime": ort.__version__,
        "inputs": [],
        "outputs": [],
    }
    if sha256 is not None:
        manifest["model_sha256"] = sha256
    lines = []
    used = set()
    for kind, pairs in (("input", feeds.items()), ("output", zip(names, results))):
        for name, array in pairs:
            array = np.ascontiguousarray(array)
            file = sanitize(name) + ".npy"
            if file in used:
                raise SystemExit(f"reference: two names sanitize to {file}")
            used.add(file)
            np.save(os.path.join(out_dir, file), array)
            manifest[kind + "s"].append(
                {"name": name, "file": file, "dtype": str(array.dtype), "shape": list(array.shape)}
            )
            lines.append(f"{kind} {name} {file}")
    with open(os.path.join(out_dir, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    # The JSON goes last: its presence marks a complete case.
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
    shapes = ", ".join(f"{o['name']}{tuple(o['shape'])}" for o in manifest["outputs"])
    print(f"reference: {model_name} b{batch}_s{seq}: {shapes}")


def ort_session(path):
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 2
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def write_exported(cache, source_dir, force):
    """References for every tests/data/exported/*.onnx, then the index."""
    paths = sorted(glob.glob(os.path.join(source_dir, "*.onnx")))
    if not paths:
        print(f"reference: no exported models under {source_dir}", file=sys.stderr)
        return 1
    root = os.path.join(cache, "exported")
    os.makedirs(root, exist_ok=True)
    index = []
    for path in paths:
        name = os.path.splitext(os.path.basename(path))[0]
        vocab = find_vocab(onnx.load(path, load_external_data=False), "ids", 512)
        session = ort_session(path)
        sha256 = file_sha256(path)
        limit = EXPORTED_MAX_TOKENS.get(name.split("_")[0], 128)
        wanted = set()
        for batch, seq, lengths in EXPORTED_CASES:
            if seq > limit:
                seq, lengths = limit, [min(n, limit) for n in lengths]
            wanted.add(f"b{batch}_s{seq}")
            write_case(os.path.join(root, name), name, session, vocab, (batch, seq, lengths), force,
                       make_exported_inputs, sha256)
        # The test runs every case folder it finds: drop those of older case lists.
        ref = os.path.join(root, name, "ref")
        for old in sorted(set(os.listdir(ref)) - wanted):
            shutil.rmtree(os.path.join(ref, old))
            print(f"reference: {name} {old}: removed (no longer a case)")
        index.append(f"model {name} {os.path.abspath(path)}")
    # Written last, through a rename, so a reader never sees half an index.
    tmp = os.path.join(root, "manifest.txt.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(index) + "\n")
    os.replace(tmp, os.path.join(root, "manifest.txt"))
    print(f"reference: {len(index)} exported models indexed in {root}/manifest.txt")
    return 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=os.environ.get("MODELS_CACHE", os.path.join(here, "cache")))
    parser.add_argument("--force", action="store_true", help="rewrite existing cases")
    parser.add_argument("--exported", default=os.path.join(os.path.dirname(here), "tests", "data", "exported"),
                        help="folder of the exported models (default: tests/data/exported)")
    parser.add_argument("--exported-only", action="store_true", help="write only the exported models' cases")
    parser.add_argument("models", nargs="*", help="model folder names (default: every fetched model)")
    args = parser.parse_args()

    if not args.models:
        status = write_exported(args.cache, args.exported, args.force)
        if args.exported_only or status != 0:
            return status

    models = args.models or sorted(
        d for d in os.listdir(args.cache) if os.path.isfile(os.path.join(args.cache, d, "model.onnx"))
    ) if os.path.isdir(args.cache) else []
    if not models:
        print(f"reference: no models under {args.cache}; run models/fetch.sh first", file=sys.stderr)
        return 1
    for name in models:
        model_dir = os.path.join(args.cache, name)
        path = os.path.join(model_dir, "model.onnx")
        if not os.path.isfile(path):
            print(f"reference: {path} is missing; run models/fetch.sh {name}", file=sys.stderr)
            return 1
        vocab = find_vocab(onnx.load(path, load_external_data=False))
        session = ort_session(path)
        for case in CASES:
            write_case(model_dir, name, session, vocab, case, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
