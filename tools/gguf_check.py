#!/usr/bin/env python3
"""gguf_check.py: cross-check petit's GGUF code against llama.cpp's `gguf` Python package.

Needs a venv with `pip install gguf numpy`; nothing in `make test` runs this.

  gguf_check.py dump FILE          list the keys and tensors of FILE as gguf-py reads them
  gguf_check.py check-petit FILE   FILE was written by `build/tests/test_gguf --write FILE`:
                                   check every key and tensor against the values that test writes
  gguf_check.py fixture OUT        write the fixture tests/data/gguf_py.gguf (the C test
                                   checks the values below, FIXTURE_*)

Round trip, both directions:
  .venv/bin/python tools/gguf_check.py fixture tests/data/gguf_py.gguf
  build/tests/test_gguf                      # reads tests/data/gguf_py.gguf
  build/tests/test_gguf --write /tmp/p.gguf && .venv/bin/python tools/gguf_check.py check-petit /tmp/p.gguf
"""
import sys

import numpy as np
import gguf
from gguf import GGUFValueType as V

# ---- the fixture written by gguf-py (values mirrored in tests/test_gguf.c) ----
FIXTURE_KEYS = [
    # (key, type, value)
    ("general.name", V.STRING, "gguf-py fixture"),
    ("petit.d_model", V.UINT32, 64),
    ("petit.offset", V.INT32, -7),
    ("petit.step", V.UINT64, 1234567890123),
    ("petit.eps", V.FLOAT32, 1e-5),
    ("petit.ratio", V.FLOAT64, 0.1),
    ("petit.flag", V.BOOL, True),
    ("petit.small", V.INT8, -5),
    ("petit.wide", V.UINT16, 65535),
    ("petit.big", V.INT64, -9000000000000000),
    ("tokenizer.ggml.tokens", V.ARRAY, ["<unk>", "\u2581le", "\u00e9t\u00e9", "x"]),
    ("petit.scores", V.ARRAY, [0.5, -1.25, 3.0]),
]
FIXTURE_TENSORS = [
    # numpy shape (rows, cols) is GGUF ne = [cols, rows]
    ("w", (np.arange(6, dtype=np.float32) * 0.5 - 1.0).reshape(2, 3)),
    ("ids", np.array([1, -2, 3, -4, 5], dtype=np.int32)),
]


def write_fixture(path):
    w = gguf.GGUFWriter(path, "petit")
    for key, vtype, val in FIXTURE_KEYS:
        sub = V.FLOAT32 if key == "petit.scores" else None
        w.add_key_value(key, val, vtype, sub_type=sub)
    for name, arr in FIXTURE_TENSORS:
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---- reading -------------------------------------------------------------------
def field_value(f):
    t = f.types[0]
    if t == V.ARRAY:
        if f.types[-1] == V.STRING:
            return [bytes(f.parts[i]).decode("utf-8", "replace") for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    if t == V.STRING:
        return bytes(f.parts[f.data[0]]).decode("utf-8", "replace")
    return f.parts[f.data[0]].tolist()[0]


def dump(path):
    r = gguf.GGUFReader(path)
    for name, f in r.fields.items():
        if name.startswith("GGUF."):
            continue
        t = f.types[0].name
        if t == "ARRAY":  # an empty array has no element type in f.types
            t += "[" + (V(int(f.parts[-2][0])).name if len(f.data) == 0 else f.types[-1].name) + "]"
        v = field_value(f)
        if isinstance(v, list) and len(v) > 8:
            v = "[%d items]" % len(v)
        print("%-32s %-16s %r" % (name, t, v))
    for t in r.tensors:
        print("tensor %-24s %-5s ne=%s bytes=%d offset=%d" %
              (t.name, t.tensor_type.name, [int(x) for x in t.shape], t.n_bytes, t.data_offset))
    return r


# ---- what test_gguf --write puts in its file (mirrors write_roundtrip there) ----
def check_petit(path):
    r = dump(path)
    bad = []

    def want(key, vtype, val, sub=None):
        f = r.fields.get(key)
        if f is None:
            bad.append("missing key " + key)
            return
        if f.types[0] != vtype or (sub is not None and f.types[-1] != sub):
            bad.append("%s: type %s" % (key, [t.name for t in f.types]))
            return
        got = field_value(f)
        if isinstance(val, float) or (isinstance(val, list) and val and isinstance(val[0], float)):
            ok = np.allclose(np.array(got, dtype=np.float64), np.array(val, dtype=np.float64),
                             rtol=1e-7, atol=0)
        else:
            ok = got == val
        if not ok:
            bad.append("%s: got %r want %r" % (key, got, val))

    want("t.u8", V.UINT8, 200)
    want("t.i8", V.INT8, -100)
    want("t.u16", V.UINT16, 60000)
    want("t.i16", V.INT16, -30000)
    want("t.u32", V.UINT32, 4000000000)
    want("t.i32", V.INT32, -2000000000)
    want("t.f32", V.FLOAT32, float(np.float32(0.1)))
    want("t.bool", V.BOOL, True)
    want("t.str", V.STRING, "petit \u00e9t\u00e9")
    want("t.u64", V.UINT64, 18000000000000000000)
    want("t.i64", V.INT64, -9000000000000000000)
    want("t.f64", V.FLOAT64, 0.1)
    want("t.twice", V.STRING, "second")
    want("t.arr_i32", V.ARRAY, [1, -2, 3], V.INT32)
    want("t.arr_f32", V.ARRAY, [0.5, -0.25], V.FLOAT32)
    want("t.arr_str", V.ARRAY, ["a", "", "\u00e9"], V.STRING)
    # gguf-py lists no element type for an empty array: read the raw fields
    for key, et in (("t.arr_empty", V.UINT8), ("t.arr_str_empty", V.STRING)):
        f = r.fields.get(key)
        if f is None or f.types[0] != V.ARRAY or len(f.data) != 0 or \
                int(f.parts[-2][0]) != et or int(f.parts[-1][0]) != 0:
            bad.append(key + ": not an empty array of " + et.name)

    tensors = {t.name: t for t in r.tensors}
    f32 = (np.arange(15, dtype=np.float32) - 7) / 4
    i32 = np.arange(12, dtype=np.int32) * -3
    expect = {
        # name: (type, ne, raw bytes)
        "a.f32": (gguf.GGMLQuantizationType.F32, [5, 3], f32.tobytes()),
        "b.i32": (gguf.GGMLQuantizationType.I32, [2, 3, 1, 2], i32.tobytes()),
        "c.q8": (gguf.GGMLQuantizationType.Q8_0, [64, 2], bytes((i * 7) & 255 for i in range(136))),
        "d.q4": (gguf.GGMLQuantizationType.Q4_0, [32, 3], bytes((i * 5) & 255 for i in range(54))),
        "e.f16": (gguf.GGMLQuantizationType.F16, [7], np.arange(7, dtype=np.float16).tobytes()),
    }
    for name, (ttype, ne, raw) in expect.items():
        t = tensors.get(name)
        if t is None:
            bad.append("missing tensor " + name)
            continue
        if t.tensor_type != ttype or [int(x) for x in t.shape] != ne or t.n_bytes != len(raw):
            bad.append("%s: %s ne=%s bytes=%d" % (name, t.tensor_type.name, [int(x) for x in t.shape], t.n_bytes))
        elif bytes(np.asarray(t.data).tobytes()) != raw:
            bad.append(name + ": data differs")
        if t.data_offset % 32:
            bad.append(name + ": data not aligned to 32")
    if "c.q8" in tensors:  # gguf-py's own dequantizer agrees with the block layout
        deq = gguf.quants.dequantize(tensors["c.q8"].data, gguf.GGMLQuantizationType.Q8_0)
        if deq.size != 128:
            bad.append("c.q8: dequantized to %d values" % deq.size)
    for b in bad:
        print("MISMATCH", b)
    print("check-petit: %s" % ("FAILED" if bad else "ok"))
    return not bad


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("dump", "check-petit", "fixture"):
        print(__doc__)
        return 2
    cmd, path = sys.argv[1], sys.argv[2]
    if cmd == "dump":
        dump(path)
    elif cmd == "fixture":
        write_fixture(path)
        dump(path)
    else:
        return 0 if check_petit(path) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
