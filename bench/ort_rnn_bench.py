#!/usr/bin/env python3
"""Peer benchmark of `rnnc bench gru|lstm --peer ort`: ONNX Runtime's CPU
execution provider running nn.GRU / nn.LSTM exported to ONNX (its GRU /
LSTM operator), forward only.

Same command line and CSV as ../shared/bench/torch_gru_bench.py: for each
shape (B, T, F, U), float32, it times
  fwd   - InferenceSession.run of the exported module on a (B, T, F) input
and prints one row per shape and thread count: B,T,F,U,threads,fwd_ms,nan
(ONNX Runtime does not train: the train column is nan). The module is
exported with PyTorch's TorchScript-based exporter
(torch.onnx.export(..., dynamo=False), opset 17, which writes one ONNX
GRU / LSTM node); each thread count gets its own session
(intra_op_num_threads = the count, inter_op_num_threads = 1, sequential
execution, all graph optimizations). Needs torch, onnx and onnxruntime
(e.g. a venv made by bench/setup_peers.sh):

  /work/pvenv/bin/python bench/ort_rnn_bench.py --shapes "1,100,128,512" --threads 1,2
"""
import os
import tempfile
import warnings

import numpy as np
import onnxruntime as ort
import torch

from peer_common import median_ms, peer_parser, read_shapes  # bench/peer_common.py


class Last(torch.nn.Module):
    """The RNN's full output sequence (what rnnc's forward computes too)."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn(x)[0]


def export(layer, B, T, F, U, path):
    torch.manual_seed(0)
    rnn = (torch.nn.LSTM if layer == "lstm" else torch.nn.GRU)(F, U, batch_first=True)
    x = torch.rand(B, T, F) * 2 - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Last(rnn).eval(), (x,), path, input_names=["x"], output_names=["y"],
                          opset_version=17, dynamo=False)
    return x.numpy()


def main():
    ap = peer_parser(__doc__)
    ap.add_argument("--layer", choices=("gru", "lstm"), default="gru")
    args = ap.parse_args()
    print(f"# version: onnxruntime {ort.__version__} (CPUExecutionProvider), export: torch "
          f"{torch.__version__}", flush=True)
    print("B,T,F,U,threads,fwd_ms,train_ms", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for B, T, F, U in read_shapes(args.shapes):
            path = os.path.join(tmp, "rnn.onnx")
            x = np.ascontiguousarray(export(args.layer, B, T, F, U, path))
            for threads in (int(t) for t in args.threads.split(",")):
                so = ort.SessionOptions()
                so.intra_op_num_threads = threads
                so.inter_op_num_threads = 1
                so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
                fwd_ms = median_ms(lambda: sess.run(None, {"x": x}), args.min_time, args.min_reps)
                print(f"{B},{T},{F},{U},{threads},{fwd_ms:.4f},nan", flush=True)


if __name__ == "__main__":
    main()
