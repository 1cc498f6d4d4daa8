"""The compute module: which device runs the work, seeded randomness, and safe sharing of one device.

Everything heavy in the lab goes through here so that

* the device is chosen once and the same way everywhere (CUDA, then Apple MPS, then CPU; the environment
  variable ``LAB_DEVICE`` forces one, e.g. ``LAB_DEVICE=cpu``);
* every random draw comes from a ``torch.Generator`` built from a seed the user can see;
* concurrent app sessions (threads of one Streamlit server) take turns on a device through per-device job
  slots (one on a GPU, one per core on the CPU) instead of oversubscribing it; slider moves go before long
  jobs (evaluations), which never hold every slot and step aside between chunks (:mod:`lab.job_slots`);
* running out of device memory becomes a :class:`ComputeOutOfMemory` whose message says what to lower, and
  callers that can may retry on the CPU with :func:`run_with_fallback`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import torch

from lab.job_slots import SlotQueue

T = TypeVar("T")
B = TypeVar("B")

DEVICE_ENV = "LAB_DEVICE"
_VALID_DEVICES = ("cpu", "cuda", "mps")


class ComputeOutOfMemory(RuntimeError):
    """The device ran out of memory; the message says which setting to lower."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(prefer: str | None = None) -> torch.device:
    """Return the device to compute on.

    Order: ``prefer`` if given, else the ``LAB_DEVICE`` environment variable, else CUDA, MPS, CPU in that
    order of availability. Raises ``ValueError`` for an unknown or unavailable forced device.
    """
    forced = prefer or os.environ.get(DEVICE_ENV, "").strip().lower() or None
    if forced is not None:
        kind = forced.split(":")[0]
        if kind not in _VALID_DEVICES:
            raise ValueError(f"{DEVICE_ENV}={forced!r} is not a device; use one of {', '.join(_VALID_DEVICES)}")
        if kind == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"{DEVICE_ENV}={forced!r} but no CUDA GPU is visible; use LAB_DEVICE=cpu")
        if kind == "mps" and not _mps_available():
            raise ValueError(f"{DEVICE_ENV}={forced!r} but Apple MPS is not available; use LAB_DEVICE=cpu")
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Return a ``torch.Generator`` on ``device`` seeded with ``seed`` (the only source of randomness)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(seed)
    return gen


def derive_seed(rng: torch.Generator) -> int:
    """Return a fresh 31-bit integer seed drawn from ``rng`` (for numpy or child generators)."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=rng, device=rng.device).item())


_slots: dict[str, SlotQueue] = {}
_slots_guard = threading.Lock()
_held = threading.local()  # the devices whose slot the current thread holds -> whether as a long job


def device_slots(device: torch.device | str) -> int:
    """Return how many jobs may run on ``device`` at once: 1 on a GPU, one per core on the CPU.

    The interactive jobs run with one torch thread each (:func:`limit_threads`), so on the CPU one job per
    core keeps every core busy without oversubscribing; a GPU takes one job at a time. "Core" means one
    this process may run on (its CPU affinity, e.g. a container's share), where the OS says so.
    """
    device = torch.device(device)
    return max(1, usable_cores()) if device.type == "cpu" else 1


def usable_cores() -> int:
    """Return how many CPU cores this process may run on (``os.sched_getaffinity``, else ``os.cpu_count``)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


def _device_key(device: torch.device) -> str:
    return f"{device.type}:{device.index if device.index is not None else 0}"  # "cuda" and "cuda:0" are one


def slot_queue(device: torch.device | str) -> SlotQueue:
    """Return ``device``'s :class:`~lab.job_slots.SlotQueue`: :func:`device_slots` slots, of which long jobs
    may hold all but one (all of one)."""
    device = torch.device(device)
    key = _device_key(device)
    with _slots_guard:
        if key not in _slots:
            slots = device_slots(device)
            _slots[key] = SlotQueue(slots, max(1, slots - 1))
        return _slots[key]


@contextlib.contextmanager
def device_lock(device: torch.device | str, long: bool = False) -> Iterator[None]:
    """Hold one of ``device``'s job slots while the block runs (see :func:`device_slots`).

    Concurrent app sessions are threads of one server process; this is what makes them take turns on a
    device instead of oversubscribing it. ``long=True`` marks a job of many seconds (an evaluation): it
    waits behind every slider move, may not take the last slot, and should call :func:`make_way` between
    chunks. Re-entrant per thread: a guarded job that calls another guarded job on the same device keeps
    its slot instead of waiting for itself (a deadlock on a one-slot GPU).
    """
    device = torch.device(device)
    key = _device_key(device)
    held: dict[str, bool] = _held.__dict__.setdefault("devices", {})
    if key in held:
        yield
        return
    queue = slot_queue(device)
    queue.acquire(long)
    held[key] = long
    try:
        yield
    finally:
        del held[key]
        queue.release(long)


def make_way(device: torch.device | str) -> None:
    """Between two chunks of a long job: let waiting slider moves on ``device`` go first (a no-op unless this
    thread holds the device's slot as a long job)."""
    device = torch.device(device)
    if _held.__dict__.get("devices", {}).get(_device_key(device)):
        slot_queue(device).make_way()


# torch.OutOfMemoryError arrived in torch 2.5; before that only the CUDA one existed.
_TORCH_OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, _TORCH_OOM):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def run_guarded(fn: Callable[[], T], device: torch.device | str, lower: str, long: bool = False) -> T:
    """Run ``fn`` holding ``device``'s lock (as a long job if ``long``, see :func:`device_lock`) and return
    its result.

    Out-of-memory errors are turned into :class:`ComputeOutOfMemory` naming ``lower``, the setting the user
    should reduce (e.g. ``"meta_batch"``).
    """
    device = torch.device(device)
    with device_lock(device, long):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - only OOM is translated, the rest re-raised
            if not _is_oom(exc):
                raise
            if device.type == "cuda":
                torch.cuda.empty_cache()
            raise ComputeOutOfMemory(
                f"{device.type.upper()} ran out of memory; lower {lower} and try again"
            ) from exc


def guarded(device: torch.device | str, lower: str, long: bool = False
            ) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Return a decorator that runs the function through :func:`run_guarded` on ``device``."""
    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def run(*args: object, **kwargs: object) -> T:
            return run_guarded(lambda: fn(*args, **kwargs), device, lower, long)
        return run
    return decorate


@dataclass
class FallbackResult:
    """What :func:`run_with_fallback` returns: the value, the device that produced it, and a note."""

    value: object
    device: torch.device
    note: str | None


def run_with_fallback(fn: Callable[[torch.device], T], device: torch.device | str, lower: str,
                      long: bool = False) -> FallbackResult:
    """Run ``fn(device)`` (as a long job if ``long``); on out-of-memory on an accelerator, run ``fn(cpu)``
    instead.

    Returns a :class:`FallbackResult` whose ``note`` says that the CPU was used and why, or ``None``.
    On the CPU itself an out-of-memory error raises :class:`ComputeOutOfMemory`.
    """
    device = torch.device(device)
    try:
        return FallbackResult(run_guarded(lambda: fn(device), device, lower, long), device, None)
    except ComputeOutOfMemory:
        if device.type == "cpu":
            raise
    cpu = torch.device("cpu")
    value = run_guarded(lambda: fn(cpu), cpu, lower, long)
    return FallbackResult(value, cpu, f"{device.type.upper()} ran out of memory, so this ran on the CPU; lower {lower} to use the GPU")


def limit_threads(threads: int = 1) -> None:
    """Limit torch to ``threads`` intra-op threads (used by the app's interactive requests).

    The interactive demos run tiny networks: there, thread hand-offs cost more than they save, and on a
    shared 2-core machine two threads per request made one gradient step 50x slower (25 ms vs 0.5 ms).
    One thread per request also lets concurrent app sessions use the other cores.
    """
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


# How a batch of MAML tasks runs (lab.task_batching), per workload and device type. Chosen from
# bench/meta_step.py, which times every strategy side by side: on the CPU "stacked" (one baddbmm per layer
# over all tasks) beats vmap 2-4x on MLPs; for Conv4 a per-task loop with each task's backward taken at once
# beats vmap (grouped convolutions, ~2x slower on a CPU) and also a support pass batched over tasks (its
# per-task weight gradients cost more under vmap than the loop's small passes), and a loop whose tasks run
# side by side on the cores (one torch thread each) beats one that splits every kernel across them. On CUDA,
# vmap's grouped convolutions keep the GPU busy where a loop of small kernels does not: on an H200 (torch 2.11)
# the Conv4 meta-step over 32 tasks took 34.5 ms with vmap against 587 ms for the loop and 498 ms for a
# batched support pass, second order (first order 30.2 against 254 / 199 ms), and contiguous beat channels_last
# in every loop there.
TASK_STRATEGIES: dict[tuple[str, str], str] = {
    ("maml-mlp", "cpu"): "stacked", ("maml-mlp", "cuda"): "stacked", ("maml-mlp", "mps"): "vmap",
    ("maml-conv", "cpu"): "parallel-loop", ("maml-conv", "cuda"): "vmap", ("maml-conv", "mps"): "vmap",
}
STRATEGY_CHOICES = {"maml-mlp": ("stacked", "vmap", "loop"),
                    "maml-conv": ("loop", "parallel-loop", "shared-support", "vmap")}
STRATEGY_ENV = "LAB_TASK_STRATEGY"  # e.g. "maml-conv=loop,maml-mlp=vmap" (benchmarks and tests)


def task_strategy(workload: str, device: torch.device | str) -> str:
    """Return how to run ``workload`` ("maml-mlp" or "maml-conv") on ``device``: a name from
    :data:`STRATEGY_CHOICES`. ``LAB_TASK_STRATEGY`` overrides the measured default of :data:`TASK_STRATEGIES`."""
    if workload not in STRATEGY_CHOICES:
        raise ValueError(f"workload={workload!r}; choose one of {sorted(STRATEGY_CHOICES)}")
    for item in os.environ.get(STRATEGY_ENV, "").split(","):
        name, _, choice = item.strip().partition("=")
        if name == workload:
            if choice not in STRATEGY_CHOICES[workload]:
                raise ValueError(f"{STRATEGY_ENV}: {workload}={choice!r}; choose one of "
                                 f"{', '.join(STRATEGY_CHOICES[workload])}")
            return choice
    return TASK_STRATEGIES.get((workload, torch.device(device).type), "vmap")


# Memory layout of Conv4's activations on passes differentiated at most once (lab.task_batching), per device
# type. On this CPU PyTorch's batch-norm and max-pool kernels are 3-4x faster in channels_last (NHWC,
# vectorised over channels) than in NCHW, and its convolutions ~10% faster; MAML's query passes are most of
# the work. PyTorch's channels_last batch norm sums its statistics imprecisely (lab.nhwc has the numbers), so
# these passes use lab.nhwc's norms, which are differentiable once: passes differentiated twice (second-order
# support passes) stay NCHW.
CONV_LAYOUTS: dict[str, str] = {"cpu": "channels_last", "cuda": "contiguous", "mps": "contiguous"}
LAYOUT_CHOICES = ("channels_last", "contiguous")
LAYOUT_ENV = "LAB_CONV_LAYOUT"  # "channels_last" or "contiguous" (benchmarks and tests)


def conv_layout(device: torch.device | str) -> str:
    """Return the memory layout (a name from :data:`LAYOUT_CHOICES`) for Conv4 passes on ``device`` that are
    differentiated at most once. ``LAB_CONV_LAYOUT`` overrides the measured default of :data:`CONV_LAYOUTS`."""
    choice = os.environ.get(LAYOUT_ENV, "").strip()
    if choice:
        if choice not in LAYOUT_CHOICES:
            raise ValueError(f"{LAYOUT_ENV}={choice!r}; choose one of {', '.join(LAYOUT_CHOICES)}")
        return choice
    return CONV_LAYOUTS.get(torch.device(device).type, "contiguous")


def to_device(batch: B, device: torch.device | str) -> B:
    """Return ``batch`` (anything with ``.to(device)``, e.g. an EpisodeBatch) on ``device``.

    To a CUDA device the tensors go through pinned host memory with ``non_blocking=True``, so the copy of
    the next episode overlaps the GPU's work instead of stalling the host; elsewhere this is ``batch.to``.
    """
    device = torch.device(device)
    if device.type != "cuda" or not dataclasses.is_dataclass(batch):
        return batch.to(device)

    def move(value: object) -> object:
        if isinstance(value, torch.Tensor):
            return value.pin_memory().to(device, non_blocking=True) if value.device.type == "cpu" else value.to(device)
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        return value

    return dataclasses.replace(batch, **{f.name: move(getattr(batch, f.name))
                                         for f in dataclasses.fields(batch) if f.init})


PRECISION_ENV = "LAB_PRECISION"  # "bf16": bfloat16 autocast for training on a CUDA GPU


def training_precision(precision: str | None = None) -> str:
    """Return the training precision: ``precision`` or else ``LAB_PRECISION``, ``"fp32"`` (default) or
    ``"bf16"``; raises ``ValueError`` for anything else."""
    precision = (precision or os.environ.get(PRECISION_ENV, "fp32")).strip().lower()
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"{PRECISION_ENV}={precision!r}; choose fp32 or bf16")
    return precision


def autocast(device: torch.device | str, precision: str | None = None) -> contextlib.AbstractContextManager:
    """Return the mixed-precision context for training on ``device``: bfloat16 autocast when
    ``precision`` (default ``LAB_PRECISION``) is ``"bf16"``, else a no-op context.

    bfloat16 keeps float32's range, so no loss scaling is needed; matmuls and convolutions run in bf16,
    reductions and the loss in float32. Opt-in; tests/test_compute_precision.py checks it on the CPU and,
    where one is visible, on a CUDA GPU (it passed on an H200).
    """
    precision = training_precision(precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc refuses more on 64-bit systems
ALLOCATOR_ENV = "LAB_MALLOPT"


def tune_allocator(enable: bool | None = None) -> bool:
    """Keep freed memory in glibc's heap instead of returning it to the OS; return whether it was applied.

    A meta-training step allocates and frees the same large activation buffers every iteration; by default
    glibc serves each from fresh ``mmap`` pages and hands them back, so every iteration pays page faults
    again (0.5-0.8 s of a ~1.8 s Conv4 MAML step, measured on this project's CPU). Raising the mmap and trim
    thresholds keeps them in the heap. Call it at start-up, before the big allocations. ``enable=None``
    follows ``LAB_MALLOPT`` (default on; ``0`` turns it off). A no-op (``False``) where there is no glibc.
    """
    if enable is None:
        enable = os.environ.get(ALLOCATOR_ENV, "1").strip() not in ("0", "false", "no", "off")
    if not enable:
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # macOS, Windows, musl: no mallopt
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(mallopt(M_TRIM_THRESHOLD, 2**30))


def device_info() -> dict[str, object]:
    """Return a dict describing the compute set-up: device, torch version, threads, memory (GiB)."""
    device = get_device()
    info: dict[str, object] = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "mps_available": _mps_available(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["gpu_name"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 2)
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["host_memory_gib"] = round(pages / 2**30, 2)
    except (ValueError, OSError, AttributeError):
        info["host_memory_gib"] = None
    info["cpu_count"] = os.cpu_count()
    return info
