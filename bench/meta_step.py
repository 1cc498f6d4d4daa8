"""Benchmark: one meta-training iteration of this project against learn2learn, higher and TorchOpt.

An iteration is what a training loop repeats: the inner adaptation on every task's support set, the query
loss, the outer backward and an Adam step. Every implementation starts from the same weights and sees the
same batches (one seed). Workloads (issue 7):

* W1 sinusoid MLP 1-40-40-1, K=10, meta-batch 25; 1 and 5 inner steps; second and first order;
* W2 Conv4 (64 filters) 5-way 1-shot, 15 queries, meta-batch 32, 1 inner step; second and first order;
* W3 one ProtoNet 5-way 5-shot episode (15 queries); W4 one MANN step (16 episodes of 50 steps).
  The peers have no ProtoNet or MANN, so these rows are ours alone (with and without the allocator tuning).

The implementations of a row run interleaved, one iteration each per repetition in a rotating order, so a
machine shared with other work slows them alike and the ratios stay fair; the load average is recorded.
The whole grid runs twice, in two child processes: with glibc's default allocator and with
:func:`lab.compute.tune_allocator` (mallopt) applied at start-up, to peers and ours alike; a third child
measures each implementation's peak memory (one iteration, resident-set rise with every large buffer
returned to the OS on free). A float64 check
compares our meta-gradients with learn2learn's on the same seed (W1, and W2 on 4 tasks).

    python -m bench.meta_step [--workloads W1,W2,W3,W4] [--repeats 1.0] [--allocator both|default|tuned] [--threads N]

Every implementation runs on ``--threads`` torch threads (default: all the cores this process may use).

Prints a table and writes ``bench/results/meta_step.csv`` (one row per implementation, configuration and
allocator) and ``bench/results/meta_step_gradcheck.csv``. Peers: ``bash bench/install_peers.sh``.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from lab.compute import usable_cores

RESULTS = Path(__file__).resolve().parent / "results"
REPEATS = {"W1": 30, "W2": 7, "W3": 20, "W4": 10}  # times --repeats
WARMUP = 2


def rss_peak_mb(fn: Callable[[], object]) -> float:
    """Run ``fn`` and return how far the resident set rose above where it was (MB; Linux, else nan).

    The kernel's high-water mark is reset first (``/proc/self/clear_refs``). Only meaningful when freed memory
    leaves the process (the ``memory`` child: every buffer of 64 KiB or more is mmapped and returned); with
    glibc's own or the tuned settings freed buffers stay resident and are reused, so the rise reads ~0.
    """
    def status(key: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return float(line.split()[1]) / 1024
        return float("nan")

    try:
        before = status("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        fn()
        return float("nan")
    fn()
    return status("VmHWM") - before


def cuda_peak_mb(fn: Callable[[], object], device: torch.device) -> float:
    """Run ``fn`` and return the peak CUDA memory it allocated (MB)."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20


def make_step(loss_of: Callable[[object], torch.Tensor | float], model: torch.nn.Module,
              clip: float | None = None) -> Callable[[object], None]:
    """Return ``step(batch)``: zero grads, loss, backward, (clip), Adam step on ``model``. A ``loss_of`` that
    returns a float has taken its backward itself (the peers, task by task)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(batch: object) -> None:
        opt.zero_grad(set_to_none=True)
        loss = loss_of(batch)
        if isinstance(loss, torch.Tensor):
            loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()

    return step


def maml_rows(workload: str, device: torch.device, peers_ok: list[str], all_strategies: bool = False
              ) -> list[tuple[str, dict, Callable]]:
    """Return ``(config label, config, make implementations)`` for W1 or W2."""
    from bench import peers
    from lab.compute import conv_layout, make_generator, task_strategy
    from lab.learners.maml import meta_loss
    from lab.nets import SineMLP, load_params_, random_init, skeleton
    from lab.task_batching import conv_maml_losses
    from lab.tasks import FewShotFamily, GlyphAlphabets, SinusoidFamily

    if workload == "W1":
        def fresh() -> torch.nn.Module:
            net = skeleton(SineMLP)
            return load_params_(net, random_init(net, 0)).to(device)

        family, meta_batch, inner_lr, loss_fn = SinusoidFamily(k_shot=10, n_query=10), 25, 0.01, F.mse_loss
        grid = [(s, fo) for s in (1, 5) for fo in (False, True)]
        ours = {f"ours ({task_strategy('maml-mlp', device)})": None, "ours (vmap)": "vmap"}
    else:
        def fresh() -> torch.nn.Module:
            net = peers.PeerConv4()
            return load_params_(net, random_init(net, 0)).to(device)

        family, meta_batch, inner_lr, loss_fn = FewShotFamily(GlyphAlphabets(), 5, 1, 15), 32, 0.4, peers.cross_entropy
        grid = [(1, False), (1, True)]
        chosen, layout = task_strategy("maml-conv", device), conv_layout(device)
        ours = {f"ours ({chosen}, {layout})": (chosen, layout)}
        if all_strategies:  # the other ones lab.task_batching offers for Conv4, and the other memory layout
            ours.update({f"ours ({s}, {lay})": (s, lay) for s in ("loop", "parallel-loop", "shared-support")
                         for lay in ("channels_last", "contiguous") if (s, lay) != (chosen, layout)})

    def build(steps: int, first_order: bool) -> dict[str, Callable]:
        impls: dict[str, Callable] = {}
        for label, strategy in ours.items():
            model = fresh()
            if workload == "W1":
                def loss_of(b, model=model, strategy=strategy):
                    return meta_loss(model, dict(model.named_parameters()), b, steps, inner_lr, loss_fn,
                                     first_order, strategy=strategy).mean()
            else:
                def loss_of(b, model=model, strategy=strategy):
                    return conv_maml_losses(dict(model.named_parameters()), b, steps, inner_lr, first_order,
                                            strategy=strategy[0], layout=strategy[1])[0].mean()
            impls[label] = make_step(loss_of, model)
        for name in peers_ok:
            model, fn = fresh(), peers.PEERS[name][1]
            impls[name] = make_step(lambda b, model=model, fn=fn: fn(model, b, steps, inner_lr, first_order, loss_fn),
                                    model)
        return impls

    rng = make_generator(0)
    batches = [family.sample(rng, meta_batch).to(device) for _ in range(4)]
    return [(f"{'first' if fo else 'second'} order, {s} step{'s' if s > 1 else ''}",
             {"steps": s, "first_order": fo, "batches": batches}, lambda s=s, fo=fo: build(s, fo))
            for s, fo in grid]


def solo_rows(workload: str, device: torch.device) -> list[tuple[str, dict, Callable]]:
    """Return the W3 (ProtoNet episode) or W4 (MANN step) row: ours only."""
    from lab.compute import make_generator
    from lab.nets import load_params_, random_init

    rng = make_generator(0)
    if workload == "W3":
        from lab.learners.protonet import ProtoNet
        from lab.tasks import FewShotFamily, GlyphAlphabets

        model = ProtoNet().to(device)
        load_params_(model, random_init(model, 0))
        batches = [FewShotFamily(GlyphAlphabets(), 5, 5, 15).sample(rng, 1).to(device) for _ in range(4)]
        return [("5-way 5-shot episode", {"batches": batches},
                 lambda: {"ours": make_step(lambda b: model.loss(b)[0], model)})]
    from lab.learners.mann import MANNConfig, build_mann, episode_loss
    from lab.mann_training import MANNTrainConfig, families

    model = build_mann("mann").to(device)
    load_params_(model, random_init(model, 0))
    family = families(MANNTrainConfig(), MANNConfig())[0]
    batches = [family.sample(rng, 16).to(device) for _ in range(4)]
    return [("16 episodes x 50 steps", {"batches": batches},
             lambda: {"ours": make_step(lambda b: episode_loss(model(b), b), model, clip=10.0)})]


def time_row(impls: dict[str, Callable], batches: list, repeats: int, device: torch.device) -> dict[str, dict]:
    """Time one iteration of every implementation, interleaved; return ``{impl: {median_ms, p25_ms, p75_ms,
    cpu_ms, peak_mb}}``: wall-clock quartiles and the median CPU time of this process (less sensitive than
    wall time to other work on a shared machine; with one thread it is the compute itself)."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    names = list(impls)
    times: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for i in range(WARMUP + repeats):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:  # rotate who goes first
            batch = batches[i % len(batches)]
            sync()
            t0, c0 = time.perf_counter(), time.process_time()
            impls[name](batch)
            sync()
            if i >= WARMUP:
                times[name].append((time.perf_counter() - t0) * 1e3)
                cpu[name].append((time.process_time() - c0) * 1e3)
    out = {}
    for name in names:
        once = functools.partial(impls[name], batches[0])
        peak = cuda_peak_mb(once, device) if device.type == "cuda" else rss_peak_mb(once)
        q = statistics.quantiles(times[name], n=4) if len(times[name]) > 1 else [times[name][0]] * 3
        out[name] = {"median_ms": statistics.median(times[name]), "p25_ms": q[0], "p75_ms": q[2],
                     "cpu_ms": statistics.median(cpu[name]), "peak_mb": peak}
    return out


def grad_check(peers_ok: list[str]) -> list[dict]:
    """Return rows comparing our float64 meta-gradients with learn2learn's on the same seed and batch."""
    if "learn2learn" not in peers_ok:
        return [{"check": "meta-gradient vs learn2learn", "status": "skipped: learn2learn did not load"}]
    from bench import peers
    from lab.compute import make_generator, task_strategy
    from lab.learners.maml import meta_loss
    from lab.nets import SineMLP, load_params_, random_init, skeleton
    from lab.task_batching import conv_maml_losses
    from lab.tasks import FewShotFamily, GlyphAlphabets, SinusoidFamily

    rows = []

    def compare(label: str, net: torch.nn.Module, ours: Callable, lib: Callable, batch) -> None:
        params = dict(net.named_parameters())
        a = torch.autograd.grad(ours(params, batch), list(params.values()))
        net.zero_grad(set_to_none=True)
        lib(net, batch)  # leaves its meta-gradient in .grad
        b = [p.grad.clone() for p in params.values()]
        net.zero_grad(set_to_none=True)
        diff = torch.cat([(x - y).flatten() for x, y in zip(a, b, strict=True)]).norm()
        rel = float(diff / torch.cat([y.flatten() for y in b]).norm())
        rows.append({"check": label, "rel_error": rel, "status": "ok" if rel <= 1e-6 else "FAIL (> 1e-6)"})

    net = skeleton(SineMLP)
    net = load_params_(net, random_init(net, 0)).double()
    batch = SinusoidFamily(k_shot=10, n_query=10).sample(make_generator(0), 25)
    batch = type(batch)(*(t.double() for t in (batch.support_x, batch.support_y, batch.query_x, batch.query_y)))
    for steps in (1, 5):
        for fo in (False, True):
            compare(f"W1 float64, {steps} step(s), {'first' if fo else 'second'} order", net,
                    lambda p, b, s=steps, fo=fo: meta_loss(net, p, b, s, 0.01, F.mse_loss, fo).mean(),
                    lambda m, b, s=steps, fo=fo: peers.learn2learn_meta_loss(m, b, s, 0.01, fo, F.mse_loss), batch)
    conv = peers.PeerConv4()
    conv = load_params_(conv, random_init(conv, 0)).double()
    batch = FewShotFamily(GlyphAlphabets(), 5, 1, 15).sample(make_generator(0), 4)
    batch = type(batch)(batch.support_x.double(), batch.support_y, batch.query_x.double(), batch.query_y)
    for fo in (False, True):
        compare(f"W2 float64 (4 tasks), 1 step, {'first' if fo else 'second'} order", conv,
                lambda p, b, fo=fo: conv_maml_losses(p, b, 1, 0.4, fo, task_strategy("maml-conv", "cpu"))[0].mean(),
                lambda m, b, fo=fo: peers.learn2learn_meta_loss(m, b, 1, 0.4, fo, peers.cross_entropy), batch)
    return rows


def child(args: argparse.Namespace) -> None:
    """Run the grid in this process (one allocator setting) and print JSON lines."""
    from bench import peers
    from lab.compute import get_device, tune_allocator

    tuned = tune_allocator(args.allocator == "tuned")  # first, before the big allocations
    if args.allocator == "memory":
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD: buffers >= 64 KiB come from mmap and go back on free
        libc.mallopt(-1, 64 * 1024)  # M_TRIM_THRESHOLD
    torch.set_num_threads(args.threads)
    device = get_device()
    status = peers.available()
    peers_ok = [n for n, why in status.items() if why is None]
    print(json.dumps({"kind": "peers", "status": status}), flush=True)
    for workload in args.workloads:
        rows = (maml_rows(workload, device, peers_ok, args.all_strategies) if workload in ("W1", "W2")
                else solo_rows(workload, device))
        for label, cfg, build in rows:
            load0 = os.getloadavg()[0]
            repeats = 1 if args.allocator == "memory" else max(3, round(REPEATS[workload] * args.repeats))
            result = time_row(build(), cfg["batches"], repeats, device)
            for impl, r in result.items():
                print(json.dumps({"kind": "row", "allocator": args.allocator, "mallopt_applied": tuned,
                                  "workload": workload, "config": label, "impl": impl, **r,
                                  "load_start": load0, "load_end": os.getloadavg()[0], "device": str(device),
                                  "threads": args.threads, "torch": torch.__version__}), flush=True)
    if args.gradcheck:
        for row in grad_check(peers_ok):
            print(json.dumps({"kind": "grad", **row}), flush=True)


def print_tables(rows: list[dict], peer_status: dict, grads: list[dict]) -> None:
    """Print one table per allocator: every implementation's median ms, peak MB and peer/ours ratio."""
    for name, why in peer_status.items():
        if why is not None:
            print(f"peer {name} not measured: {why}")
    for allocator in dict.fromkeys(r["allocator"] for r in rows):
        sub = [r for r in rows if r["allocator"] == allocator]
        print(f"\nallocator: {allocator}  (device {sub[0]['device']}, {sub[0]['threads']} thread(s), "
              f"load average {min(r['load_start'] for r in sub):.2f}-{max(r['load_end'] for r in sub):.2f})")
        print(f"{'workload':<4} {'config':<26}{'implementation':<24}{'median ms':>11}{'p25-p75 ms':>16}"
              f"{'CPU ms':>9}{'peak MB':>9}{'x ours':>8}{'x ours CPU':>11}")
        for r in sub:
            ratio = f"{r['ratio_to_ours']:.2f}" if r["ratio_to_ours"] is not None else ""
            ratio_cpu = f"{r['cpu_ratio_to_ours']:.2f}" if r["cpu_ratio_to_ours"] is not None else ""
            print(f"{r['workload']:<4} {r['config']:<26}{r['impl']:<24}{r['median_ms']:>11.1f}"
                  f"{r['p25_ms']:>8.1f}-{r['p75_ms']:<7.1f}{r['cpu_ms']:>9.1f}{r['peak_mb']:>9.0f}{ratio:>8}"
                  f"{ratio_cpu:>11}")
    if grads:
        print("\nmeta-gradients vs learn2learn (float64, same seed and batch):")
        for g in grads:
            print(f"  {g['check']:<48} {g.get('rel_error', float('nan')):.2e}  {g['status']}")


def main(argv: list[str] | None = None) -> int:
    """Run the grid under each allocator setting (child processes), print the tables, write the CSVs."""
    parser = argparse.ArgumentParser(prog="python -m bench.meta_step", description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=lambda s: [w.strip().upper() for w in s.split(",")],
                        default=["W1", "W2", "W3", "W4"])
    parser.add_argument("--repeats", type=float, default=1.0, help="scale of the repetitions per row")
    parser.add_argument("--allocator", choices=("both", "default", "tuned", "memory"), default="both",
                        help="both: default and tuned timings, then a memory pass for the peaks; memory: peaks only")
    parser.add_argument("--threads", type=int, default=usable_cores(),
                        help="torch threads for every implementation (default: every core)")
    parser.add_argument("--no-gradcheck", dest="gradcheck", action="store_false")
    parser.add_argument("--all-strategies", action="store_true",
                        help="W2: also time the Conv4 strategies lab.compute did not choose")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.workloads) - set(REPEATS)
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(sorted(unknown))}; choose from W1,W2,W3,W4")
    if args.child:
        child(args)
        return 0
    rows, grads, status = [], [], {}
    settings = ("default", "tuned", "memory") if args.allocator == "both" else (args.allocator,)
    for i, allocator in enumerate(settings):
        cmd = [sys.executable, "-m", "bench.meta_step", "--child", "--allocator", allocator,
               "--workloads", ",".join(args.workloads), "--repeats", str(args.repeats), "--threads", str(args.threads)]
        if args.all_strategies:
            cmd.append("--all-strategies")
        if not args.gradcheck or i > 0 or allocator == "memory":
            cmd.append("--no-gradcheck")
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "LAB_MALLOPT": "1" if allocator == "tuned" else "0"}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=Path(__file__).resolve().parents[1])
        for line in proc.stdout:
            item = json.loads(line)
            kind = item.pop("kind")
            if kind == "peers":
                status = item["status"]
            elif kind == "grad":
                grads.append(item)
            else:
                rows.append(item)
                print(f"  {allocator:<8}{item['workload']} {item['config']:<26}{item['impl']:<24}"
                      f"{item['median_ms']:>9.1f} ms", file=sys.stderr, flush=True)
        if proc.wait() != 0:
            print(f"the {allocator} run failed (exit {proc.returncode})", file=sys.stderr)
            return 1
    peaks = {(r["workload"], r["config"], r["impl"]): r["peak_mb"] for r in rows if r["allocator"] == "memory"}
    if len(settings) > 1:  # the memory pass's peaks go beside the timings; its own timings are not kept
        rows = [r for r in rows if r["allocator"] != "memory"]
        for r in rows:
            r["peak_mb"] = peaks.get((r["workload"], r["config"], r["impl"]), float("nan"))
    for r in rows:
        ours = [o for o in rows if o["allocator"] == r["allocator"] and o["workload"] == r["workload"]
                and o["config"] == r["config"] and o["impl"].startswith("ours")]
        r["ratio_to_ours"] = r["median_ms"] / ours[0]["median_ms"] if ours and r is not ours[0] else None
        r["cpu_ratio_to_ours"] = r["cpu_ms"] / ours[0]["cpu_ms"] if ours and r is not ours[0] else None
    print_tables(rows, status, grads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("meta_step_memory.csv" if settings == ("memory",) else "meta_step.csv")
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if grads:
        with (RESULTS / "meta_step_gradcheck.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["check", "rel_error", "status"])
            writer.writeheader()
            writer.writerows(grads)
    print(f"\nwrote {out}")
    return 0 if all(g["status"] in ("ok",) or g["status"].startswith("skipped") for g in grads) else 1


if __name__ == "__main__":
    raise SystemExit(main())
