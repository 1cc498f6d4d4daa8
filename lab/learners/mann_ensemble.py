"""An ensemble of trained MANNs (or LSTM baselines): every member runs the same episodes from its own fresh
memory, and their class probabilities are averaged at every step. Members trained from different seeds make
different mistakes on new characters, so the average is right more often than either (issue 4's notes have the
numbers on the Omniglot test alphabets)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from lab.learners.mann import MANNTrace
from lab.tasks.mann_episodes import MANNEpisodes

# What every member must agree on for their outputs to be averaged over the same episodes.
SHARED_FIELDS = ("n_classes", "label_mode", "image_size")


class MANNEnsemble(nn.Module):
    """Members' softmax outputs averaged per step; ``config`` is the first member's."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        first = members[0].config
        for i, member in enumerate(members[1:], start=1):
            for field in SHARED_FIELDS:
                if getattr(member.config, field) != getattr(first, field):
                    raise ValueError(f"ensemble member {i} has {field} {getattr(member.config, field)!r}, member 0 "
                                     f"{getattr(first, field)!r}: members must be trained for the same episodes")
        self.members = nn.ModuleList(members)

    @property
    def config(self) -> Any:
        """Return the first member's net config (the episodes' classes, labels and image size are shared)."""
        return self.members[0].config

    def forward(self, batch: MANNEpisodes) -> MANNTrace:
        """Return a trace whose ``logits`` are the log of the members' mean class probabilities at every step
        (logits only: each member has its own memory, so there is no one memory to record)."""
        probs = torch.stack([member(batch).logits.softmax(dim=-1) for member in self.members]).mean(dim=0)
        return MANNTrace(probs.log())
