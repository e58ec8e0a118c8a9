"""What the peer scripts of `rnnc bench gru|lstm` share: the shapes and the
median timer (the protocol of ../shared/bench/torch_gru_bench.py)."""
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
