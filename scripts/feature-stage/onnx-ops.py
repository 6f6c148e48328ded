"""Lists the operators of an ONNX file (opset, node op types in order) without the onnx package: a minimal
protobuf walk (ModelProto.graph = 7, opset_import = 8; GraphProto.node = 1; NodeProto.op_type = 4).

usage: /usr/bin/python3 onnx-ops.py FILE.onnx
"""
import sys
from collections import Counter


def fields(buf):
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = varint(buf, i)
        elif wire == 2:
            n, i = varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wire == 5:
            val, i = buf[i:i + 4], i + 4
        elif wire == 1:
            val, i = buf[i:i + 8], i + 8
        else:
            raise ValueError(f'wire type {wire}')
        yield num, val


def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


model = open(sys.argv[1], 'rb').read()
ops = []
for num, val in fields(model):
    if num == 8:
        print('opset', dict(fields(val)).get(2))
    if num == 7:
        for gnum, gval in fields(val):
            if gnum == 1:
                ops.append(next(v.decode() for n, v in fields(gval) if n == 4))
print(' -> '.join(ops))
print(dict(Counter(ops)))
