"""Benchmark: milliseconds per MAML meta-step on sinusoids, vmapped over tasks vs a per-task Python loop.

Finn et al. 2017 set-up (SineMLP 1-40-40-1, K=10, meta-batch 25). Both variants compute the identical
meta-loss (:func:`lab.learners.maml.meta_loss` with ``vectorized=True`` or ``False``) and take one Adam
step, so the ratio is the speed-up that ``torch.func.vmap`` buys. Second- and first-order, 1 and 5 inner
steps, side by side in one run. Prints a table and writes ``bench/results/maml_sine.csv``.

    python -m bench.maml_sine [--repeats 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lab.compute import get_device, make_generator
from lab.learners.maml import meta_loss
from lab.nets import SineMLP, load_params_, random_init, skeleton
from lab.tasks.sinusoid import SinusoidFamily

RESULTS = Path(__file__).resolve().parent / "results" / "maml_sine.csv"


def time_meta_step(vectorized: bool, first_order: bool, steps: int, repeats: int, meta_batch: int = 25,
                   device: torch.device | str = "cpu") -> float:
    """Return the median wall time in ms of one meta-step (loss, backward, Adam) over ``repeats`` runs."""
    net = skeleton(SineMLP)
    net = load_params_(net, random_init(net, 0)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    family, rng = SinusoidFamily(k_shot=10, n_query=10), make_generator(0)
    batches = [family.sample(rng, meta_batch).to(device) for _ in range(repeats + 3)]
    times = []
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = meta_loss(net, dict(net.named_parameters()), batch, steps, 0.01, F.mse_loss, first_order,
                         vectorized).mean()
        loss.backward()
        opt.step()
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:  # the first calls warm up vmap's tracing and the allocator
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark grid, print the table, write the CSV; return 0."""
    parser = argparse.ArgumentParser(prog="python -m bench.maml_sine")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = get_device()
    rows = []
    print(f"MAML sinusoid meta-step, meta_batch=25, device={device}, threads={args.threads}, "
          f"median of {args.repeats}")
    print(f"{'order':7s} {'inner':>5s} {'vmap ms':>9s} {'loop ms':>9s} {'loop/vmap':>9s}")
    for first_order in (False, True):
        for steps in (1, 5):
            vm = time_meta_step(True, first_order, steps, args.repeats, device=device)
            lp = time_meta_step(False, first_order, steps, args.repeats, device=device)
            order = "first" if first_order else "second"
            rows.append({"order": order, "inner_steps": steps, "vmap_ms": round(vm, 3), "loop_ms": round(lp, 3),
                         "speedup": round(lp / vm, 2), "device": str(device), "threads": args.threads,
                         "torch": torch.__version__})
            print(f"{order:7s} {steps:5d} {vm:9.2f} {lp:9.2f} {lp / vm:8.1f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
