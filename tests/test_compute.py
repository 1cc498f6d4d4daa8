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


def _max_concurrency(device: str, n_threads: int) -> int:
    """Run ``n_threads`` jobs under ``device_lock(device)`` and return the most that ran at once."""
    import threading
    import time

    from lab.compute import device_lock

    running, peak, guard = 0, 0, threading.Lock()

    def job() -> None:
        nonlocal running, peak
        with device_lock(device):
            with guard:
                running += 1
                peak = max(peak, running)
            time.sleep(0.05)
            with guard:
                running -= 1

    threads = [threading.Thread(target=job) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return peak


def test_a_gpu_runs_one_job_at_a_time_and_the_cpu_one_per_core():
    import os

    from lab.compute import device_slots

    # A torch.device needs no GPU to exist, so the GPU's lock is testable here.
    assert device_slots("cuda:3") == 1
    assert device_slots("cpu") == max(1, os.cpu_count() or 1)
    assert _max_concurrency("cuda:3", 6) == 1
    assert _max_concurrency("cpu", 8) == min(8, device_slots("cpu"))
