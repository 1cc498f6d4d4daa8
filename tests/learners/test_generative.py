"""The class/style VAE: shapes and ranges, the KL against torch.distributions, the decoder's warp against
jitter-free identity, learning that beats the untrained model, and class codes that matter more than style."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from lab.compute import make_generator
from lab.learners.generative import (
    CharacterVAE,
    CharacterVAEConfig,
    _kl_normal,
    latent_variation,
    sample_characters,
)
from lab.nets import load_params_, random_init
from lab.tasks.splits import glyph_split


def _model(seed: int = 0, **cfg) -> CharacterVAE:
    model = CharacterVAE(CharacterVAEConfig(hidden=64, **cfg))
    return load_params_(model, random_init(model, seed))


@pytest.mark.parametrize("decoder", ["mlp", "conv"])
def test_samples_have_the_right_shape_and_range(decoder):
    out = sample_characters(_model(decoder=decoder), 3, 4, make_generator(0))
    assert out.shape == (3, 4, 1, 28, 28)
    assert out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    again = sample_characters(_model(decoder=decoder), 3, 4, make_generator(0))
    assert torch.equal(out, again)  # every draw from the given seed


def test_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    mean, log_var = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    ref = kl_divergence(Normal(mean, (log_var / 2).exp()), Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(_kl_normal(mean, log_var), ref, atol=1e-5)


@pytest.mark.parametrize("decoder", ["mlp", "conv"])
def test_a_neutral_hand_leaves_the_canonical_drawing_unchanged(decoder):
    model = _model(decoder=decoder)
    with torch.no_grad():  # zero last layer of the hand: no rotation, scale, shear, shift or pen change
        model.hand[-1].weight.zero_()
        model.hand[-1].bias.zero_()
    c = torch.randn(2, model.config.class_dim, generator=torch.Generator().manual_seed(2))
    z = torch.randn(2, model.config.style_dim, generator=torch.Generator().manual_seed(3))
    canon = torch.sigmoid(model.canonical_logits(c)).clamp(1e-5, 1 - 1e-5)
    assert torch.allclose(model.decode(c, z), canon, atol=1e-5)


def test_the_conv_decoder_draws_each_code_alone_and_only_28_pixel_images():
    model = _model(decoder="conv")
    codes = torch.randn(2, 3, model.config.class_dim, generator=torch.Generator().manual_seed(4))
    together = model.canonical_logits(codes)
    assert together.shape == (2, 3, 1, 28, 28)
    assert torch.allclose(together[1, 2], model.canonical_logits(codes[1, 2]), atol=1e-5)  # no mixing across codes
    with pytest.raises(ValueError, match="the conv decoder draws 28x28 images"):
        CharacterVAEConfig(decoder="conv", image_size=32)
    with pytest.raises(ValueError, match="decoder='gan'"):
        CharacterVAEConfig(decoder="gan")


def test_forward_rejects_a_flat_batch():
    with pytest.raises(ValueError, match=r"sets must be \[classes, drawings, 1, H, W\]"):
        _model()(torch.zeros(4, 1, 28, 28))


def test_training_on_glyphs_lowers_the_loss_and_class_codes_vary_samples_more_than_style_codes():
    torch.manual_seed(0)
    train = glyph_split().train
    model = _model(seed=4)
    rng = make_generator(5)
    classes = torch.arange(0, train.n_classes, train.n_classes // 40)  # 40 characters from all alphabets
    fixed = train.drawings(classes[:16], 5, make_generator(6))
    before = model(fixed).loss.item()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(250):
        picks = classes[torch.randint(len(classes), (16,), generator=rng)]
        out = model(train.drawings(picks, 5, rng), rng)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    after = model(fixed).loss.item()
    assert after < 0.6 * before, (before, after)
    variation = latent_variation(model, make_generator(7), n=12)
    # Measured: class codes change a sample about twice as much as style codes (per-pixel variance).
    assert variation["ratio"] > 1.2, variation
