#!/usr/bin/env python3
"""Reads and writes qbench model files with h5py, as docs/formats.md describes.

    h5py_check.py read MODEL.h5
        checks the root attributes and their Python types, then prints the
        attributes, one line per tensor ("tensor /layers/00_conv/weight 6x1x5x5")
        and "checksum COUNT SUM": the number of values and the sum of their
        float32 bit patterns as unsigned integers, modulo 2**64.

    h5py_check.py scale IN.h5 OUT.h5 TENSOR FACTOR
        writes OUT.h5 from scratch with h5py: the attributes and tensors of IN.h5,
        with TENSOR (e.g. /layers/00_conv/weight) multiplied by FACTOR in float32.

Exit status 0 on success, 1 with a message on stderr otherwise.
"""
import sys

import h5py
import numpy as np


def fail(msg):
    print("h5py_check: " + msg, file=sys.stderr)
    sys.exit(1)


def tensor_names(f):
    """Paths of all datasets under /layers, sorted."""
    names = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            names.append("/layers/" + name)

    if "layers" not in f:
        fail("no group /layers")
    f["layers"].visititems(visit)
    return sorted(names)


def check_attrs(f):
    a = f.attrs
    for key in ("format", "version", "arch", "classes", "input_shape"):
        if key not in a:
            fail("missing root attribute " + key)
    for key in ("format", "arch"):
        if not isinstance(a[key], str):
            fail("attribute %s is %r, not str" % (key, type(a[key])))
    if a["format"] != "qbench-model":
        fail("format is %r" % a["format"])
    for key in ("version", "classes"):
        if not isinstance(a[key], (int, np.integer)):
            fail("attribute %s is %r, not an integer" % (key, type(a[key])))
    shape = np.asarray(a["input_shape"])
    if shape.shape != (3,) or shape.dtype.kind not in "iu":
        fail("input_shape is %r" % (a["input_shape"],))
    if "created_by" in a and not isinstance(a["created_by"], str):
        fail("created_by is not str")


def read(path):
    with h5py.File(path, "r") as f:
        check_attrs(f)
        a = f.attrs
        print("format %s" % a["format"])
        print("version %d" % a["version"])
        print("arch %s" % a["arch"])
        print("classes %d" % a["classes"])
        print("input_shape %s" % "x".join(str(int(v)) for v in a["input_shape"]))
        count, total = 0, 0
        for name in tensor_names(f):
            ds = f[name]
            if ds.dtype != np.float32:
                fail("%s has dtype %s" % (name, ds.dtype))
            x = ds[()]
            print("tensor %s %s" % (name, "x".join(str(d) for d in x.shape)))
            count += x.size
            total += int(x.view(np.uint32).astype(np.uint64).sum(dtype=np.uint64))
        print("checksum %d %d" % (count, total % 2**64))


def scale(src, dst, tensor, factor):
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        check_attrs(f)
        a = f.attrs
        # Plain Python values, as a user would write them.
        g.attrs["format"] = "qbench-model"
        g.attrs["version"] = int(a["version"])
        g.attrs["arch"] = str(a["arch"])
        g.attrs["classes"] = int(a["classes"])
        g.attrs["input_shape"] = [int(v) for v in a["input_shape"]]
        names = tensor_names(f)
        if tensor not in names:
            fail("no tensor " + tensor)
        for name in names:
            x = f[name][()]
            if name == tensor:
                x = x * np.float32(factor)
            g.create_dataset(name, data=x.astype(np.float32))
    print("wrote %s" % dst)


def main(argv):
    if len(argv) == 3 and argv[1] == "read":
        read(argv[2])
    elif len(argv) == 6 and argv[1] == "scale":
        scale(argv[2], argv[3], argv[4], float(argv[5]))
    else:
        fail("usage: h5py_check.py read MODEL.h5 | scale IN.h5 OUT.h5 TENSOR FACTOR")


if __name__ == "__main__":
    main(sys.argv)
