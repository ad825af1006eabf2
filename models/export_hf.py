#!/usr/bin/env python3
"""Export small transformer models with random weights to ONNX, with both
torch.onnx exporters, for ragged's pass and whole-model tests.

Runs where torch and transformers are installed (the GPU machine has them; no
weights are downloaded: every model is built from a config). Each model is
wrapped so that forward(ids, mask) calls the Hugging Face model by keyword,
which transformers 5 needs for the classic exporter.

    python3 models/export_hf.py --out DIR [--only NAME ...] [--base]

Writes DIR/NAME.onnx and DIR/export.log (one line per model: ok or the error).
--base adds bert-base (12 layers, hidden 768) for benchmarks; it is large
(~440 MB) and meant to be compiled where it was made.
"""
import argparse
import os
import sys
import time
import traceback

import torch
import transformers as tf

SMALL = dict(vocab_size=512, hidden_size=64, num_attention_heads=2, intermediate_size=128,
             max_position_embeddings=128)


def config(arch, layers):
    if arch == "bert":
        return tf.BertConfig(num_hidden_layers=layers, **SMALL), tf.BertModel
    if arch == "roberta":
        return tf.RobertaConfig(num_hidden_layers=layers, **SMALL), tf.RobertaModel
    if arch == "electra":
        return tf.ElectraConfig(num_hidden_layers=layers, embedding_size=64, **SMALL), tf.ElectraModel
    if arch == "albert":
        return tf.AlbertConfig(num_hidden_layers=layers, embedding_size=32, **SMALL), tf.AlbertModel
    if arch == "mpnet":
        return tf.MPNetConfig(num_hidden_layers=layers, **SMALL), tf.MPNetModel
    if arch == "distilbert":
        return tf.DistilBertConfig(vocab_size=512, dim=64, n_layers=layers, n_heads=2, hidden_dim=128,
                                   max_position_embeddings=128), tf.DistilBertModel
    if arch == "gpt2":
        return tf.GPT2Config(vocab_size=512, n_embd=64, n_layer=layers, n_head=2, n_positions=128), tf.GPT2Model
    if arch == "bert-base":
        return tf.BertConfig(), tf.BertModel
    raise ValueError(arch)


class Wrapped(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask):
        return self.model(input_ids=ids, attention_mask=mask).last_hidden_state


# name: (arch, layers, exporter, opset)
MODELS = {
    "bert_L2_classic_o14": ("bert", 2, "classic", 14),
    "bert_L2_classic_o17": ("bert", 2, "classic", 17),
    "bert_L12_classic_o17": ("bert", 12, "classic", 17),
    "bert_L2_dynamo_o18": ("bert", 2, "dynamo", 18),
    "bert_L4_dynamo_o20": ("bert", 4, "dynamo", 20),
    "bert_L12_dynamo_o18": ("bert", 12, "dynamo", 18),
    "roberta_L2_classic_o17": ("roberta", 2, "classic", 17),
    "roberta_L2_dynamo_o18": ("roberta", 2, "dynamo", 18),
    "distilbert_L2_classic_o17": ("distilbert", 2, "classic", 17),
    "distilbert_L2_dynamo_o18": ("distilbert", 2, "dynamo", 18),
    "albert_L2_classic_o17": ("albert", 2, "classic", 17),
    "electra_L2_classic_o17": ("electra", 2, "classic", 17),
    "mpnet_L2_classic_o17": ("mpnet", 2, "classic", 17),
    "gpt2_L2_classic_o17": ("gpt2", 2, "classic", 17),
    "gpt2_L2_dynamo_o18": ("gpt2", 2, "dynamo", 18),
}
BASE = {
    "bert-base_classic_o17": ("bert-base", 12, "classic", 17),
    "bert-base_dynamo_o18": ("bert-base", 12, "dynamo", 18),
}


def export(name, arch, layers, exporter, opset, out_dir):
    torch.manual_seed(0)
    cfg, cls = config(arch, layers)
    model = Wrapped(cls(cfg).eval())
    ids = torch.randint(0, cfg.vocab_size, (2, 16), dtype=torch.int64)
    mask = torch.ones(2, 16, dtype=torch.int64)
    mask[1, 10:] = 0
    path = os.path.join(out_dir, name + ".onnx")
    axes = {"ids": {0: "batch", 1: "sequence"}, "mask": {0: "batch", 1: "sequence"}}
    with torch.no_grad():
        if exporter == "classic":
            torch.onnx.export(model, (ids, mask), path, input_names=["ids", "mask"], output_names=["hidden"],
                              dynamic_axes=dict(axes, hidden={0: "batch", 1: "sequence"}), opset_version=opset,
                              dynamo=False)
        else:
            batch = torch.export.Dim("batch", min=1, max=1024)
            seq = torch.export.Dim("sequence", min=2, max=cfg.max_position_embeddings if hasattr(cfg, "max_position_embeddings") else 128)
            torch.onnx.export(model, (ids, mask), path, input_names=["ids", "mask"], output_names=["hidden"],
                              dynamic_shapes={"ids": {0: batch, 1: seq}, "mask": {0: batch, 1: seq}},
                              opset_version=opset, dynamo=True, external_data=False)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--base", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    models = dict(MODELS)
    if args.base:
        models.update(BASE)
    failures = 0
    with open(os.path.join(args.out, "export.log"), "a") as log:
        for name, (arch, layers, exporter, opset) in models.items():
            if args.only and name not in args.only:
                continue
            t0 = time.time()
            try:
                path = export(name, arch, layers, exporter, opset, args.out)
                line = f"{name}: ok {os.path.getsize(path)} bytes {time.time() - t0:.1f} s"
            except Exception as e:  # keep going: one exporter failing must not hide the others
                failures += 1
                line = f"{name}: FAILED {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
                traceback.print_exc()
            print(line, flush=True)
            log.write(line + "\n")
    print(f"torch {torch.__version__} transformers {tf.__version__}; {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
