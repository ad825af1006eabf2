#!/usr/bin/env python3
"""Makes tiny.onnx, the model of the `ragged` command tests (tests/tools).

An embedding lookup shaped like the front of a BERT encoder, small enough to
commit (< 10 KB) and made of data-movement ops only, so the CLI tests depend
on the command and not on the arithmetic kernels:

  input_ids      int64 [batch_size, sequence_length]
  attention_mask int64 [batch_size, sequence_length]
  hidden = Gather(embeddings[50, 8], input_ids)        float32 [batch, seq, 8]
  mask   = Unsqueeze(attention_mask, axes=[2])         int64   [batch, seq, 1]

Run from anywhere: python3 tests/tools/data/make_tiny.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    rng = np.random.default_rng(7)
    emb = rng.uniform(-1, 1, size=(50, 8)).astype(np.float32)
    dims = ["batch_size", "sequence_length"]
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["embeddings", "input_ids"], ["hidden"], name="embed", axis=0),
            helper.make_node("Unsqueeze", ["attention_mask", "axes"], ["mask"], name="unsqueeze_mask"),
        ],
        "tiny",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, dims),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, dims),
        ],
        [
            helper.make_tensor_value_info("hidden", TensorProto.FLOAT, dims + [8]),
            helper.make_tensor_value_info("mask", TensorProto.INT64, dims + [1]),
        ],
        [
            numpy_helper.from_array(emb, "embeddings"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axes"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="make_tiny.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny.onnx")
    onnx.save(model, out)
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
