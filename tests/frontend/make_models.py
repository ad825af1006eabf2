#!/usr/bin/env python3
"""Writes the small ONNX fixtures of the frontend tests into data/.

Run from anywhere: python3 tests/frontend/make_models.py. The outputs are
committed, so the C tests need no Python at run time. Each file is tiny and
exercises one importer feature or one way a model can be wrong; the C test
(test_onnx.c) says what it expects of each.
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")


def save(model, name):
    path = os.path.join(DATA, name)
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    assert os.path.getsize(path) < 10 * 1024, name


def model(nodes, inputs, outputs, inits=(), opset=17, extra_opsets=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    m = helper.make_model(graph, opset_imports=opsets, producer_name="make_models", producer_version="1")
    m.ir_version = 8
    return m


def fvi(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def typed(name, dtype, dims, values):
    return helper.make_tensor(name, dtype, dims, values, raw=False)


def main():
    os.makedirs(DATA, exist_ok=True)

    # 2 nodes, symbolic dims, raw and typed initializers, a legacy input that
    # is also an initializer, an unused declared domain.
    w = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(4, 4), "w")
    b = typed("b", TensorProto.FLOAT, [4], [1, 2, 3, 4])
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"], name="mm"),
             helper.make_node("Add", ["xw", "b"], ["y"], name="add")]
    save(model(nodes, [fvi("x", ["batch", "seq", 4]), fvi("b", [4])], [fvi("y", ["batch", "seq", 4])],
               [w, b], extra_opsets=[("ai.onnx.ml", 3)]), "two_node.onnx")

    # every dtype, raw and typed
    inits = [
        numpy_helper.from_array(np.array([1.5, -2], np.float32), "f32_raw"),
        typed("f32_typed", TensorProto.FLOAT, [2], [1.5, -2]),
        typed("i64_typed", TensorProto.INT64, [3], [1, -2, 1 << 40]),
        typed("i32_typed", TensorProto.INT32, [2], [7, -7]),
        typed("f16_typed", TensorProto.FLOAT16, [2], np.array([1.0, -2.0], np.float16)),
        numpy_helper.from_array(np.array([1.0, 0.5], np.float16), "f16_raw"),
        helper.make_tensor("bf16_raw", TensorProto.BFLOAT16, [2],
                           np.array([0x3F80, 0xC000], np.uint16).tobytes(), raw=True),
        typed("i8_typed", TensorProto.INT8, [2], [-128, 127]),
        typed("u8_typed", TensorProto.UINT8, [2], [0, 255]),
        typed("bool_typed", TensorProto.BOOL, [3], [True, False, True]),
        typed("scalar", TensorProto.INT64, [], [42]),
        typed("empty", TensorProto.FLOAT, [0, 3], []),
    ]
    save(model([], [], [fvi(t.name, None, t.data_type) for t in inits], inits), "initializers.onnx")

    # Constant node forms
    nodes = [
        helper.make_node("Constant", [], ["c_tensor"], value=typed("v", TensorProto.FLOAT, [2, 2], [1, 2, 3, 4])),
        helper.make_node("Constant", [], ["c_float"], value_float=2.5),
        helper.make_node("Constant", [], ["c_floats"], value_floats=[1.0, 2.0, 3.0]),
        helper.make_node("Constant", [], ["c_int"], value_int=-3),
        helper.make_node("Constant", [], ["c_ints"], value_ints=[4, 5]),
        helper.make_node("Add", ["c_float", "c_floats"], ["sum"], name="add"),
    ]
    outs = ["c_tensor", "c_float", "c_floats", "c_int", "c_ints", "sum"]
    save(model(nodes, [], [fvi(o, None) for o in outs]), "constants.onnx")
    save(model([helper.make_node("Constant", [], ["c"], value_string="hi")], [], [fvi("c", None)]),
         "constant_string.onnx")

    # every attribute kind, on an Identity node
    sub = helper.make_graph([], "sub", [], [])
    attrs = [
        helper.make_attribute("a_float", 0.25),
        helper.make_attribute("a_int", 7),
        helper.make_attribute("a_string", b"hello"),
        helper.make_attribute("a_tensor", typed("t", TensorProto.INT32, [3], [1, 2, 3])),
        helper.make_attribute("a_graph", sub),
        helper.make_attribute("a_floats", [1.0, 2.0]),
        helper.make_attribute("a_ints", [1, 2, 3]),
        helper.make_attribute("a_strings", [b"a", b"bc"]),
        helper.make_attribute("a_tensors", [typed("t0", TensorProto.FLOAT, [1], [9]),
                                            typed("t1", TensorProto.INT64, [2], [8, 9])]),
        helper.make_attribute("a_graphs", [sub]),
        helper.make_attribute("a_type_proto", helper.make_tensor_type_proto(TensorProto.FLOAT, [1])),
    ]
    node = helper.make_node("Identity", ["x"], ["y"], name="id")
    node.attribute.extend(attrs)
    save(model([node], [fvi("x", [2])], [fvi("y", [2])]), "attrs.onnx")

    # external data: 16 bytes of padding, then 4 float32
    with open(os.path.join(DATA, "ext_ok.bin"), "wb") as f:
        f.write(b"\xee" * 16 + np.array([1, 2, 3, 4], np.float32).tobytes())

    def ext(location, offset="16", length="16"):
        t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", offset), ("length", length)):
            if v is not None:
                e = t.external_data.add()
                e.key, e.value = k, v
        return model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], [fvi("x", [4])],
                     [fvi("y", [4])], [t])

    save(ext("ext_ok.bin"), "ext_ok.onnx")
    save(ext("../make_models.py", "0", "16"), "ext_escape.onnx")
    save(ext("/etc/hostname", "0", "16"), "ext_absolute.onnx")
    save(ext("ext_ok.bin", "24", "16"), "ext_range.onnx")

    # rejected opsets, ops and domains
    relu = [helper.make_node("Relu", ["x"], ["y"], name="r")]
    io = ([fvi("x", [2])], [fvi("y", [2])])
    save(model(relu, *io, opset=10), "opset10.onnx")
    save(model(relu, *io, opset=22), "opset22.onnx")
    save(model([helper.make_node("FooBar", ["x"], ["y"], name="mystery")], *io), "unknown_op.onnx")
    save(model([helper.make_node("Gelu", ["x"], ["y"], name="gelu")], *io), "gelu_opset17.onnx")
    save(model([helper.make_node("Foo", ["x"], ["y"], name="custom", domain="com.example")], *io,
               extra_opsets=[("com.example", 1)]), "custom_domain.onnx")
    save(model([helper.make_node("Add", ["x", "x", "x"], ["y"], name="add3")], *io), "bad_arity.onnx")

    # broken graphs
    cycle = [helper.make_node("Relu", ["x2"], ["x1"], name="r1"),
             helper.make_node("Add", ["x", "x1"], ["x2"], name="a2"),
             helper.make_node("Identity", ["x2"], ["y"], name="id")]
    save(model(cycle, *io), "cycle.onnx")
    save(model([helper.make_node("Add", ["x", "missing"], ["y"], name="add")], *io), "dangling.onnx")
    # out of file order but acyclic: the importer sorts it
    unordered = [helper.make_node("Relu", ["t"], ["y"], name="second"),
                 helper.make_node("Neg", ["x"], ["t"], name="first")]
    save(model(unordered, *io), "unordered.onnx")
    bad = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4], raw_data=b"\0" * 12)
    save(model([helper.make_node("Add", ["x", "w"], ["y"])], *io, inits=[bad]), "bad_raw_size.onnx")
    save(model(relu, [fvi("x", [2], TensorProto.DOUBLE)], [fvi("y", [2])]), "double_input.onnx")
    neg = model(relu, *io)
    neg.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -2
    save(neg, "negative_dim.onnx")

    # a TensorProto file, as in the ONNX node tests
    t = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "input_0")
    with open(os.path.join(DATA, "tensor_2x3.pb"), "wb") as f:
        f.write(t.SerializeToString())


if __name__ == "__main__":
    main()
