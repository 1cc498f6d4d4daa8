"""Distributed meta-training over the task axis with ``torch.distributed``, started by ``torchrun``.

    torchrun --nproc-per-node 2 -m lab train maml --meta-batch 8 ...          # one machine, 2 processes
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d \\
             --rdzv-endpoint HOST:29400 --rdzv-id run1 -m lab train maml ...  # the same on every machine

DDP-style, written out because a meta-learner's loss is not its ``forward``: every process (rank) draws the
*same* meta-batch from the same seeded generator, keeps its contiguous share of the tasks
(:meth:`Distributed.shard`), computes the loss of its share scaled by ``tasks in share / tasks in batch``,
and the gradients are summed across ranks in one flat all-reduce (:meth:`Distributed.all_reduce_grads`).
The sum is then exactly the gradient of the mean loss over the whole meta-batch, as a single process would
compute it (up to float summation order), so the optimizer steps agree on every rank and with one process.
Buffers (BatchNorm running statistics) are broadcast from rank 0 after each step, as DDP does, so ranks
stay identical; those statistics then come from rank 0's share of the tasks. Only rank 0 evaluates, prints
and writes checkpoints; a resumed run reads the same state file on every rank.

Backend: ``gloo`` on the CPU, ``nccl`` when each rank has a CUDA GPU (``LOCAL_RANK`` picks it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from lab.tasks.base import EpisodeBatch


@dataclass
class Distributed:
    """Where this process stands: its rank among ``world_size`` processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def active(self) -> bool:
        """Return whether there is more than one process (a process group is in use)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Return whether this process is rank 0 (the one that prints, evaluates and saves)."""
        return self.rank == 0

    def shard(self, batch: EpisodeBatch) -> tuple[EpisodeBatch, float]:
        """Return ``(this rank's contiguous share of the tasks, its fraction of the batch)``.

        Raises ``ValueError`` when there are fewer tasks than processes.
        """
        n = batch.n_tasks
        if not self.active:
            return batch, 1.0
        if n < self.world_size:
            raise ValueError(f"meta_batch={n} is smaller than the {self.world_size} processes; "
                             f"use --meta-batch {self.world_size} or more (a multiple of it splits evenly)")
        bounds = [n * r // self.world_size for r in range(self.world_size + 1)]
        lo, hi = bounds[self.rank], bounds[self.rank + 1]
        part = EpisodeBatch(batch.support_x[lo:hi], batch.support_y[lo:hi], batch.query_x[lo:hi],
                            batch.query_y[lo:hi], {k: v[lo:hi] if isinstance(v, torch.Tensor | list) and len(v) == n
                                                   else v for k, v in batch.meta.items()})
        return part, (hi - lo) / n

    def all_reduce_grads(self, model: nn.Module) -> None:
        """Sum every parameter's gradient over the ranks in place (one flat buffer, one all-reduce)."""
        if not self.active:
            return
        params = [p for p in model.parameters() if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for p, g in zip(params, grads, strict=True):
            p.grad = flat[offset:offset + g.numel()].view_as(g).clone()
            offset += g.numel()

    def sum_floats(self, *values: float) -> list[float]:
        """Return ``values`` summed over the ranks (for logging the whole batch's loss and accuracy)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def any_true(self, flag: bool) -> bool:
        """Return whether ``flag`` is true on any rank (e.g. rank 0 was asked to stop)."""
        if not self.active:
            return flag
        t = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def broadcast_buffers(self, model: nn.Module) -> None:
        """Copy rank 0's buffers (e.g. BatchNorm running statistics) to every rank."""
        if self.active:
            for buffer in model.buffers():
                dist.broadcast(buffer, src=0)

    def broadcast_params(self, model: nn.Module) -> None:
        """Copy rank 0's parameters to every rank (they are seeded alike; this guards against drift)."""
        if self.active:
            for p in model.parameters():
                dist.broadcast(p.data, src=0)

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.active:
            dist.barrier()


def from_env(device: torch.device | str | None = None) -> Distributed:
    """Return this process's :class:`Distributed`, joining the process group if ``torchrun`` started it.

    ``torchrun`` sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and the rendezvous address; without them (or
    with ``WORLD_SIZE=1``) this is a single process and nothing is initialised.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(device=torch.device(device or "cpu"))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and (device is None or torch.device(device).type == "cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Distributed(rank, world, local_rank, torch.device(f"cuda:{local_rank}" if use_cuda else "cpu"))


def shutdown(ctx: Distributed, wait: bool = True) -> None:
    """Leave the process group if one was joined, after a final barrier if ``wait``."""
    if ctx.active and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
