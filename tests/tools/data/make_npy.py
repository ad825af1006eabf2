#!/usr/bin/env python3
"""Makes the .npy fixtures of tests/tools/test_npy.c with NumPy itself, so the
reader is checked against the real writer (versions 1.0, 2.0 and 3.0 headers,
every supported dtype, and files it must refuse).

Run from anywhere: python3 tests/tools/data/make_npy.py
"""
import os

import numpy as np
from numpy.lib import format as npformat

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, array, version=None):
    path = os.path.join(HERE, name)
    with open(path, "wb") as f:
        npformat.write_array(f, array, version=version, allow_pickle=False)


def main():
    save("f32_2x3.npy", np.arange(6, dtype=np.float32).reshape(2, 3) * 0.5)
    save("f16_2x2.npy", np.array([[1.0, -2.0], [0.5, 65504.0]], dtype=np.float16))
    save("i64_4.npy", np.array([0, -1, 2**40, 7], dtype=np.int64))
    save("i32_3.npy", np.array([1, -2, 3], dtype=np.int32), version=(2, 0))
    save("i8_2.npy", np.array([-128, 127], dtype=np.int8), version=(3, 0))
    save("u8_0x3.npy", np.zeros((0, 3), dtype=np.uint8))
    save("bool_scalar.npy", np.array(True))
    # files the reader must refuse
    save("bad_fortran.npy", np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)))
    save("bad_f8.npy", np.arange(3, dtype=np.float64))
    save("bad_bigendian.npy", np.arange(3, dtype=">f4"))


if __name__ == "__main__":
    main()
