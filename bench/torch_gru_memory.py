#!/usr/bin/python3
"""Peak memory of a PyTorch nn.GRU training run: the peer of `rnnc bench gru --memory`.

For one shape (B, T, F, U), float32, batch_first, it runs `--steps` training
steps exactly as ../shared/bench/torch_gru_bench.py times them (forward + MSE
on the last output + backward + SGD) and prints one CSV row:

  B,T,F,U,threads,steps,baseline_kb,peak_kb

baseline_kb: the process's peak resident set (ru_maxrss) right after
`import torch` and setting the thread count, before the model and data exist
(the interpreter and libtorch: the fixed cost of using PyTorch at all).
peak_kb: ru_maxrss after the run. `rnnc bench gru --memory` compares
peak - baseline against the same difference for rnnc's own child process, and
prints both raw figures too. Needs Debian's python3-torch.

  torch_gru_memory.py --shape 32,100,128,128 --threads 1 --steps 50
"""
import argparse
import resource

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", required=True, help='"B,T,F,U"')
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    B, T, F, U = (int(v) for v in args.shape.split(","))
    torch.set_num_threads(args.threads)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    torch.manual_seed(0)
    gru = torch.nn.GRU(F, U, batch_first=True)
    opt = torch.optim.SGD(gru.parameters(), lr=1e-3)
    x = torch.randn(B, T, F)
    y = torch.randn(B, U)
    for _ in range(args.steps):
        opt.zero_grad()
        out, _ = gru(x)
        loss = torch.nn.functional.mse_loss(out[:, -1, :], y)
        loss.backward()
        opt.step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("B,T,F,U,threads,steps,baseline_kb,peak_kb")
    print(f"{B},{T},{F},{U},{args.threads},{args.steps},{baseline},{peak}", flush=True)


if __name__ == "__main__":
    main()
