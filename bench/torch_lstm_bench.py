#!/usr/bin/python3
"""Peer benchmark of `rnnc bench lstm`: PyTorch nn.LSTM on the CPU.

The same measurement as ../shared/bench/torch_gru_bench.py with nn.LSTM:
for each shape (B, T, F, U), float32, batch_first,
  fwd   - inference forward under torch.no_grad()
  train - forward + MSE on the last output + backward + SGD step
one CSV row per shape and thread count: B,T,F,U,threads,fwd_ms,train_ms
(medians). Needs Debian's python3-torch (run with /usr/bin/python3).

  torch_lstm_bench.py                          # shapes of ../shared/bench/shapes.txt
  torch_lstm_bench.py --shapes "32,100,16,32" --threads 1
"""

import torch

from peer_common import median_ms, peer_parser, read_shapes  # bench/peer_common.py


def bench(B, T, F, U, min_time, min_reps):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(F, U, batch_first=True)
    x = torch.rand(B, T, F) * 2 - 1
    y = torch.rand(B, U) * 2 - 1
    opt = torch.optim.SGD(lstm.parameters(), lr=1e-3)

    def fwd():
        with torch.no_grad():
            lstm(x)

    def train():
        opt.zero_grad()
        out, _ = lstm(x)
        loss = torch.nn.functional.mse_loss(out[:, -1, :], y)
        loss.backward()
        opt.step()

    return median_ms(fwd, min_time, min_reps), median_ms(train, min_time, min_reps)


def main():
    ap = peer_parser(__doc__)
    args = ap.parse_args()
    print("B,T,F,U,threads,fwd_ms,train_ms", flush=True)
    for B, T, F, U in read_shapes(args.shapes):
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            fwd_ms, train_ms = bench(B, T, F, U, args.min_time, args.min_reps)
            print(f"{B},{T},{F},{U},{threads},{fwd_ms:.4f},{train_ms:.4f}", flush=True)


if __name__ == "__main__":
    main()
