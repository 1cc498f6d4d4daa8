"""The compute module: forced devices, seeded generators, out-of-memory translation and fallback."""

from __future__ import annotations

import pytest
import torch

from lab.compute import (
    ComputeOutOfMemory,
    derive_seed,
    device_info,
    get_device,
    make_generator,
    run_guarded,
    run_with_fallback,
)


def test_lab_device_cpu_forces_the_cpu(monkeypatch):
    monkeypatch.setenv("LAB_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    assert device_info()["device"] == "cpu"


def test_invalid_lab_device_raises_with_the_choices(monkeypatch):
    monkeypatch.setenv("LAB_DEVICE", "tpu")
    with pytest.raises(ValueError, match="LAB_DEVICE='tpu' is not a device; use one of cpu, cuda, mps"):
        get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when CUDA is missing")
def test_forcing_a_missing_cuda_says_to_use_the_cpu(monkeypatch):
    monkeypatch.setenv("LAB_DEVICE", "cuda")
    with pytest.raises(ValueError, match="LAB_DEVICE=cpu"):
        get_device()


def test_make_generator_is_deterministic_and_seed_specific():
    a = torch.rand(5, generator=make_generator(42))
    b = torch.rand(5, generator=make_generator(42))
    c = torch.rand(5, generator=make_generator(43))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert derive_seed(make_generator(1)) == derive_seed(make_generator(1))


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_make_generator_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="must be a non-negative integer"):
        make_generator(seed)


def _fake_oom():
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_run_guarded_turns_oom_into_compute_out_of_memory_naming_the_setting():
    with pytest.raises(ComputeOutOfMemory, match="lower meta_batch"):
        run_guarded(_fake_oom, "cpu", "meta_batch")


def test_run_guarded_passes_values_and_other_errors_through():
    assert run_guarded(lambda: 7, "cpu", "meta_batch") == 7
    with pytest.raises(KeyError):
        run_guarded(lambda: {}["x"], "cpu", "meta_batch")


def test_run_with_fallback_on_cpu_reraises():
    with pytest.raises(ComputeOutOfMemory, match="lower n_way"):
        run_with_fallback(lambda device: _fake_oom(), "cpu", "n_way")
    ok = run_with_fallback(lambda device: device.type, "cpu", "n_way")
    assert ok.value == "cpu" and ok.device == torch.device("cpu") and ok.note is None


def test_run_with_fallback_reruns_an_accelerator_oom_on_the_cpu():
    # A torch.device needs no GPU to exist; fn fails the way a full GPU does when handed it.
    seen = []

    def fn(device: torch.device) -> str:
        seen.append(device)
        if device.type == "cuda":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return device.type

    result = run_with_fallback(fn, "cuda:0", "n_way")
    assert seen == [torch.device("cuda:0"), torch.device("cpu")]
    assert result.value == "cpu" and result.device == torch.device("cpu")
    assert result.note and "CUDA ran out of memory" in result.note and "lower n_way" in result.note


def test_an_older_torchs_cuda_oom_is_recognised_too():
    with pytest.raises(ComputeOutOfMemory):
        run_guarded(lambda: (_ for _ in ()).throw(torch.cuda.OutOfMemoryError("CUDA out of memory")),
                    "cpu", "meta_batch")


def _max_concurrency(device: str, n_threads: int, together: int) -> int:
    """Run ``n_threads`` jobs under ``device_lock(device)`` and return the most that were inside at once.

    No sleeps to hope for overlap on a loaded machine: inside the lock each job waits (barrier) until
    ``together`` jobs are in, so that many overlap for sure, and until every job has reached the lock, so a
    lock that let in more than its slots would show it.
    """
    import threading
    import time

    from lab.compute import device_lock

    running, peak, arrived, errors = 0, 0, 0, []
    cond = threading.Condition()
    inside = threading.Barrier(together, timeout=30)

    def job() -> None:
        nonlocal running, peak, arrived
        try:
            with cond:
                arrived += 1
                cond.notify_all()
            with device_lock(device):
                with cond:
                    running += 1
                    peak = max(peak, running)
                    cond.wait_for(lambda: arrived == n_threads, timeout=30)
                inside.wait()
                time.sleep(0.01)  # a job slipping past a broken lock would be counted now
                with cond:
                    running -= 1
        except threading.BrokenBarrierError as exc:  # fewer than ``together`` could get in
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, f"fewer than {together} jobs could hold {device}'s lock at once"
    return peak


def test_a_gpu_runs_one_job_at_a_time_and_the_cpu_one_per_core():
    import os

    from lab.compute import device_slots

    # A torch.device needs no GPU to exist, so the GPU's lock is testable here.
    assert device_slots("cuda:3") == 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert device_slots("cpu") == max(1, cores or 1)
    assert _max_concurrency("cuda:3", 6, together=1) == 1
    slots = device_slots("cpu")
    assert _max_concurrency("cpu", 4 * slots, together=slots) == slots


def test_a_guarded_job_calling_another_on_the_same_gpu_does_not_wait_for_itself():
    import threading

    from lab.compute import run_guarded

    result = []

    def outer() -> None:
        result.append(run_guarded(lambda: run_guarded(lambda: 42, "cuda:0", "x"), "cuda", "x"))

    worker = threading.Thread(target=outer, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert result == [42], "nested jobs on a one-slot device deadlocked"
