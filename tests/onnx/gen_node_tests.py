#!/usr/bin/env python3
"""tests/onnx/gen_node_tests.py — writes the ONNX backend node tests to disk.

The onnx wheel on PyPI no longer ships backend/test/data/node/, but it does
ship the generators (onnx.backend.test.case.node): each op's test cases with
their numpy-computed expected outputs. This writes them in the layout the
onnx repository uses, which tests/onnx/node_tests.c reads:

  OUT/test_<name>/model.onnx
  OUT/test_<name>/test_data_set_0/input_<k>.pb, output_<k>.pb   (TensorProto)

Non-tensor inputs or outputs (sequences, maps, optionals) are written as
their own protos, as upstream does; the C runner classifies such tests as not
applicable from the model alone and never reads those files.

Older onnx releases shipped the same files; generating them from the
installed onnx keeps one path for every version. OUT/STAMP records the onnx version, so a
second run with the same onnx does nothing.

Usage: python3 tests/onnx/gen_node_tests.py OUT
Prints OUT (the directory to give node_tests) on its last line.
"""

import os
import shutil
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper


def write_proto(path, value, value_info):
    t = value_info.type
    if t.HasField("sequence_type"):
        proto = numpy_helper.from_list(value, value_info.name)
    elif t.HasField("optional_type"):
        proto = numpy_helper.from_optional(value, value_info.name)
    elif t.HasField("map_type"):
        proto = numpy_helper.from_dict(value, value_info.name)
    elif isinstance(value, onnx.TensorProto):
        proto = value
    else:
        proto = numpy_helper.from_array(value, value_info.name)
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    stamp = os.path.join(out, "STAMP")
    want = f"onnx {onnx.__version__}\n"
    if os.path.exists(stamp) and open(stamp).read() == want:
        print(out)
        return 0

    # The generators divide by zero on purpose (inf/nan cases); keep the log quiet.
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    from onnx.backend.test.case import node as node_cases

    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    written = failed = 0
    for case in node_cases.collect_testcases():
        case_dir = os.path.join(out, case.name)
        try:
            os.makedirs(case_dir)
            with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
                f.write(case.model.SerializeToString())
            graph = case.model.graph
            for i, (inputs, outputs) in enumerate(case.data_sets):
                data_dir = os.path.join(case_dir, f"test_data_set_{i}")
                os.makedirs(data_dir)
                for j, value in enumerate(inputs):
                    write_proto(os.path.join(data_dir, f"input_{j}.pb"), value, graph.input[j])
                for j, value in enumerate(outputs):
                    write_proto(os.path.join(data_dir, f"output_{j}.pb"), value, graph.output[j])
            written += 1
        except Exception as e:  # a case upstream cannot serialize: leave it out, say so
            shutil.rmtree(case_dir, ignore_errors=True)
            print(f"gen_node_tests: {case.name}: not written: {e}", file=sys.stderr)
            failed += 1
    with open(stamp, "w") as f:
        f.write(want)
    print(f"gen_node_tests: {written} node tests written ({failed} not writable) with onnx {onnx.__version__}",
          file=sys.stderr)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
