#!/usr/bin/env python3
"""Peer benchmark: Keras 3's GRU on TensorFlow's CPU backend with XLA, for
the GRU bench shapes (same command line and CSV as
../shared/bench/torch_gru_bench.py, so `rnnc bench gru --peer keras` can
alternate with it).

For each shape (B, T, F, U), float32, it times
  fwd   - inference forward, model(x, training=False)
  train - forward + MSE on the last output + backward + SGD(1e-3) step
both as tf.function(jit_compile=True) (XLA), and prints one CSV row:
B,T,F,U,threads,fwd_ms,train_ms (medians). TensorFlow's thread pools are
fixed when it starts, so each thread count runs in a child process of its
own (intra-op threads = the count, inter-op = 1). Needs Keras 3 and
TensorFlow (e.g. /work/kenv/bin/python):

  /work/kenv/bin/python bench/keras_gru_bench.py --shapes "32,100,16,32" --threads 1,2
"""
import argparse
import os
import subprocess
import sys

from peer_common import median_ms, peer_parser, read_shapes  # bench/peer_common.py


def child(shapes, threads, min_time, min_reps, first):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    if threads == first:
        print(f"# version: keras {keras.__version__}, tensorflow {tf.__version__}, XLA", flush=True)
    for B, T, F, U in shapes:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((T, F)), keras.layers.GRU(U)])
        opt = keras.optimizers.SGD(1e-3)
        opt.build(model.trainable_variables)
        x = tf.random.normal((B, T, F))
        y = tf.random.normal((B, U))

        @tf.function(jit_compile=True)
        def fwd_fn(x):
            return model(x, training=False)

        @tf.function(jit_compile=True)
        def train_fn(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
            grads = tape.gradient(loss, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        fwd = median_ms(lambda: fwd_fn(x).numpy(), min_time, min_reps)
        train = median_ms(lambda: train_fn(x, y).numpy(), min_time, min_reps)
        print(f"{B},{T},{F},{U},{threads},{fwd:.4f},{train:.4f}", flush=True)


def main():
    ap = peer_parser(__doc__)
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    shapes = read_shapes(args.shapes)
    if args.child:
        child(shapes, args.child, args.min_time, args.min_reps, args.first)
        return
    print("B,T,F,U,threads,fwd_ms,train_ms", flush=True)
    counts = [int(v) for v in args.threads.split(",") if v]
    for th in counts:
        spec = ";".join(",".join(str(v) for v in s) for s in shapes)
        subprocess.run([sys.executable, os.path.abspath(__file__), "--shapes", spec, "--child",
                        str(th), "--min-time", str(args.min_time), "--min-reps",
                        str(args.min_reps), "--first", str(counts[0])], check=True)


if __name__ == "__main__":
    main()
