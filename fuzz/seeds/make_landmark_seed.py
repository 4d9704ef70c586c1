#!/usr/bin/env python3
"""Writes a tiny valid dlib shape_predictor (68 parts, one cascade of one
depth-1 tree) in dlib's binary serialisation, as a fuzzing seed."""
import struct, sys

def pack_int(v):
    neg = v < 0
    m = -v if neg else v
    b = m.to_bytes(max(1, (m.bit_length() + 7) // 8), "little")
    return bytes([len(b) | (0x80 if neg else 0)]) + b

def pack_float(x):
    # float_details: integer mantissa and power-of-two exponent.
    if x == 0:
        return pack_int(0) + pack_int(0)
    e = 0
    while x != int(x) and e > -40:
        x *= 2
        e -= 1
    return pack_int(int(x)) + pack_int(e)

def column(values):
    return pack_int(-len(values)) + pack_int(-1) + b"".join(pack_float(v) for v in values)

n = 68 * 2
shape = [((i // 2) % 10) / 16 + (0.25 if i % 2 else 0.125) for i in range(n)]
out = pack_int(1) + column(shape)
out += pack_int(1)            # cascades
out += pack_int(1)            # trees in the cascade
out += pack_int(1) + pack_int(0) + pack_int(1) + pack_float(0.5)  # one split
out += pack_int(2) + column([0.0] * n) + column([1 / 64] * n)      # two leaves
out += pack_int(1) + pack_int(2) + pack_int(30) + pack_int(48)     # anchors
out += pack_int(1) + pack_int(2) + pack_float(0.25) + pack_float(-0.125) + pack_float(0.5) + pack_float(0.0)
sys.stdout.buffer.write(out)
