#!/usr/bin/env python3
"""Regenerate the GRU oracle fixtures in tests/fixtures/gru/ from Keras 3.

Run from the repository root with the Python that has Keras 3 (TensorFlow
backend, CPU) and h5py:

    python3 tests/gen_gru_fixtures.py
    /usr/bin/python3 tests/gen_gru_fixtures_torch.py    # torch_*.h5 (PyTorch)

Made with keras 3.15.1 / tensorflow-cpu 2.21 / numpy 2.4 / h5py 3.14.
Deterministic: every case draws its data from numpy's default_rng seeded
with crc32(case name) (an unroll case reuses its twin's seed), and oneDNN is switched off so TF's float32 matmuls do
not depend on the CPU.

Before anything is written, every case is checked against an independent
NumPy float64 implementation of the GRU equations (spec sections 1.2-1.4,
3.2 with TensorFlow's masked-output rule, 5.1, 5.3, 8): forward outputs and
losses to 1e-10 (float64 cases) or 2e-6 (float32), and all gradients against
central finite differences of the NumPy loss (1e-7 / 1e-4 relative). If the
torch_*.h5 files exist, they are also rebuilt with Keras from their config
and weights and compared (PyTorch nn.GRU versus Keras).

Layout of one case file <case>.h5 (what the C tests read)
---------------------------------------------------------
root attributes
  config_json   variable-length UTF-8 string (h5py's default for str, the
                same type Keras uses for its own string attributes):
                json.dumps(layer.get_config())
  dtype         variable-length UTF-8 string, "float32" or "float64"
  training      int64 0/1, the `training` flag of the call(s)
  n_outputs     int64, number of tensors the layer call returns (extra,
                equals the number of output_<i> datasets)
  (stateful cases only) n_calls, reset_before_call: int64
datasets (case dtype unless noted)
  x (B,T,F); mask uint8 (B,T), 1 = keep [optional];
  initial_state (B,U) [optional]
  kernel (F,3U); recurrent_kernel (U,3U); bias (2,3U) or (3U,) [if use_bias]
  output_0, output_1, ...   outputs in call order (sequence/last output,
                            then the final state when return_state)
  dy_0, dy_1, ...           random cotangents, same shapes as the outputs
  losses                    scalar: sum(layer.losses) after the call
  grad_x, grad_initial_state [if initial_state], grad_kernel,
  grad_recurrent_kernel, grad_bias [if use_bias]:
      gradients of  sum_i sum(output_i * dy_i) + sum(layer.losses)
stateful cases instead of x/outputs/dy/grads/losses:
  x_call0 .. x_call{n-1}, output_call<k>_<i>; layer.reset_state() was
  called right before call `reset_before_call` (the last one).

Keras 3.15.1 / TF-backend behaviour the fixtures contain (and the NumPy
reference reproduces on purpose)
-------------------------------------------------------------------------
* Masked steps (TF generic loop): the state is frozen; the output repeats the
  previous OUTPUT, zeros before a row's first valid step (not the initial
  state), zeros everywhere with zero_output_for_mask=True; a fully masked row
  returns zeros as output and the initial state as final state.
* Activity regularizer: applied to every returned tensor (also the state with
  return_state) and divided by that tensor's batch size (3.14+).
* Float64 layers still use float32-rounded constants in a few places:
  leaky_relu slope float32(0.2), gelu's 1/sqrt(2) as float32, and the
  L1/L2/L1L2 coefficients (ops.cast of a Python float goes through float32
  on TF). Relative effect ~1e-8..1e-9.
* sparsemax: Keras 3.15.1's threshold is wrong (_sparsemax_keras315); no
  fixture is generated for it (rnnc implements the corrected formula).
* OrthogonalRegularizer fails on float64 weights, so that case is float32.

Cases not generated
-------------------
* dropout / recurrent_dropout: the masks come from TF's RNG; cannot be
  matched bit-for-bit (spec section 4).
* activation "glu": halves the last axis, so the (B,U) gate product fails
  inside GRUCell.call (TF "Incompatible shapes: [B,U] vs. [B,U/2]"); Keras
  accepts the name at construction and fails at call time.
* activation "threshold": needs two extra positional arguments; Keras fails
  at call time with a TypeError when used by name.
* "swish" / "hard_swish": aliases of silu / hard_silu; get_config serializes
  them as "silu" / "hard_silu", so the cases would duplicate act_silu /
  act_hard_silu.
"""

import json
import math
import os
import sys
import zlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["CUDA_VISIBLE_DEVICES"] = ""  # generic loop, never cuDNN

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fixtures", "gru")

# Written by tests/gen_gru_fixtures_torch.py (run with /usr/bin/python3).
TORCH_CASES = ["torch_gru_seq", "torch_gru_seq_init"]

# ---------------------------------------------------------------------------
# Independent NumPy float64 reference
# ---------------------------------------------------------------------------


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _hard_sigmoid(x):
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


_erf = np.vectorize(math.erf, otypes=[np.float64])


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _log_softmax(x):
    s = x - x.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def _sparsemax(x):
    """Textbook sparsemax (Martins & Astudillo 2016): tau = (cumsum_k - 1)/k."""
    z = np.sort(x, axis=-1)[..., ::-1]
    k = np.arange(1, x.shape[-1] + 1)
    cs = np.cumsum(z, axis=-1)
    support = 1 + k * z > cs
    kz = support.sum(axis=-1, keepdims=True)
    tau = (np.take_along_axis(cs, kz - 1, axis=-1) - 1.0) / kz
    return np.maximum(x - tau, 0.0)


LEAKY_SLOPE = float(np.float32(0.2))
GELU_C = float(np.float32(0.7071067811865476))
def _sparsemax_keras315(x):
    """Keras 3.15.1's sparsemax (all backends): tau is built from the SUM of
    the cumulative sums over the support, tau = (sum_{j<=k} cumsum_j - 1)/k.
    Differs from the textbook whenever the support has more than one element
    (outputs then do not sum to 1). keras-team/keras issue #23425, fixed on
    master by PR #23469 (after 3.15.1). The fixture follows Keras 3.15.1."""
    z = np.sort(x, axis=-1)[..., ::-1]
    k = np.arange(1, x.shape[-1] + 1)
    cs = np.cumsum(z, axis=-1)
    support = z - (cs - 1.0) / k > 0
    kz = support.sum(axis=-1, keepdims=True)
    tau = (np.where(support, cs, 0.0).sum(axis=-1, keepdims=True) - 1.0) / kz
    return np.maximum(x - tau, 0.0)


SELU_A = 1.6732632423543772848170429916717
SELU_L = 1.0507009873554804934193349852946

ACTIVATIONS = {
    "linear": lambda x: x,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "hard_sigmoid": _hard_sigmoid,
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.minimum(np.maximum(x, 0.0), 6.0),
    # TF's LeakyRelu takes alpha as a float32 op attribute, so even a float64
    # layer uses slope float32(0.2) = 0.20000000298023224 (not 0.2).
    "leaky_relu": lambda x: np.where(x >= 0, x, LEAKY_SLOPE * x),
    "elu": _elu,
    "selu": lambda x: SELU_L * _elu(x, SELU_A),
    "celu": lambda x: np.maximum(x, 0.0) + np.expm1(np.minimum(x, 0.0)),
    # tf.nn.gelu(approximate=False) computes 0.5*x*erfc(-x*c) with
    # c = cast(0.7071067811865476) made from a float32 constant, so float64
    # layers use c = float32(1/sqrt(2)) = 0.7071067690849304.
    "gelu": lambda x: x * (1.0 + _erf(x * GELU_C)) / 2.0,
    "softplus": _softplus,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "silu": lambda x: x * _sigmoid(x),
    "hard_silu": lambda x: x * _hard_sigmoid(x),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "exponential": np.exp,
    "log_sigmoid": lambda x: -_softplus(-x),
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "soft_shrink": lambda x: np.where(x > 0.5, x - 0.5,
                                      np.where(x < -0.5, x + 0.5, 0.0)),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0.0),
    "sparse_sigmoid": lambda x: np.clip((x + 1.0) / 2.0, 0.0, 1.0),
    "sparse_plus": lambda x: np.where(x <= -1.0, 0.0,
                                      np.where(x >= 1.0, x, (x + 1.0) ** 2 / 4.0)),
    "squareplus": lambda x: (x + np.sqrt(x * x + 4.0)) / 2.0,
    "sparsemax": _sparsemax_keras315,   # NOT the textbook _sparsemax
}


def np_gru(cfg, x, W, R, b, h0=None, mask=None):
    """One GRU layer call. Returns (list of outputs, final state)."""
    U = cfg["units"]
    act = ACTIVATIONS[cfg["activation"]]
    ract = ACTIVATIONS[cfg["recurrent_activation"]]
    Bn, T, _ = x.shape
    h = np.zeros((Bn, U)) if h0 is None else np.array(h0, dtype=np.float64)
    y_prev = np.zeros((Bn, U))
    outs = []
    steps = range(T - 1, -1, -1) if cfg["go_backwards"] else range(T)
    for t in steps:
        xw = x[:, t] @ W
        if cfg["use_bias"]:
            xw = xw + (b[0] if cfg["reset_after"] else b)
        if cfg["reset_after"]:
            hr = h @ R
            if cfg["use_bias"]:
                hr = hr + b[1]
            z = ract(xw[:, :U] + hr[:, :U])
            r = ract(xw[:, U:2 * U] + hr[:, U:2 * U])
            hh = act(xw[:, 2 * U:] + r * hr[:, 2 * U:])
        else:
            z = ract(xw[:, :U] + h @ R[:, :U])
            r = ract(xw[:, U:2 * U] + h @ R[:, U:2 * U])
            hh = act(xw[:, 2 * U:] + (r * h) @ R[:, 2 * U:])
        hn = z * h + (1.0 - z) * hh
        if mask is None:
            y, h = hn, hn
        else:
            m = mask[:, t].astype(bool)[:, None]
            # TF generic loop: masked step -> previous output (zeros before
            # the first valid step), or zeros with zero_output_for_mask.
            masked_out = np.zeros_like(hn) if cfg["zero_output_for_mask"] else y_prev
            y = np.where(m, hn, masked_out)
            h = np.where(m, hn, h)
        y_prev = y
        outs.append(y)
    main = np.stack(outs, axis=1) if cfg["return_sequences"] else outs[-1]
    res = [main]
    if cfg["return_state"]:
        res.append(h)
    return res, h


def np_regularizer(spec, w):
    if spec is None:
        return 0.0
    cn, c = spec["class_name"], spec["config"]
    # L1/L2/L1L2 do ops.cast(coef, x.dtype); on the TF backend the Python
    # float becomes a float32 tensor first, so a float64 layer uses the
    # float32-rounded coefficient (0.01 -> 0.009999999776482582).
    f32 = lambda v: float(np.float32(v))
    if cn == "L1":
        return f32(c["l1"]) * np.abs(w).sum()
    if cn == "L2":
        return f32(c["l2"]) * (w * w).sum()
    if cn == "L1L2":
        return f32(c["l1"]) * np.abs(w).sum() + f32(c["l2"]) * (w * w).sum()
    if cn == "OrthogonalRegularizer":
        X = w if c["mode"] == "rows" else w.T
        X = X / np.maximum(np.sqrt((X * X).sum(axis=1, keepdims=True)), 1e-7)
        P = X @ X.T
        n = P.shape[0]
        off = np.abs(P).sum() - np.abs(np.diag(P)).sum()
        return c["factor"] * 0.5 * off / (n * (n - 1) / 2.0)
    raise ValueError(cn)


def np_losses(cfg, W, R, b, outs):
    tot = np_regularizer(cfg["kernel_regularizer"], W)
    tot += np_regularizer(cfg["recurrent_regularizer"], R)
    if cfg["use_bias"]:
        tot += np_regularizer(cfg["bias_regularizer"], b)
    if cfg["activity_regularizer"] is not None:
        for o in outs:  # every returned tensor, divided by batch size (3.14+)
            tot += np_regularizer(cfg["activity_regularizer"], o) / o.shape[0]
    return tot


def np_total_loss(cfg, p, mask, dys):
    outs, _ = np_gru(cfg, p["x"], p["kernel"], p["recurrent_kernel"],
                     p.get("bias"), p.get("initial_state"), mask)
    loss = sum((o * d).sum() for o, d in zip(outs, dys))
    return loss + np_losses(cfg, p["kernel"], p["recurrent_kernel"],
                            p.get("bias"), outs)


def np_fd_grads(cfg, p, mask, dys, eps=1e-6):
    p = {k: np.array(v, dtype=np.float64) for k, v in p.items()}
    dys = [np.asarray(d, dtype=np.float64) for d in dys]
    grads = {}
    for name, arr in p.items():
        g = np.zeros_like(arr)
        flat, gf = arr.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            lp = np_total_loss(cfg, p, mask, dys)
            flat[i] = old - eps
            lm = np_total_loss(cfg, p, mask, dys)
            flat[i] = old
            gf[i] = (lp - lm) / (2 * eps)
        grads[name] = g
    return grads


def check_close(what, got, want, tol):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{what}: shape {got.shape} != {want.shape}")
    err = np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)), initial=0.0)
    if not np.all(np.isfinite(got)) or err > tol:
        raise AssertionError(f"{what}: max rel err {err:.3g} > {tol}")
    return err


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

# Mask rows (T = 6): full; right-padded; interior gaps; leading masked;
# fully masked; leading + interior + trailing masked.
MASK6 = np.array([[1, 1, 1, 1, 1, 1],
                  [1, 1, 1, 1, 0, 0],
                  [1, 1, 0, 0, 1, 1],
                  [0, 0, 1, 1, 1, 1],
                  [0, 0, 0, 0, 0, 0],
                  [0, 1, 1, 0, 1, 0]], dtype=np.uint8)
MASK_RPAD = np.array([[1, 1, 1, 1, 1],
                      [1, 1, 1, 0, 0],
                      [1, 0, 0, 0, 0]], dtype=np.uint8)


def case(name, dtype="float64", B=3, T=5, F=4, U=3, mask=None, init=False,
         training=False, xscale=1.0, stateful_calls=0, seed=None, **kw):
    return dict(name=name, seed=seed or name, dtype=dtype, B=B, T=T, F=F, U=U, mask=mask,
                init=init, training=training, xscale=xscale,
                stateful_calls=stateful_calls, kw=kw)


def build_cases():
    C = []
    # 1. default
    C.append(case("default_f64"))
    C.append(case("default_f32", dtype="float32"))
    # 2. outputs
    C.append(case("seq_f64", T=6, F=3, U=4, return_sequences=True))
    C.append(case("state_f64", B=2, return_state=True))
    C.append(case("seq_state_f64", T=4, F=5, return_sequences=True,
                  return_state=True))
    # 3. reset_after=False
    C.append(case("reset_before_f64", reset_after=False))
    C.append(case("reset_before_seq_f64", U=4, return_sequences=True,
                  reset_after=False))
    # 4. no bias
    C.append(case("nobias_reset_after_f64", return_sequences=True,
                  use_bias=False))
    C.append(case("nobias_reset_before_f64", U=2, use_bias=False,
                  reset_after=False))
    # 5. go_backwards
    C.append(case("backwards_seq_f64", return_sequences=True,
                  go_backwards=True))
    C.append(case("backwards_seq_mask_f64", B=6, T=6, mask=MASK6, init=True,
                  return_sequences=True, return_state=True,
                  go_backwards=True))
    # 6. initial_state
    C.append(case("init_state_f64", init=True))
    C.append(case("init_state_mask_f64", mask=MASK_RPAD, init=True,
                  return_sequences=True))
    # 7. masks (all with a non-zero initial state and return_state)
    for seq in (True, False):
        for zofm in (False, True):
            nm = "mask_%s%s_f64" % ("seq" if seq else "last",
                                     "_zofm" if zofm else "")
            C.append(case(nm, B=6, T=6, mask=MASK6, init=True,
                          return_sequences=seq, return_state=True,
                          zero_output_for_mask=zofm))
    C.append(case("mask_reset_before_seq_f64", B=6, T=6, mask=MASK6,
                  init=True, return_sequences=True, return_state=True,
                  reset_after=False))
    C.append(case("mask_noinit_seq_f64", B=6, T=6, mask=MASK6,
                  return_sequences=True))
    # 8. activations
    for a in ACTIVATIONS:
        if a == "sparsemax":
            # Keras 3.15.1's sparsemax is wrong (keras issue #23425, fixed by
            # PR #23469 after the release); rnnc implements the corrected
            # formula, so a Keras 3.15.1 fixture would encode the bug.
            continue
        C.append(case("act_%s_f64" % a, U=4, T=4, xscale=2.0,
                      return_sequences=True, activation=a))
    for a in ("hard_sigmoid", "relu", "linear", "softsign", "tanh"):
        C.append(case("recact_%s_f64" % a, U=4, T=4, xscale=2.0,
                      return_sequences=True, recurrent_activation=a))
    # 9. regularizers (need keras objects; built lazily in make_layer)
    C.append(case("reg_all_f64", training=True, return_sequences=True,
                  return_state=True, regs="all"))
    C.append(case("reg_all_last_f64", B=4, training=True, regs="all"))
    # float32: Keras 3.15.1's OrthogonalRegularizer keeps `factor` as a
    # float32 tensor and fails on float64 weights (TF "cannot compute Mul as
    # input #1 was expected to be a float tensor but is a double tensor").
    C.append(case("reg_orthogonal_f32", dtype="float32", U=4, training=True,
                  regs="orthogonal"))
    # 10. unroll
    # (same data as their non-unrolled twins, see UNROLL_TWINS)
    C.append(case("unroll_seq_f64", T=6, F=3, U=4, seed="seq_f64",
                  return_sequences=True, unroll=True))
    C.append(case("unroll_mask_seq_f64", B=6, T=6, mask=MASK6, init=True,
                  seed="mask_seq_f64", return_sequences=True,
                  return_state=True, unroll=True))
    # 11. stateful
    C.append(case("stateful_f64", stateful_calls=4, stateful=True))
    C.append(case("stateful_seq_state_f64", stateful_calls=4, U=2,
                  stateful=True, return_sequences=True, return_state=True))
    # 12. float32 versions
    C.append(case("mask_seq_f32", dtype="float32", B=6, T=6, mask=MASK6,
                  init=True, return_sequences=True, return_state=True))
    C.append(case("reset_before_f32", dtype="float32", reset_after=False))
    C.append(case("seq_state_f32", dtype="float32", T=4, F=5,
                  return_sequences=True, return_state=True))
    return C


# Non-unrolled twins: unroll must give the same numbers as the loop.
UNROLL_TWINS = {"unroll_seq_f64": "seq_f64",
                "unroll_mask_seq_f64": "mask_seq_f64"}


def make_layer(keras, c):
    kw = dict(c["kw"])
    regs = kw.pop("regs", None)
    R = keras.regularizers
    if regs == "all":
        kw.update(kernel_regularizer=R.L2(0.01),
                  recurrent_regularizer=R.L1(0.02),
                  bias_regularizer=R.L1L2(l1=0.01, l2=0.02),
                  activity_regularizer=R.L2(0.03))
    elif regs == "orthogonal":
        kw.update(recurrent_regularizer=R.OrthogonalRegularizer(
                      factor=0.05, mode="rows"),
                  kernel_regularizer=R.OrthogonalRegularizer(
                      factor=0.03, mode="columns"))
    return keras.layers.GRU(c["U"], name="gru", dtype=c["dtype"], **kw)


def gen_case(keras, tf, c):
    name, dt = c["name"], np.dtype(c["dtype"])
    B, T, F, U = c["B"], c["T"], c["F"], c["U"]
    rng = np.random.default_rng(zlib.crc32(c["seed"].encode()))
    layer = make_layer(keras, c)
    cfg = layer.get_config()
    ncalls = c["stateful_calls"]

    xs = [(c["xscale"] * rng.uniform(-1, 1, (B, T, F))).astype(dt)
          for _ in range(max(1, ncalls))]
    h0 = rng.uniform(-1, 1, (B, U)).astype(dt) if c["init"] else None
    mask = c["mask"]
    layer.build((B, T, F))
    ws = [rng.uniform(-0.5, 0.5, tuple(w.shape)).astype(dt)
          for w in layer.weights]
    layer.set_weights(ws)
    wnames = ["kernel", "recurrent_kernel", "bias"][:len(ws)]
    W, Rk = ws[0], ws[1]
    bias = ws[2] if len(ws) > 2 else None
    f64 = lambda a: None if a is None else np.asarray(a, np.float64)
    fwd_tol = 1e-10 if dt == np.float64 else 2e-6

    data = {"x": xs[0]}
    if mask is not None:
        data["mask"] = mask.astype(np.uint8)
    if h0 is not None:
        data["initial_state"] = h0
    data.update(dict(zip(wnames, ws)))
    attrs = {"config_json": json.dumps(cfg), "dtype": dt.name,
             "training": int(c["training"])}

    if ncalls:
        del data["x"]
        state = None
        for k in range(ncalls):
            if k == ncalls - 1:
                layer.reset_state()
                state = None
            outs = layer(tf.constant(xs[k]), training=c["training"])
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            ref, state = np_gru(cfg, f64(xs[k]), f64(W), f64(Rk), f64(bias),
                                state, None)
            data["x_call%d" % k] = xs[k]
            for i, (o, r) in enumerate(zip(outs, ref)):
                check_close(f"{name} call{k} output_{i}", o.numpy(), r, fwd_tol)
                data["output_call%d_%d" % (k, i)] = o.numpy()
            assert len(outs) == len(ref)
        attrs.update(n_calls=ncalls, reset_before_call=ncalls - 1,
                     n_outputs=len(outs))
        return data, attrs

    xt = tf.constant(xs[0])
    ht = tf.constant(h0) if h0 is not None else None
    mt = tf.constant(mask.astype(bool)) if mask is not None else None
    with tf.GradientTape() as tape:
        tape.watch(xt)
        if ht is not None:
            tape.watch(ht)
        outs = layer(xt, initial_state=ht, mask=mt, training=c["training"])
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        dys = [rng.uniform(-1, 1, tuple(o.shape)).astype(dt) for o in outs]
        reg = tf.add_n(layer.losses) if layer.losses else tf.constant(0, dt)
        loss = tf.add_n([tf.reduce_sum(o * d) for o, d in zip(outs, dys)])
        loss = loss + tf.cast(reg, dt)
    srcs = [xt] + ([ht] if ht is not None else []) + list(layer.trainable_weights)
    grads = tape.gradient(loss, srcs)
    gnames = ["x"] + (["initial_state"] if ht is not None else []) + wnames

    # --- independent NumPy check --------------------------------------
    ref, _ = np_gru(cfg, f64(xs[0]), f64(W), f64(Rk), f64(bias), f64(h0), mask)
    assert len(ref) == len(outs), (name, len(ref), len(outs))
    for i, (o, r) in enumerate(zip(outs, ref)):
        check_close(f"{name} output_{i}", o.numpy(), r, fwd_tol)
    ref_losses = np_losses(cfg, f64(W), f64(Rk), f64(bias), ref)
    check_close(f"{name} losses", float(reg.numpy()), ref_losses, fwd_tol)
    p = {"x": xs[0], "kernel": W, "recurrent_kernel": Rk}
    if h0 is not None:
        p["initial_state"] = h0
    if bias is not None:
        p["bias"] = bias
    fd = np_fd_grads(cfg, p, mask, dys)
    gtol = 1e-7 if dt == np.float64 else 1e-4
    for gn, g in zip(gnames, grads):
        check_close(f"{name} grad_{gn}", g.numpy(), fd[gn], gtol)

    for i, (o, d) in enumerate(zip(outs, dys)):
        data["output_%d" % i] = o.numpy().astype(dt)
        data["dy_%d" % i] = d
    data["losses"] = np.array(reg.numpy(), dtype=dt)
    for gn, g in zip(gnames, grads):
        data["grad_" + gn] = g.numpy().astype(dt)
    attrs["n_outputs"] = len(outs)
    return data, attrs


def write_case(h5py, path, data, attrs):
    with h5py.File(path, "w") as f:
        for k, v in attrs.items():
            if isinstance(v, str):
                f.attrs[k] = v  # variable-length UTF-8
            else:
                f.attrs[k] = np.int64(v)
        for k, v in data.items():
            f.create_dataset(k, data=np.asarray(v), track_times=False)


def check_torch_case(keras, tf, h5py, path):
    """Rebuild a PyTorch-made fixture with Keras and compare."""
    with h5py.File(path, "r") as f:
        cfg = json.loads(f.attrs["config_json"])
        d = {k: f[k][()] for k in f.keys()}
    layer = keras.layers.GRU.from_config(cfg)
    x = d["x"]
    layer.build(x.shape)
    layer.set_weights([d["kernel"], d["recurrent_kernel"], d["bias"]])
    xt = tf.constant(x)
    ht = tf.constant(d["initial_state"]) if "initial_state" in d else None
    with tf.GradientTape() as tape:
        tape.watch(xt)
        if ht is not None:
            tape.watch(ht)
        y = layer(xt, initial_state=ht)
        loss = tf.reduce_sum(y * d["dy_0"])
    srcs = [xt] + ([ht] if ht is not None else []) + list(layer.trainable_weights)
    gn = ["x"] + (["initial_state"] if ht is not None else []) + \
        ["kernel", "recurrent_kernel", "bias"]
    check_close(path + " output_0", y.numpy(), d["output_0"], 1e-10)
    for n, g in zip(gn, tape.gradient(loss, srcs)):
        check_close(path + " grad_" + n, g.numpy(), d["grad_" + n], 1e-10)


def main():
    import h5py
    import keras
    import tensorflow as tf

    assert keras.backend.backend() == "tensorflow"
    if keras.__version__ != "3.15.1":
        print("warning: fixtures were made with keras 3.15.1, this is",
              keras.__version__, file=sys.stderr)
    cases = build_cases()
    names = [c["name"] for c in cases]
    assert len(set(names)) == len(names)
    results = {}
    for c in cases:  # check everything before writing anything
        results[c["name"]] = gen_case(keras, tf, c)
    for a, b in UNROLL_TWINS.items():
        for k, v in results[a][0].items():
            if k.startswith(("output_", "grad_")):
                check_close(f"unroll {a} vs {b} {k}", v, results[b][0][k], 1e-12)

    os.makedirs(OUT_DIR, exist_ok=True)
    for c in cases:
        data, attrs = results[c["name"]]
        write_case(h5py, os.path.join(OUT_DIR, c["name"] + ".h5"), data, attrs)
    with open(os.path.join(OUT_DIR, "cases.txt"), "w") as f:
        f.write("\n".join(names + TORCH_CASES) + "\n")

    for t in TORCH_CASES:
        p = os.path.join(OUT_DIR, t + ".h5")
        if os.path.exists(p):
            check_torch_case(keras, tf, h5py, p)
            print("checked", t, "against keras")
        else:
            print("warning: %s missing; run /usr/bin/python3 "
                  "tests/gen_gru_fixtures_torch.py" % p, file=sys.stderr)
    print("wrote %d keras cases to %s" % (len(cases), OUT_DIR))


if __name__ == "__main__":
    main()
