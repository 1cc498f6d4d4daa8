"""Memory-augmented neural network (Santoro, Bartunov, Botvinick, Wierstra & Lillicrap 2016, "Meta-Learning with
Memory-Augmented Neural Networks", ICML) and the LSTM baseline it is compared with.

An LSTM controller reads ``(image_t, label_{t-1}, r_{t-1})`` and emits, per read head, a key ``k`` and a
write vector ``a`` (both tanh) and a write gate ``alpha``. The external memory ``M`` has ``N`` slots of
width ``M``; each step does, in this order (:meth:`MANN.step`):

1. **least used**: the ``R`` slots with the smallest usage ``u_{t-1}`` (head ``r`` takes the ``r``-th);
2. **LRUA write**: ``w^w = sigmoid(alpha) * w^r_{t-1} + (1 - sigmoid(alpha)) * w^lu`` — each head either
   updates the slot it read last step (where it finds the image it is now being told the label of) or
   takes a fresh, least-used slot; the least-used slot is wiped first, then ``M += sum_r w^w_r a_r^T``;
3. **content read**: ``w^r = softmax(beta * cosine(k, M_i))`` over slots, ``r_t = w^r M``;
4. **usage**: ``u_t = gamma * u_{t-1} + sum_r w^r + sum_r w^w`` (``gamma`` decays old usage);

and the class scores are a linear map of ``[h_t, r_t]``. Memory is reset at the start of every episode,
the weights are not: fast binding in the memory, slow learning in the weights.

Simplifications against the paper, flagged: the write vector is a separate ``a`` (as in the public
reproductions; the paper writes the key itself: ``write_key=True``); reads have a learned key strength
``beta >= 1`` (from the Neural Turing Machine; the paper's plain softmax over cosines in [-1, 1] is nearly
uniform over 128 slots and was slow to train; ``key_strength=False`` restores it); each head writes its
own least-used slot.

Optional, not in the paper: ``encoder="conv"`` puts a small learned conv net (three stride-2 3x3 conv
blocks, :func:`image_encoder`) in front of the controller instead of the flattened pixels, trained end to
end with the rest; the episode protocol, memory and LRUA are unchanged. Cosine reads over pixel-level
features transfer poorly to new Omniglot alphabets when only ~150 training characters are available; the
default stays ``"pixels"`` (the paper, and the shipped glyph model). ``encoder="conv4"`` is ProtoNet's Conv4
(28x28 input), loaded from a trained ProtoNet and kept frozen (``train mann --encoder-from``; on Omniglot it
did worse than ``conv``: the README has the numbers).

:func:`lrua_write_weights`, :func:`least_used` and :func:`cosine_read_weights` are the maths as pure functions; :class:`MANNTrace` keeps every step's read/write weights and usage for the Memory page.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lab.learners.mann_encoders import conv_feature_width, encode_views, image_encoder
from lab.tasks.mann_episodes import STRING_CHARS, STRING_LENGTH, MANNEpisodes, label_width

MEMORY_INIT = 1e-6  # the paper starts every slot at a small constant so that cosines are defined
ENCODERS = ("pixels", "conv", "conv4")
CONV4_IMAGE_SIZE = 28  # the size ProtoNet's Conv4 is trained at (lab.learners.protonet)


@dataclass
class MANNConfig:
    """Shape of a MANN (and of its LSTM baseline); defaults are the paper's Omniglot set-up."""

    n_classes: int = 5  # classes per episode (the output width in one-hot mode)
    label_mode: str = "onehot"  # onehot | string (the paper's 15-class variant)
    image_size: int = 20  # images are flattened: 400 inputs at 20x20
    controller: int = 200  # LSTM units
    memory_slots: int = 128  # N
    memory_width: int = 40  # M
    read_heads: int = 4  # R
    gamma: float = 0.95  # usage decay; the paper's reproductions use 0.95-0.99
    key_strength: bool = True  # learned beta >= 1 sharpening the cosine reads (not in the paper)
    write_key: bool = False  # write the read key itself (the paper) instead of a separate write vector a
    feature_keys: bool = False  # add a linear map of the image features to the keys (not in the paper)
    feature_writes: bool = False  # add a linear map of the previous image's features to the write vectors (not in
    # the paper; it starts at zero, so a trained model fine-tuned with it starts as it was)
    encoder: str = "pixels"  # pixels (the paper: the flattened image) | conv (a small learned conv net) | conv4
    encoder_channels: int = 32  # feature maps of each conv block (encoder="conv" or "conv4")
    feature_norm: float = 0.0  # > 0: each image's conv features are scaled to this Euclidean length
    test_views: int = 1  # > 1: in test mode, features are the mean over the image and test_views - 1 jittered copies
    read_first: bool = False  # read the memory as the step found it, before this step's write (not the paper's order)

    def __post_init__(self) -> None:
        label_width(self.label_mode, self.n_classes)
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder={self.encoder!r}; choose one of {ENCODERS}")
        for name in ("controller", "memory_slots", "memory_width", "read_heads", "image_size", "encoder_channels"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)!r} must be a whole number >= 1")
        if not (math.isfinite(self.feature_norm) and self.feature_norm >= 0):
            raise ValueError(f"feature_norm={self.feature_norm} must be finite and >= 0")
        if not (isinstance(self.test_views, int) and self.test_views >= 1):
            raise ValueError(f"test_views={self.test_views!r} must be a whole number >= 1")
        if self.test_views > 1 and self.encoder == "pixels":
            raise ValueError(f"test_views={self.test_views} averages the conv features of jittered copies; it needs "
                             f"a conv encoder (the paper's pixels would be blurred)")
        if self.encoder == "conv4" and self.image_size < 8:
            raise ValueError(f"image_size={self.image_size}: encoder='conv4' pools three times; give >= 8 "
                             f"(ProtoNet's Conv4 is trained at 28)")
        if self.feature_writes and self.write_key:
            raise ValueError("feature_writes adds to the write vectors, but write_key writes the keys themselves; "
                             "turn one of them off")
        if self.read_heads > self.memory_slots:
            raise ValueError(f"read_heads={self.read_heads} needs at least as many memory slots "
                             f"(memory_slots={self.memory_slots})")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma={self.gamma} must be in [0, 1]")

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)

    @property
    def feature_width(self) -> int:
        """Return the width of one image's features: ``image_size**2`` pixels, or the conv net's output."""
        return self.image_size**2 if self.encoder == "pixels" else conv_feature_width(self)

    @property
    def n_outputs(self) -> int:
        """Return the width of the output layer: ``n_classes`` or five 5-way characters (25)."""
        return self.n_classes if self.label_mode == "onehot" else STRING_CHARS * STRING_LENGTH


@dataclass
class MemoryState:
    """What a MANN carries from one step to the next, per episode (leading axis ``B``)."""

    memory: torch.Tensor  # [B, N, M]
    usage: torch.Tensor  # [B, N]
    read_weights: torch.Tensor  # [B, R, N]
    reads: torch.Tensor  # [B, R * M]
    h: torch.Tensor  # [B, H]
    c: torch.Tensor  # [B, H]


@dataclass
class MANNTrace:
    """What a learner did over a batch of episodes: ``logits`` ``[B, T, C]`` (or ``[B, T, 5, 5]`` for strings);
    for a MANN with ``record`` also the memory traffic at every step."""

    logits: torch.Tensor
    read_weights: torch.Tensor | None = None  # [B, T, R, N]
    write_weights: torch.Tensor | None = None  # [B, T, R, N]
    usage: torch.Tensor | None = None  # [B, T, N] after the step
    least_used: torch.Tensor | None = None  # [B, T] the slot wiped before the step's write
    memory: torch.Tensor | None = None  # [B, T, N, M] after the step

    @property
    def predictions(self) -> torch.Tensor:
        """Return the predicted label ``[B, T]`` (one-hot mode) or string ``[B, T, 5]``."""
        return self.logits.argmax(dim=-1)


def least_used(usage: torch.Tensor, n: int) -> torch.Tensor:
    """Return the indices ``[B, n]`` of the ``n`` least-used slots of ``usage`` ``[B, N]``, least first
    (ties to the lower slot number, so a fresh memory fills from slot 0)."""
    return usage.sort(dim=-1, stable=True).indices[:, :n]


def lrua_write_weights(gate: torch.Tensor, prev_read: torch.Tensor, least: torch.Tensor) -> torch.Tensor:
    """Return LRUA write weights ``[B, R, N]``: ``gate * prev_read + (1 - gate) * one_hot(least)``.

    ``gate`` ``[B, R]`` is ``sigmoid(alpha)`` in [0, 1]; ``prev_read`` ``[B, R, N]`` the heads' read weights
    of the previous step; ``least`` ``[B, R]`` each head's least-used slot.
    """
    fresh = F.one_hot(least, prev_read.shape[-1]).to(prev_read.dtype)
    g = gate.unsqueeze(-1)
    return g * prev_read + (1 - g) * fresh


def cosine_read_weights(keys: torch.Tensor, memory: torch.Tensor, strength: torch.Tensor | None = None
                        ) -> torch.Tensor:
    """Return read weights ``[B, R, N]``: a softmax over slots of ``strength * cosine(key, slot)``.

    ``keys`` ``[B, R, M]``, ``memory`` ``[B, N, M]``, ``strength`` ``[B, R]`` (``None``: 1, the paper's).
    """
    similarity = F.normalize(keys, dim=-1, eps=1e-8) @ F.normalize(memory, dim=-1, eps=1e-8).transpose(1, 2)
    if strength is not None:
        similarity = similarity * strength.unsqueeze(-1)
    return similarity.softmax(dim=-1)


def write_memory(memory: torch.Tensor, write_weights: torch.Tensor, vectors: torch.Tensor,
                 wipe: torch.Tensor) -> torch.Tensor:
    """Return the memory ``[B, N, M]`` after wiping slot ``wipe`` ``[B]`` and adding ``sum_r w_r a_r^T``.

    ``write_weights`` ``[B, R, N]``, ``vectors`` (the write vectors ``a``) ``[B, R, M]``.
    """
    keep = 1 - F.one_hot(wipe, memory.shape[1]).to(memory.dtype)
    return memory * keep.unsqueeze(-1) + write_weights.transpose(1, 2) @ vectors


class MANN(nn.Module):
    """LSTM controller with an LRUA memory; :meth:`forward` runs whole episodes and returns a :class:`MANNTrace`."""

    kind = "mann"

    def __init__(self, config: MANNConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or MANNConfig()
        r, m = c.read_heads, c.memory_width
        # The LSTM controller, written out so that the input part of its gates is one matmul over the whole
        # episode (the inputs are known up front; only the reads and h are recurrent): one large matmul instead
        # of 50 small ones.
        self.encoder = image_encoder(c)
        self.input_gates = nn.Linear(c.feature_width + label_width(c.label_mode, c.n_classes), 4 * c.controller)
        self.recurrent_gates = nn.Linear(r * m + c.controller, 4 * c.controller, bias=False)
        # Per head: key (M), write vector (M; none with write_key), write gate (1), key strength (1).
        self.heads = nn.Linear(c.controller, r * self.head_width)
        self.output = nn.Linear(c.controller + r * m, c.n_outputs)
        # feature_keys: a direct path from the image to its keys, so that two drawings with similar features
        # look each other up without the image having to pass through the LSTM's history-laden state first.
        self.feature_keys = nn.Linear(c.feature_width, r * m, bias=False) if c.feature_keys else None
        # feature_writes: the label that arrives at step t belongs to the image of step t-1, so a direct map of that
        # image's features into step t's write vectors lets a slot hold the pair (drawing, its label) without the
        # LSTM carrying the drawing over a step. Registered last, so the other parameters' seeded draws are as
        # without it; zero at the start (see zero_init_names).
        self.feature_writes = nn.Linear(c.feature_width, r * m, bias=False) if c.feature_writes else None
        if self.feature_writes is not None:
            nn.init.zeros_(self.feature_writes.weight)

    @property
    def zero_init_names(self) -> tuple[str, ...]:
        """Return the names of the parameters that start at zero (and may be missing from an older checkpoint)."""
        return ("feature_writes.weight",) if self.feature_writes is not None else ()

    @property
    def head_width(self) -> int:
        """Return the controller outputs per head: key, write vector (unless ``write_key``), gate, strength."""
        m = self.config.memory_width
        return m + 2 if self.config.write_key else 2 * m + 2

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> MemoryState:
        """Return the state at the start of an episode: memory at a small constant, no usage, no reads."""
        c = self.config
        device = device or self.output.weight.device
        zeros = torch.zeros
        return MemoryState(torch.full((batch, c.memory_slots, c.memory_width), MEMORY_INIT, device=device),
                           zeros(batch, c.memory_slots, device=device),
                           zeros(batch, c.read_heads, c.memory_slots, device=device),
                           zeros(batch, c.read_heads * c.memory_width, device=device),
                           zeros(batch, c.controller, device=device), zeros(batch, c.controller, device=device))

    def step(self, x_gates: torch.Tensor, state: MemoryState, x_keys: torch.Tensor | None = None,
             x_writes: torch.Tensor | None = None) -> tuple[torch.Tensor, MemoryState, dict[str, torch.Tensor]]:
        """Return ``(logits [B, C], next state, this step's write weights and wiped slot)`` for the input part
        of the controller's gates ``x_gates`` ``[B, 4H]`` (``input_gates`` of the image and previous label),
        with ``feature_keys`` the image's part of the keys ``x_keys`` ``[B, R*M]`` and with ``feature_writes``
        the previous image's part of the write vectors ``x_writes`` ``[B, R*M]``."""
        c = self.config
        r, m = c.read_heads, c.memory_width
        gates = x_gates + self.recurrent_gates(torch.cat([state.reads, state.h], dim=-1))
        i, f, g, o = gates.chunk(4, dim=-1)
        cell = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(cell)
        out = self.heads(h).view(-1, r, self.head_width)
        keys = torch.tanh(out[..., :m] if x_keys is None else out[..., :m] + x_keys.view(-1, r, m))
        if c.write_key:
            vectors = keys
        else:
            vectors = torch.tanh(out[..., m:2 * m] if x_writes is None else out[..., m:2 * m] + x_writes.view(-1, r, m))
        gate = torch.sigmoid(out[..., -2])
        strength = 1 + F.softplus(out[..., -1]) if c.key_strength else None
        least = least_used(state.usage, r)
        write_weights = lrua_write_weights(gate, state.read_weights, least)
        memory = write_memory(state.memory, write_weights, vectors, least[:, 0])
        read_from = state.memory if c.read_first else memory
        read_weights = cosine_read_weights(keys, read_from, strength)
        usage = c.gamma * state.usage + read_weights.sum(1) + write_weights.sum(1)
        reads = (read_weights @ read_from).flatten(1)
        logits = self.output(torch.cat([h, reads], dim=-1))
        return logits, MemoryState(memory, usage, read_weights, reads, h, cell), {"write": write_weights,
                                                                                  "wiped": least[:, 0]}

    def forward(self, batch: MANNEpisodes, record: bool = False, keep_memory: bool = False) -> MANNTrace:
        """Return the trace of ``batch``'s episodes, run from a fresh memory each; with ``record`` also the
        read/write weights and usage of every step, with ``keep_memory`` the memory after every step."""
        x = episode_inputs(batch, self.encoder, 1 if self.training else self.config.test_views)
        inputs = self.input_gates(x)  # [B, T, 4H]
        features = x[..., :self.config.feature_width]
        keys = self.feature_keys(features) if self.feature_keys is not None else None
        writes = None
        if self.feature_writes is not None:  # step t writes with the features of image t-1 (none before step 0)
            writes = self.feature_writes(torch.cat([torch.zeros_like(features[:, :1]), features[:, :-1]], dim=1))
        state = self.initial_state(inputs.shape[0], inputs.device)
        logits, rec = [], {"read": [], "write": [], "usage": [], "wiped": [], "memory": []}
        for t in range(inputs.shape[1]):
            out, state, wrote = self.step(inputs[:, t], state, None if keys is None else keys[:, t],
                                          None if writes is None else writes[:, t])
            logits.append(out)
            if record:
                rec["read"].append(state.read_weights), rec["write"].append(wrote["write"])
                rec["usage"].append(state.usage), rec["wiped"].append(wrote["wiped"])
                if keep_memory:
                    rec["memory"].append(state.memory)
        trace = MANNTrace(shape_logits(torch.stack(logits, dim=1), batch.label_mode))
        if record:
            trace.read_weights, trace.write_weights = torch.stack(rec["read"], 1), torch.stack(rec["write"], 1)
            trace.usage, trace.least_used = torch.stack(rec["usage"], 1), torch.stack(rec["wiped"], 1)
            trace.memory = torch.stack(rec["memory"], 1) if keep_memory else None
        return trace


class LSTMBaseline(nn.Module):
    """The paper's LSTM baseline: the same inputs, no external memory (all binding in the LSTM's state)."""

    kind = "mann-lstm"

    def __init__(self, config: MANNConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or MANNConfig()
        self.encoder = image_encoder(c)
        self.lstm = nn.LSTM(c.feature_width + label_width(c.label_mode, c.n_classes), c.controller, batch_first=True)
        self.output = nn.Linear(c.controller, c.n_outputs)

    def forward(self, batch: MANNEpisodes, record: bool = False, keep_memory: bool = False) -> MANNTrace:
        """Return the trace (logits only) of ``batch``'s episodes; ``record`` is accepted and ignored."""
        hidden, _ = self.lstm(episode_inputs(batch, self.encoder, 1 if self.training else self.config.test_views))
        return MANNTrace(shape_logits(self.output(hidden), batch.label_mode))


def episode_inputs(batch: MANNEpisodes, encoder: nn.Module | None = None, views: int = 1) -> torch.Tensor:
    """Return the controller inputs ``[B, T, D + L]``: each image's features (the flattened pixels, or
    ``encoder``'s output, computed for all images of the batch at once, averaged over ``views`` views as
    :func:`encode_views` does, or the batch's own features when it holds them, ``[B, T, D]``, from an encoded
    source) beside the previous label."""
    images = batch.images
    if images.dim() == 3:  # already the (frozen) encoder's output: lab.tasks.feature_cache
        features = images
    elif encoder is None:
        features = images.flatten(2)
    else:
        features = encode_views(encoder, images.flatten(0, 1), views).view(*images.shape[:2], -1)
    return torch.cat([features, batch.label_inputs], dim=-1)


def shape_logits(logits: torch.Tensor, label_mode: str) -> torch.Tensor:
    """Return ``logits`` ``[B, T, C]`` as they are (one-hot) or as ``[B, T, 5, 5]`` (five 5-way characters)."""
    return logits if label_mode == "onehot" else logits.unflatten(-1, (STRING_LENGTH, STRING_CHARS))


def episode_loss(trace: MANNTrace, batch: MANNEpisodes) -> torch.Tensor:
    """Return the mean cross-entropy over every step (and, for strings, every character) of the batch."""
    return F.cross_entropy(trace.logits.flatten(0, -2), batch.targets.flatten())


def correct_steps(trace: MANNTrace, batch: MANNEpisodes) -> torch.Tensor:
    """Return ``[B, T]`` bools: the prediction at each step is right (all five characters, for strings)."""
    right = trace.predictions == batch.targets
    return right if batch.label_mode == "onehot" else right.all(dim=-1)


def build_mann(kind: str, config: dict | None = None) -> nn.Module:
    """Return a fresh ``"mann"`` or ``"mann-lstm"`` model with the given config fields (others default)."""
    cfg = MANNConfig(**(config or {}))
    if kind == "mann":
        return MANN(cfg)
    if kind == "mann-lstm":
        return LSTMBaseline(cfg)
    raise ValueError(f"kind={kind!r}; choose mann or mann-lstm")
