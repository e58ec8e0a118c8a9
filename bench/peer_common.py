"""What the peer scripts of `rnnc bench gru|lstm` share: the shapes and the
median timer (the protocol of ../shared/bench/torch_gru_bench.py), and the
options every peer takes."""
import argparse
import os
import statistics
import time

SHAPES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench",
                      "shapes.txt")


def read_shapes(text):
    """"B,T,F,U;..." or, when empty, the rows of ../shared/bench/shapes.txt."""
    if text:
        return [tuple(int(v) for v in s.split(",")) for s in text.split(";") if s.strip()]
    with open(SHAPES) as f:
        return [tuple(int(v) for v in line.split("#")[0].split())
                for line in f if line.split("#")[0].split()]


def median_ms(fn, min_time, min_reps):
    """Median milliseconds of fn() after 3 warm-up calls, over at least
    min_reps calls and min_time seconds (at most 1000 calls)."""
    for _ in range(3):
        fn()
    times, start = [], time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= 1000:
            break
    return statistics.median(times)


def peer_parser(doc):
    """The options every peer takes (--shapes, --threads, --min-time,
    --min-reps); a script adds its own to the returned parser."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="", help='"B,T,F,U;..." (default: shapes.txt)')
    ap.add_argument("--threads", default="1,2", help="thread counts to measure, e.g. 1,2")
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds per measurement (at least)")
    ap.add_argument("--min-reps", type=int, default=5)
    return ap
