#!/usr/bin/env python3
"""Times one torch.optim step, in Python, on the model of benches/optimizers.rs: the reference
figures for the optimizers libtorch's C++ API lacks (their hand-written step is timed by
`cargo bench --bench optimizers`).

    scripts/tch-parity list >/dev/null   # set-up, if not done
    "$(readlink -f .libtorch)/../../../../bin/python" scripts/bench_torch_optim.py

Prints the median of 10 steps after 6 warm-up steps, for torch.optim's foreach path (its
default on CPU... where it has one) and its for-loop path, on 2 threads as the Rust bench uses.
"""
import statistics
import sys
import time

import torch

OPTIMIZERS = ["adadelta", "adafactor", "adamax", "asgd", "nadam", "radam", "rprop", "muon", "sparse_adam", "rmsprop",
              "adagrad"]
CLASSES = {"adadelta": "Adadelta", "adafactor": "Adafactor", "adamax": "Adamax", "asgd": "ASGD", "nadam": "NAdam",
           "radam": "RAdam", "rprop": "Rprop", "muon": "Muon", "sparse_adam": "SparseAdam", "rmsprop": "RMSprop",
           "adagrad": "Adagrad"}


def model():
    """48 weight matrices, 48 biases and 4 norm scales: 10,023,920 parameters in 100 tensors."""
    shapes = []
    for layer in range(48):
        rows, cols = (512, 384) if layer % 2 == 0 else (384, 512)
        shapes += [(rows, cols), (rows,)]
    shapes += [(1024,), (1024,), (512,), (512,)]
    return [torch.randn(s) for s in shapes]


def median_step(name, foreach):
    params = model()
    if name == "muon":  # matrices only
        params = [p for p in params if p.dim() == 2]
    for p in params:
        p.grad = torch.randn_like(p) * 0.01
        if name == "sparse_adam":  # every row present, as the Rust bench
            p.grad = p.grad.to_sparse(1)
    kwargs = {} if name in ("muon", "sparse_adam") else {"foreach": foreach}
    optimizer = getattr(torch.optim, CLASSES[name])(params, **kwargs)
    times = []
    # Six warm-up steps: RAdam's first five skip the rectified (costlier) update.
    for k in range(16):
        start = time.perf_counter()
        optimizer.step()
        if k >= 6:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    torch.set_num_threads(2)
    wanted = sys.argv[1:] or OPTIMIZERS
    print("optimizer  torch.optim foreach  torch.optim for-loop")
    for name in wanted:
        foreach = median_step(name, True) if name not in ("muon", "sparse_adam") else None
        loop = median_step(name, False)
        fmt = lambda t: f"{t * 1e3:.2f} ms" if t is not None else "-"
        print(f"{name:<10} {fmt(foreach):>20} {fmt(loop):>21}", flush=True)


if __name__ == "__main__":
    main()
