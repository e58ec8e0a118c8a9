#!/usr/bin/env python3
"""Keras 3.15.1 oracles for the backend table's GRU op (test_backend_ops_gru.c).

The op (framework/backend_ops.h gru_forward / gru_backward) takes one
cotangent, for its output y; the fixtures of tests/fixtures/gru that mask
AND return the state (mask_last, zero_output_for_mask, go_backwards with a
mask, reset_after=False with a mask) therefore cannot check its gradients.
These cases are their twins without return_state, so the loss is
sum(output * dy) alone. Everything else (data, the independent NumPy GRU
and finite-difference checks run before anything is written, the file
layout) is tests/gen_gru_fixtures.py's, imported from it.

Run from the repository root with the Python that has Keras 3 (TensorFlow
backend, CPU) and h5py:

    /work/kenv/bin/python tests/gen_backend_gru_fixtures.py

Made with keras 3.15.1 / tensorflow-cpu 2.21. Writes
tests/fixtures/gru_op/<case>.h5 and cases.txt.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen_gru_fixtures as g  # noqa: E402  (sets TF's environment first)

OUT_DIR = os.path.join(HERE, "fixtures", "gru_op")


def build_cases():
    c, M = g.case, g.MASK6
    return [
        c("op_mask_last_f64", B=6, T=6, mask=M, init=True),
        c("op_mask_last_zofm_f64", B=6, T=6, mask=M, init=True, zero_output_for_mask=True),
        c("op_mask_seq_zofm_f64", B=6, T=6, mask=M, init=True, return_sequences=True,
          zero_output_for_mask=True),
        c("op_backwards_mask_last_f64", B=6, T=6, mask=M, init=True, go_backwards=True),
        c("op_backwards_mask_seq_zofm_f64", B=6, T=6, mask=M, return_sequences=True,
          go_backwards=True, zero_output_for_mask=True),
        c("op_mask_reset_before_last_f64", B=6, T=6, mask=M, init=True, reset_after=False),
        c("op_mask_nobias_reset_before_seq_f64", B=6, T=6, mask=M, return_sequences=True,
          reset_after=False, use_bias=False),
        c("op_mask_acts_backwards_seq_f64", B=6, T=6, mask=M, init=True, return_sequences=True,
          go_backwards=True, activation="softsign", recurrent_activation="hard_sigmoid"),
        c("op_mask_seq_f32", dtype="float32", B=6, T=6, mask=M, init=True,
          return_sequences=True),
    ]


def main():
    import h5py
    import keras
    import tensorflow as tf

    assert keras.backend.backend() == "tensorflow"
    if keras.__version__ != "3.15.1":
        print("warning: fixtures were made with keras 3.15.1, this is",
              keras.__version__, file=sys.stderr)
    cases = build_cases()
    results = {x["name"]: g.gen_case(keras, tf, x) for x in cases}  # all checked first
    os.makedirs(OUT_DIR, exist_ok=True)
    for x in cases:
        data, attrs = results[x["name"]]
        g.write_case(h5py, os.path.join(OUT_DIR, x["name"] + ".h5"), data, attrs)
    with open(os.path.join(OUT_DIR, "cases.txt"), "w") as f:
        f.write("\n".join(x["name"] for x in cases) + "\n")
    print("wrote %d keras cases to %s" % (len(cases), OUT_DIR))


if __name__ == "__main__":
    main()
