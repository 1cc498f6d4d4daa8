"""A learned generative model of characters whose latent separates the *class* from the *drawing*.

A small set-conditional VAE in the spirit of the Neural Statistician (Edwards & Storkey, "Towards a Neural
Statistician", ICLR 2017) and of Rezende et al. 2016 ("One-shot generalization in deep generative models"):

* every image ``x_i`` of a set of ``K`` drawings of **one** character is encoded to ``h_i`` (an MLP);
* the **class code** ``c`` is inferred from the mean of the ``h_i`` — one code shared by all drawings of the
  character: ``q(c | x_1..x_K) = N(mu(mean h), sigma(mean h))``;
* each drawing gets its own **style code** ``z_i`` from ``q(z_i | h_i, c)``;
* a decoder draws the character's canonical form from ``c`` alone (an MLP, or with ``decoder="conv"`` two
  transposed convolutions, whose strokes come out sharper), and the style code only sets
  *how the hand draws it*: a small affine map (rotation, scale, shear, shift) and the pen's thickness,
  applied with ``grid_sample`` (a spatial transformer, Jaderberg et al. 2015); the result is the ink
  probability of every pixel, ``p(x_i | c, z_i)`` (Bernoulli).

The training loss is the negative ELBO per drawing: reconstruction cross-entropy plus ``KL(q(c)||N(0,I))/K``
plus ``KL(q(z_i)||N(0,I))``. Because ``c`` is shared across the set and the style code is small
(``style_dim`` << ``class_dim``), what all drawings of a character have in common has to go through ``c``
and only what differs between them (slant, size, pen) fits through ``z`` — by construction, since ``z``
can only warp and thicken the canonical drawing. Sampling a new ``c`` from the
prior and several ``z`` gives a *new class* with several drawings — a virtual task's class
(:func:`sample_characters`). :func:`latent_variation` measures how much samples change with each code.

Why this model: it is learned from data (not the hand-made glyph program), it factorises class and
style by construction, and an MLP encoder/decoder trains in a minute on one CPU thread (the conv decoder costs
about a third more).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lab.tasks.base import check_positive

DECODERS = ("mlp", "conv")


@dataclass
class CharacterVAEConfig:
    """Shape of the class/style VAE; the defaults train in about a minute on one CPU thread."""

    image_size: int = 28
    hidden: int = 256  # width of the encoder and decoder MLPs
    class_dim: int = 16  # the class code: room for a character's strokes
    style_dim: int = 4  # the style code: kept small so it cannot carry the character itself
    beta_style: float = 1.0  # weight of the style KL (a larger one squeezes the style code further)
    max_rotate: float = 0.35  # largest rotation the style code can ask for, radians (about 20 degrees)
    max_scale: float = 0.25  # largest log-scale per axis
    max_shear: float = 0.3
    max_shift: float = 0.2  # in half image widths
    decoder: str = "mlp"  # "mlp", or "conv": transposed convolutions (sharper strokes; 28x28 images only)

    def __post_init__(self) -> None:
        for name in ("image_size", "hidden", "class_dim", "style_dim"):
            check_positive(name, getattr(self, name))
        if not self.beta_style > 0:
            raise ValueError(f"beta_style={self.beta_style} must be > 0")
        if self.decoder not in DECODERS:
            raise ValueError(f"decoder={self.decoder!r}; choose one of {DECODERS}")
        if self.decoder == "conv" and self.image_size != 28:
            raise ValueError(f"the conv decoder draws 28x28 images, not {self.image_size}x{self.image_size}")

    def to_dict(self) -> dict:
        """Return the config as a JSON-ready dict."""
        return asdict(self)


@dataclass
class VAEOutput:
    """One forward pass over ``B`` sets of ``K`` drawings: loss terms (per drawing) and what was inferred."""

    loss: torch.Tensor  # scalar: reconstruction + kl_class + kl_style, per drawing
    reconstruction: torch.Tensor  # scalar: pixel cross-entropy summed over pixels, mean over drawings
    kl_class: torch.Tensor  # scalar, per drawing (the set's KL divided by K)
    kl_style: torch.Tensor  # scalar, per drawing
    class_mean: torch.Tensor  # [B, class_dim]
    style_mean: torch.Tensor  # [B, K, style_dim]
    probs: torch.Tensor  # [B, K, 1, S, S] reconstructed ink probabilities


def _kl_normal(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """Return KL(N(mean, exp(log_var)) || N(0, I)) summed over the last axis."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(-1)


class CharacterVAE(nn.Module):
    """The class/style VAE; :meth:`forward` returns a :class:`VAEOutput`, :meth:`decode` images."""

    kind = "character_vae"

    def __init__(self, config: CharacterVAEConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or CharacterVAEConfig()
        pixels = c.image_size ** 2
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(pixels, c.hidden), nn.ReLU(),
                                     nn.Linear(c.hidden, c.hidden), nn.ReLU())
        self.class_head = nn.Linear(c.hidden, 2 * c.class_dim)
        self.style_head = nn.Sequential(nn.Linear(c.hidden + c.class_dim, c.hidden // 2), nn.ReLU(),
                                        nn.Linear(c.hidden // 2, 2 * c.style_dim))
        if c.decoder == "conv":  # 7x7 -> 14x14 -> 28x28
            self.decoder = nn.Sequential(nn.Linear(c.class_dim, c.hidden), nn.ReLU(), nn.Linear(c.hidden, 64 * 7 * 7),
                                         nn.ReLU(), nn.Unflatten(-1, (64, 7, 7)),
                                         nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),
                                         nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1), nn.Flatten())
        else:
            self.decoder = nn.Sequential(nn.Linear(c.class_dim, c.hidden), nn.ReLU(),
                                         nn.Linear(c.hidden, c.hidden), nn.ReLU(), nn.Linear(c.hidden, pixels))
        # Style code -> rotation, log-scale x/y, shear, shift x/y, pen (each squashed into its range).
        self.hand = nn.Sequential(nn.Linear(c.style_dim, 32), nn.Tanh(), nn.Linear(32, 7))

    def canonical_logits(self, class_code: torch.Tensor) -> torch.Tensor:
        """Return the logits ``[..., 1, S, S]`` of the canonical drawing of each class code ``[..., class_dim]``."""
        s = self.config.image_size
        lead = class_code.shape[:-1]
        out = self.decoder(class_code.reshape(-1, class_code.shape[-1]))
        return out.view(*lead, 1, s, s)

    def decode(self, class_code: torch.Tensor, style_code: torch.Tensor) -> torch.Tensor:
        """Return ink probabilities ``[..., 1, S, S]`` in [0, 1]: the canonical drawing of each class code
        ``[..., class_dim]`` re-drawn by the hand of the matching style code ``[..., style_dim]``."""
        return self.draw(torch.sigmoid(self.canonical_logits(class_code)), style_code)

    def draw(self, canonical: torch.Tensor, style_code: torch.Tensor) -> torch.Tensor:
        """Return ink probabilities ``[..., 1, S, S]`` in [0, 1]: canonical drawings (ink probabilities
        ``[..., 1, S, S]``) re-drawn by the hand of the matching style code ``[..., style_dim]``."""
        c = self.config
        lead = style_code.shape[:-1]
        canon = canonical.reshape(-1, 1, c.image_size, c.image_size)
        p = torch.tanh(self.hand(style_code.reshape(-1, c.style_dim)))
        angle, log_sx, log_sy = p[:, 0] * c.max_rotate, p[:, 1] * c.max_scale, p[:, 2] * c.max_scale
        shear, shift, pen = p[:, 3] * c.max_shear, p[:, 4:6] * c.max_shift, p[:, 6]
        cos, sin = torch.cos(angle), torch.sin(angle)
        # affine_grid maps output to input coordinates: x_in = R(angle) Shear diag(exp(log_s)) x_out + shift.
        a = torch.stack([cos * log_sx.exp(), (cos * shear - sin) * log_sy.exp(),
                         sin * log_sx.exp(), (sin * shear + cos) * log_sy.exp()], -1).view(-1, 2, 2)
        theta = torch.cat([a, shift.unsqueeze(-1)], -1)
        grid = F.affine_grid(theta, list(canon.shape), align_corners=False)
        out = F.grid_sample(canon, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        thicker = F.max_pool2d(out, 3, stride=1, padding=1)
        thinner = -F.max_pool2d(-out, 3, stride=1, padding=1)
        pen = pen.view(-1, 1, 1, 1)
        out = out + pen.clamp(min=0) * (thicker - out) + (-pen).clamp(min=0) * (thinner - out)
        return out.clamp(1e-5, 1 - 1e-5).view(*lead, 1, c.image_size, c.image_size)

    def encode(self, sets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(hidden [B, K, H], class mean [B, Dc], class log-variance [B, Dc])`` of ``sets [B, K, 1, S, S]``."""
        b, k = sets.shape[:2]
        h = self.encoder(sets.reshape(b * k, -1)).view(b, k, -1)
        mean, log_var = self.class_head(h.mean(dim=1)).chunk(2, dim=-1)
        return h, mean, log_var.clamp(-8, 4)

    def forward(self, sets: torch.Tensor, rng: torch.Generator | None = None) -> VAEOutput:
        """Return the loss terms and inferred codes for ``sets [B, K, 1, S, S]`` (drawings of B characters).

        The reparameterisation noise comes from ``rng`` (seeded by the caller); ``None`` uses the means
        (no noise), as for a deterministic reconstruction.
        """
        if sets.dim() != 5:
            raise ValueError(f"sets must be [classes, drawings, 1, H, W], got {list(sets.shape)}")
        b, k = sets.shape[:2]
        h, c_mean, c_log_var = self.encode(sets)
        c = c_mean + (c_log_var / 2).exp() * self._noise(c_mean, rng)
        z_mean, z_log_var = self.style_head(torch.cat([h, c.unsqueeze(1).expand(b, k, -1)], -1)).chunk(2, -1)
        z_log_var = z_log_var.clamp(-8, 4)
        z = z_mean + (z_log_var / 2).exp() * self._noise(z_mean, rng)
        probs = self.decode(c.unsqueeze(1).expand(b, k, -1), z)
        rec = F.binary_cross_entropy(probs, sets, reduction="none").flatten(2).sum(-1).mean()
        kl_c = _kl_normal(c_mean, c_log_var).mean() / k
        kl_z = _kl_normal(z_mean, z_log_var).mean()
        loss = rec + kl_c + self.config.beta_style * kl_z
        return VAEOutput(loss, rec, kl_c, kl_z, c_mean, z_mean, probs)

    @staticmethod
    def _noise(like: torch.Tensor, rng: torch.Generator | None) -> torch.Tensor:
        if rng is None:
            return torch.zeros_like(like)
        return torch.randn(like.shape, generator=rng, device=rng.device).to(like.device, like.dtype)


def sample_codes(config: CharacterVAEConfig, n_classes: int, n_drawings: int, rng: torch.Generator,
                 temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Return prior draws ``(class codes [N, Dc], style codes [N, M, Ds])`` scaled by ``temperature``."""
    check_positive("n_classes", n_classes)
    check_positive("n_drawings", n_drawings)
    if not temperature > 0:
        raise ValueError(f"temperature={temperature} must be > 0")
    c = torch.randn((n_classes, config.class_dim), generator=rng, device=rng.device) * temperature
    z = torch.randn((n_classes, n_drawings, config.style_dim), generator=rng, device=rng.device) * temperature
    return c, z


def sample_characters(model: CharacterVAE, n_classes: int, n_drawings: int, rng: torch.Generator,
                      temperature: float = 1.0) -> torch.Tensor:
    """Return ``[n_classes, n_drawings, 1, S, S]`` ink images in [0, 1]: new characters (one class code
    each from the prior) drawn ``n_drawings`` times (one style code each), without gradients."""
    c, z = sample_codes(model.config, n_classes, n_drawings, rng, temperature)
    with torch.no_grad():
        return model.decode(c.unsqueeze(1).expand(-1, n_drawings, -1), z)


def latent_variation(model: CharacterVAE, rng: torch.Generator, n: int = 16) -> dict[str, float]:
    """Return how much samples change with each code, as mean per-pixel variances over an ``n x n`` grid of
    ``n`` class codes by ``n`` style codes (all from the prior):

    ``"class"``: variance across class codes with the style code fixed (averaged over styles);
    ``"style"``: variance across style codes with the class code fixed (averaged over classes);
    ``"ratio"``: class / style.
    """
    check_positive("n", n, minimum=2)
    c, _ = sample_codes(model.config, n, 1, rng)
    _, z = sample_codes(model.config, 1, n, rng)
    with torch.no_grad():
        grid = model.decode(c.view(n, 1, -1).expand(n, n, -1), z.view(1, n, -1).expand(n, n, -1))  # [Nc, Nz, ...]
    across_class = grid.var(dim=0).mean().item()
    across_style = grid.var(dim=1).mean().item()
    return {"class": across_class, "style": across_style, "ratio": across_class / max(across_style, 1e-12)}
