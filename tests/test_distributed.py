"""Distributed meta-training (lab.distributed): 2 CPU processes with gloo on loopback.

One start of two ranks does everything: a meta-step's all-reduced gradients against the single-process
step on the same meta-batch (float64, 1e-6 relative), then a 2-process training run that is stopped,
resumed from its state, and compared with an uninterrupted 2-process run and with one process.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from lab import distributed
from lab.compute import make_generator
from lab.fewshot_training import FewShotTrainConfig, train_fewshot
from lab.learners.maml_images import MAMLClassifier, MAMLImageConfig
from lab.nets import load_params_, random_init
from lab.tasks import FewShotFamily, GlyphAlphabets

WORLD = 2


def _model_and_batch() -> tuple[MAMLClassifier, object]:
    model = MAMLClassifier(MAMLImageConfig(channels=8, inner_lr=0.4))
    load_params_(model, random_init(model, 0))
    with torch.no_grad():
        model.head_weight.normal_(generator=make_generator(1))
    batch = FewShotFamily(GlyphAlphabets(), 5, 1, 3).sample(make_generator(2), 6)
    return model.double(), type(batch)(batch.support_x.double(), batch.support_y, batch.query_x.double(),
                                        batch.query_y, batch.meta)


def _config() -> FewShotTrainConfig:
    return FewShotTrainConfig(learner="maml", net={"channels": 8, "inner_lr": 0.4}, train_way=5, train_shot=1,
                              train_query=2, meta_batch=4, iterations=4, eval_every=100, eval_episodes=2,
                              checkpoint_every=100, seed=3)


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update({"WORLD_SIZE": str(WORLD), "RANK": str(rank), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    ctx = distributed.from_env("cpu")
    out_dir = Path(out)
    # 1. one meta-step: this rank's share of the tasks, gradients summed over ranks
    model, batch = _model_and_batch()
    part, share = ctx.shard(batch)
    (model.loss(part)[0] * share).backward()
    ctx.all_reduce_grads(model)
    if ctx.is_main:
        torch.save([p.grad for p in model.parameters()], out_dir / "grads.pt")
    # 2. a run stopped at iteration 2 by rank 0, then resumed; 3. the same run uninterrupted
    seen: list[int] = []

    def stop_at_2(p) -> bool:
        seen.append(p.iteration)
        return p.iteration != 2

    train_fewshot(_config(), None, out_dir / "runs_a", stop_at_2, log_every=1, dist=ctx)
    resumed = train_fewshot(_config(), out_dir / "resumed", out_dir / "runs_a",
                            lambda p: seen.append(p.iteration), log_every=1, dist=ctx)
    straight = train_fewshot(_config(), None, out_dir / "runs_b", dist=ctx)
    if ctx.is_main:
        torch.save({"seen": seen, "resumed": resumed.model.state_dict(), "straight": straight.model.state_dict(),
                    "files": sorted(p.name for p in out_dir.iterdir())}, out_dir / "runs.pt")
    distributed.shutdown(ctx)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_gloo_processes_match_one_and_resume(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    model, batch = _model_and_batch()
    model.loss(batch)[0].backward()
    single = torch.cat([p.grad.flatten() for p in model.parameters()])
    one_process = train_fewshot(_config(), None, None).model.state_dict()
    # Forked, the ranks inherit the glyph alphabets this process has drawn (seconds each to draw afresh).
    mp.start_processes(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True, start_method="fork")

    both = torch.cat([g.flatten() for g in torch.load(tmp_path / "grads.pt")])
    assert float((both - single).norm() / single.norm()) < 1e-6

    runs = torch.load(tmp_path / "runs.pt")
    assert runs["seen"] == [1, 2, 3, 4]  # stopped after 2, the resumed run went on from 3
    for key, value in runs["straight"].items():
        assert torch.allclose(runs["resumed"][key], value, rtol=1e-6, atol=1e-7), key
        # One process's weights, float32 rounding apart. Not the conv biases (BatchNorm cancels them) nor the
        # head (its copies start alike, so by symmetry its meta-gradient is 0): their gradients are rounding
        # noise, which Adam scales up to full-size steps.
        if re.search(r"encoder\.\d\.(0\.weight|1\.weight|1\.bias)$", key):
            assert torch.allclose(value, one_process[key], rtol=1e-4, atol=1e-5), key
    assert "resumed.pt" in runs["files"] and "resumed.json" in runs["files"]  # written once, by rank 0


def test_shard_splits_tasks_contiguously_and_refuses_too_few() -> None:
    _, batch = _model_and_batch()
    shares = [distributed.Distributed(rank=r, world_size=4).shard(batch) for r in range(4)]
    assert [part.n_tasks for part, _ in shares] == [1, 2, 1, 2]
    assert abs(sum(share for _, share in shares) - 1) < 1e-12
    assert torch.equal(torch.cat([part.query_x for part, _ in shares]), batch.query_x)
    with pytest.raises(ValueError, match="meta_batch=6 is smaller than the 8 processes"):
        distributed.Distributed(rank=0, world_size=8).shard(batch)
