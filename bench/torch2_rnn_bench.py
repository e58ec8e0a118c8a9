#!/usr/bin/env python3
"""Peer benchmark of `rnnc bench gru|lstm --peer torch2`: PyTorch 2.x (pip,
with MKL) nn.GRU / nn.LSTM on the CPU, eager or under torch.compile; and of
`rnnc bench gru --device cuda` (--device cuda: the module and tensors on the
GPU, cuDNN's GRU).

Same command line and CSV as ../shared/bench/torch_gru_bench.py: for each
shape (B, T, F, U), float32, batch_first, it times
  fwd   - inference forward under torch.no_grad()
  train - forward + MSE on the last output + backward + SGD(1e-3) step
and prints one row per shape and thread count: B,T,F,U,threads,fwd_ms,train_ms
(medians).

--mode eager   (default) the module as it is.
--mode compile torch.compile of the forward and of the training step's
               forward + loss (backward through AOTAutograd), with
               torch._dynamo.config.allow_rnn = True: without it Dynamo
               graph-breaks on nn.GRU / nn.LSTM and runs them eagerly. The
               compilation happens in the warm-up, outside the timed runs.
--layer gru|lstm
--device cpu|cuda  cuda: cuDNN's RNN, full float32 math (TF32 off for cuDNN
               and matmuls, as rnnc's GPU bench), each timed call between
               two torch.cuda.synchronize(). Without a CUDA device it prints
               "# skip: ..." and no row (rnnc bench says so once).

Needs PyTorch 2 (e.g. a venv made by bench/setup_peers.sh):

  /work/pvenv/bin/python bench/torch2_rnn_bench.py --shapes "32,100,16,32" --threads 1,2 --mode compile
"""

import torch

from peer_common import median_ms, peer_parser, read_shapes  # bench/peer_common.py


def bench(layer, mode, device, B, T, F, U, min_time, min_reps):
    torch.manual_seed(0)
    rnn = (torch.nn.LSTM if layer == "lstm" else torch.nn.GRU)(F, U, batch_first=True).to(device)
    opt = torch.optim.SGD(rnn.parameters(), lr=1e-3)
    x = (torch.rand(B, T, F) * 2 - 1).to(device)
    y = (torch.rand(B, U) * 2 - 1).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def forward(x):
        return rnn(x)[0]

    def loss_fn(x, y):
        out = rnn(x)[0]
        return torch.nn.functional.mse_loss(out[:, -1, :], y)

    if mode == "compile":
        forward = torch.compile(forward)
        loss_fn = torch.compile(loss_fn)

    def fwd():
        with torch.no_grad():
            forward(x)
        sync()

    def train():
        opt.zero_grad()
        loss_fn(x, y).backward()
        opt.step()
        sync()

    sync()  # the timer starts with the device idle; each call ends synchronized

    return median_ms(fwd, min_time, min_reps), median_ms(train, min_time, min_reps)


def main():
    ap = peer_parser(__doc__)
    ap.add_argument("--mode", choices=("eager", "compile"), default="eager")
    ap.add_argument("--layer", choices=("gru", "lstm"), default="gru")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = ap.parse_args()
    where = ""
    if args.device == "cuda":
        if not torch.cuda.is_available():
            print(f"# skip: torch {torch.__version__} has no CUDA device "
                  f"(torch.cuda.is_available() is False; torch.version.cuda {torch.version.cuda})",
                  flush=True)
            return
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        where = (f", {torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}, "
                 f"cuDNN {torch.backends.cudnn.version()}, TF32 off")
    if args.mode == "compile":
        import torch._dynamo as dynamo

        dynamo.config.allow_rnn = True
        dynamo.config.cache_size_limit = 64
    print(f"# version: torch {torch.__version__} ({args.mode}), BLAS "
          f"{'MKL' if torch.backends.mkl.is_available() else 'not MKL'}{where}", flush=True)
    print("B,T,F,U,threads,fwd_ms,train_ms", flush=True)
    for B, T, F, U in read_shapes(args.shapes):
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            fwd_ms, train_ms = bench(args.layer, args.mode, args.device, B, T, F, U, args.min_time,
                                    args.min_reps)
            print(f"{B},{T},{F},{U},{threads},{fwd_ms:.4f},{train_ms:.4f}", flush=True)


if __name__ == "__main__":
    main()
