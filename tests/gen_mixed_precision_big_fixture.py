#!/usr/bin/env python3
"""Writes tests/fixtures/mixed_precision/big.h5 from Keras 3.15.1 on TensorFlow
(CPU, oneDNN on as in gen_mixed_precision_fixtures.py), read by
tests/test_mixed_precision_big.c.

A GRU bigger than the small fixtures' (units 32, T=50, F=2, B=8,
return_sequences) under mixed_bfloat16, where Keras's eager call and its
graph-mode predict do not agree with each other. One group per case, the
model JSON in root attr model_<case>:
  w/<i>      weights (float32 variables) in Keras's order: Keras's default
             initialisers (glorot kernel, orthogonal recurrent kernel) and
             a bias drawn from U(-0.5, 0.5)
  x          inputs (B, T, F) float32: the adding task's (a value in
             [0, 1) and a 0/1 marker)
  y_eager    model(x) in eager mode, all steps, as bfloat16 bit patterns
             (uint16: the float32 value's upper 16 bits, exact)
  y_graph_d  model.predict(x) (graph mode) as the difference of its
             bfloat16 bit patterns from y_eager's (int32; mostly 0, so it
             compresses): y_graph bits = y_eager bits + y_graph_d
  (tf.function(model)(x) is checked equal to y_graph here, not stored)
  y_f32      predict(x) of the same model and weights under float32, the
             last step only (B, U) float32 (kept small)
Why the two modes differ: TensorFlow's graph optimiser (Grappler). With
its remapper pass off (tf.config.optimizer.set_experimental_options(
{"remapping": False})) predict's outputs equal the eager call's bit for
bit on both cases; main() checks that after writing the file. The remapper
fuses ops into one kernel that rounds once where eager rounds each op.

Datasets are deflate-compressed (shuffle + gzip) to keep the file small.
Cases: big_ra (reset_after=True), big_rb (reset_after=False).

Run from the repository root: /work/kenv/bin/python tests/gen_mixed_precision_big_fixture.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# the same environment (oneDNN on), Keras version check and paths
from gen_mixed_precision_fixtures import DIR, L, h5py, keras, np  # noqa: E402
import tensorflow as tf  # noqa: E402

B, T, F, U = 8, 50, 2, 32


def build(policy, reset_after):
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(7)
        return keras.Sequential([keras.Input((T, F)),
                                 L.GRU(U, return_sequences=True, reset_after=reset_after)])
    finally:
        keras.config.set_dtype_policy("float32")


def bits(y):
    y = np.ascontiguousarray(np.asarray(y).astype(np.float32))
    u = y.view(np.uint32)
    assert not np.any(u & 0xFFFF), "not bfloat16 values"
    return (u >> 16).astype(np.uint16)


def put(g, key, a):
    g.create_dataset(key, data=a, compression="gzip", compression_opts=9, shuffle=True)


def case(f, name, reset_after, seed):
    m = build("mixed_bfloat16", reset_after)
    rng = np.random.default_rng(seed)
    w = [np.asarray(v, np.float32) for v in m.get_weights()]
    w[2] = rng.uniform(-0.5, 0.5, w[2].shape).astype(np.float32)
    m.set_weights(w)
    ref = build("float32", reset_after)
    ref.set_weights(w)
    x = np.zeros((B, T, F), np.float32)
    x[:, :, 0] = rng.uniform(0, 1, (B, T))
    for b in range(B):
        x[b, rng.choice(T, 2, replace=False), 1] = 1
    g = f.create_group(name)
    f.attrs["model_" + name] = m.to_json()
    for i, v in enumerate(w):
        put(g, "w/%d" % i, v)
    put(g, "x", x)
    ye = m(tf.constant(x)).numpy()
    yg = m.predict(x, verbose=0)
    yf = tf.function(m)(tf.constant(x)).numpy()
    assert np.array_equal(bits(yg), bits(yf)), "predict and tf.function differ"
    put(g, "y_eager", bits(ye))
    d = bits(yg).astype(np.int32) - bits(ye).astype(np.int32)
    print("  max |bit-pattern difference| graph - eager (large where the sign flips near 0):", int(np.max(np.abs(d))))
    put(g, "y_graph_d", d.astype(np.int32))
    y32 = ref.predict(x, verbose=0)
    put(g, "y_f32", y32[:, -1, :].astype(np.float32))
    ye, yg, yf = (a.astype(np.float32) for a in (ye, yg, yf))
    print(name, "eager != predict:", int(np.sum(ye != yg)), "of", ye.size,
          "(last step", int(np.sum(ye[:, -1] != yg[:, -1])), "of", B * U, ")",
          "predict != tf.function:", int(np.sum(yg != yf)),
          "max |eager - f32| last step", float(np.max(np.abs(ye[:, -1] - y32[:, -1]))))


def main():
    path = os.path.join(DIR, "big.h5")
    with h5py.File(path, "w", libver="latest") as f:
        case(f, "big_ra", True, 11)
        case(f, "big_rb", False, 12)
    print("wrote", path, os.path.getsize(path), "bytes")
    # Grappler's remapper off: graph mode equals eager (not stored)
    tf.config.optimizer.set_experimental_options({"remapping": False})
    with h5py.File(path, "r") as f:
        for name in ("big_ra", "big_rb"):
            g = f[name]
            m = keras.models.model_from_json(f.attrs["model_" + name])
            m.set_weights([g["w/%d" % i][()] for i in range(3)])
            y = m.predict(g["x"][()], verbose=0)
            assert np.array_equal(bits(y), g["y_eager"][()]), name
            print(name, "remapping off: predict == eager call on every element")


if __name__ == "__main__":
    main()
