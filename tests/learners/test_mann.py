"""MANN: LRUA writes against a hand computation, reads, memory carried within and reset between episodes."""

from __future__ import annotations

import pytest
import torch

from lab.compute import make_generator
from lab.learners.mann import (
    MANN,
    MEMORY_INIT,
    LSTMBaseline,
    MANNConfig,
    correct_steps,
    cosine_read_weights,
    episode_inputs,
    episode_loss,
    least_used,
    lrua_write_weights,
    write_memory,
)
from lab.nets import load_params_, random_init
from lab.tasks.mann_episodes import MANNTaskFamily
from tests.tasks.test_episodes import CountingSource

TINY = {"n_classes": 3, "image_size": 4, "controller": 16, "memory_slots": 6, "memory_width": 5, "read_heads": 2}


def _model(cls=MANN, seed: int = 7, **changes) -> MANN:
    model = cls(MANNConfig(**{**TINY, **changes}))
    load_params_(model, random_init(model, seed))
    return model


def _episodes(n: int = 2, seed: int = 0, label_mode: str = "onehot"):
    family = MANNTaskFamily(CountingSource(n_classes=12, drawings_per_class=20), 3, 9, label_mode, 4)
    batch = family.sample(make_generator(seed), n)
    batch.images = batch.images / 12  # CountingSource's values are class numbers; keep inputs in [0, 1]
    return batch


def test_lrua_write_against_a_hand_computation() -> None:
    usage = torch.tensor([[0.5, 0.1, 0.9, 0.3]])
    least = least_used(usage, 1)
    assert least.tolist() == [[1]]
    prev_read = torch.tensor([[[0.1, 0.2, 0.3, 0.4]]])
    write = lrua_write_weights(torch.tensor([[0.25]]), prev_read, least)
    # 0.25 * previous read weights + 0.75 * one-hot(least used slot 1)
    assert torch.allclose(write, torch.tensor([[[0.025, 0.8, 0.075, 0.1]]]))
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]]])
    after = write_memory(memory, write, torch.tensor([[[2.0, -1.0]]]), least[:, 0])
    # slot 1 is wiped first, then every slot gets its write weight times a = (2, -1)
    expected = torch.tensor([[[1.05, -0.025], [1.6, -0.8], [1.15, 0.925], [0.7, 0.4]]])
    assert torch.allclose(after, expected)


def test_least_used_breaks_ties_towards_low_slots_and_gives_one_slot_per_head() -> None:
    assert least_used(torch.zeros(1, 5), 3).tolist() == [[0, 1, 2]]
    assert least_used(torch.tensor([[3.0, 0.2, 1.0, 0.1]]), 2).tolist() == [[3, 1]]


def test_step_updates_usage_with_decay_and_wipes_the_least_used_slot() -> None:
    model = _model(gamma=0.9)
    state = model.initial_state(1)
    state.usage = torch.tensor([[0.4, 0.0, 0.7, 0.2, 0.9, 0.5]])
    state.read_weights = torch.softmax(torch.randn(1, 2, 6, generator=make_generator(1)), -1)
    x = torch.randn(1, 4 * model.config.controller, generator=make_generator(2))
    _, new, wrote = model.step(x, state)
    assert wrote["wiped"].tolist() == [1]  # slot 1 has the lowest usage
    expected_usage = 0.9 * state.usage + new.read_weights.sum(1) + wrote["write"].sum(1)
    assert torch.allclose(new.usage, expected_usage)
    # Each head's write weights are a convex mix of two distributions, so they sum to one.
    assert torch.allclose(wrote["write"].sum(-1), torch.ones(1, 2))


def test_read_weights_sum_to_one() -> None:
    gen = make_generator(3)
    weights = cosine_read_weights(torch.randn(4, 3, 5, generator=gen), torch.randn(4, 7, 5, generator=gen),
                                  torch.rand(4, 3, generator=gen) * 5 + 1)
    assert torch.allclose(weights.sum(-1), torch.ones(4, 3))
    trace = _model()(_episodes(), record=True)
    assert trace.read_weights.shape == (2, 9, 2, 6)
    assert torch.allclose(trace.read_weights.sum(-1), torch.ones(2, 9, 2), atol=1e-6)
    assert bool((trace.read_weights >= 0).all())


def test_memory_is_carried_within_an_episode() -> None:
    model, batch = _model(), _episodes()
    trace = model(batch, record=True, keep_memory=True)
    inputs = model.input_gates(torch.cat([batch.images.flatten(2), batch.label_inputs], -1))
    state = model.initial_state(2)
    for t in range(9):
        logits, state, _ = model.step(inputs[:, t], state)
        assert torch.allclose(logits, trace.logits[:, t], atol=1e-6)
        assert torch.allclose(state.memory, trace.memory[:, t], atol=1e-6)
    # What is written stays: the memory after the last step is far from the fresh one, and a step run on a
    # fresh memory instead of the carried one gives other outputs.
    assert float((trace.memory[:, -1] - MEMORY_INIT).abs().max().detach()) > 0.1
    fresh_logits, _, _ = model.step(inputs[:, 8], model.initial_state(2))
    assert not torch.allclose(fresh_logits, trace.logits[:, 8], atol=1e-4)


def test_memory_is_reset_between_episodes() -> None:
    model = _model()
    first, second = _episodes(1, seed=0), _episodes(1, seed=1)
    alone = model(second).logits
    model(first)  # an earlier episode leaves nothing behind
    assert torch.allclose(model(second).logits, alone)
    both = _episodes(2, seed=0)
    one = both.to("cpu")
    one.images, one.label_inputs = both.images[1:], both.label_inputs[1:]
    assert torch.allclose(model(both).logits[1], model(one).logits[0], atol=1e-6)  # batched = one at a time


@pytest.mark.parametrize("cls", [MANN, LSTMBaseline])
def test_string_labels_give_five_five_way_outputs(cls) -> None:
    batch = _episodes(label_mode="string")
    model = _model(cls, label_mode="string")
    trace = model(batch)
    assert trace.logits.shape == (2, 9, 5, 5)
    assert correct_steps(trace, batch).shape == (2, 9)
    episode_loss(trace, batch).backward()


def test_config_limits() -> None:
    with pytest.raises(ValueError, match="read_heads=5"):
        MANNConfig(memory_slots=4, read_heads=5)
    with pytest.raises(ValueError, match="gamma"):
        MANNConfig(gamma=1.5)


def _conv_by_hand(encoder: torch.nn.Sequential, image: torch.Tensor) -> torch.Tensor:
    """One image ``[1, S, S]`` through the conv blocks written out: conv, running-statistics BatchNorm, ReLU."""
    x = image.unsqueeze(0)
    layers = list(encoder)
    for conv, norm in zip(layers[0::3], layers[1::3], strict=False):
        x = torch.nn.functional.conv2d(x, conv.weight, conv.bias, stride=2, padding=1)
        x = (x - norm.running_mean.view(1, -1, 1, 1)) / torch.sqrt(norm.running_var.view(1, -1, 1, 1) + norm.eps)
        x = torch.relu(x * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1))
    return x.flatten()


@pytest.mark.parametrize("size, width", [(20, 9 * 6), (4, 6), (9, 4 * 6)])
def test_conv_encoder_features_match_a_loop_over_images(size, width) -> None:
    config = MANNConfig(**{**TINY, "image_size": size, "encoder": "conv", "encoder_channels": 6})
    assert config.feature_width == width  # 20 -> 10 -> 5 -> 3 (9 positions), 4 -> 2 -> 1 -> 1, 9 -> 5 -> 3 -> 2
    model = MANN(config)
    load_params_(model, random_init(model, 5))
    gen = make_generator(4)
    norms = [m for m in model.encoder if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:  # running statistics away from 0/1, so the test mode's normalisation counts
        norm.running_mean.uniform_(-0.2, 0.2, generator=gen)
        norm.running_var.uniform_(0.5, 2.0, generator=gen)
        with torch.no_grad():
            norm.weight.uniform_(0.5, 1.5, generator=gen), norm.bias.uniform_(-0.1, 0.1, generator=gen)
    batch = MANNTaskFamily(CountingSource(n_classes=12, drawings_per_class=20), 3, 6, "onehot", size).sample(gen, 2)
    batch.images = torch.rand(batch.images.shape, generator=gen)
    model.eval()
    with torch.no_grad():
        inputs = episode_inputs(batch, model.encoder)
        assert inputs.shape == (2, 6, width + 3)
        for b in range(2):
            for t in range(6):
                expected = torch.cat([_conv_by_hand(model.encoder, batch.images[b, t]), batch.label_inputs[b, t]])
                assert torch.allclose(inputs[b, t], expected, atol=1e-5)


@pytest.mark.parametrize("cls", [MANN, LSTMBaseline])
def test_conv_encoder_trains_end_to_end(cls) -> None:
    model = _model(cls, encoder="conv", encoder_channels=4)
    batch = _episodes()
    trace = model(batch)
    assert trace.logits.shape == (2, 9, 3)
    episode_loss(trace, batch).backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.encoder.parameters())


def test_conv_encoder_memory_reset_between_episodes_and_batched_equals_one_at_a_time() -> None:
    # In test mode the conv features of an image depend on that image only (running BatchNorm statistics),
    # so the MANN's episodes stay independent; in training mode the batch statistics couple them.
    model = _model(encoder="conv", encoder_channels=4).eval()
    first, second = _episodes(1, seed=0), _episodes(1, seed=1)
    alone = model(second).logits
    model(first)
    assert torch.allclose(model(second).logits, alone)
    both = _episodes(2, seed=0)
    one = both.to("cpu")
    one.images, one.label_inputs = both.images[1:], both.label_inputs[1:]
    assert torch.allclose(model(both).logits[1], model(one).logits[0], atol=1e-6)


def test_configs_without_an_encoder_field_are_the_papers_pixels() -> None:
    config = MANNConfig(**{k: v for k, v in MANNConfig().to_dict().items() if not k.startswith("encoder")})
    assert config.encoder == "pixels" and config.feature_width == 400
    assert _model().encoder is None
    assert sorted(k for k in _model().state_dict() if "encoder" in k) == []
    with pytest.raises(ValueError, match="encoder='resnet'"):
        MANNConfig(encoder="resnet")


def test_write_key_writes_the_read_key_itself() -> None:
    model = _model(write_key=True)
    assert model.heads.out_features == 2 * (5 + 2)  # per head: key, gate, strength (no write vector)
    state = model.initial_state(1)
    x = torch.randn(1, 4 * model.config.controller, generator=make_generator(2))
    _, new, wrote = model.step(x, state)
    h = new.h
    out = model.heads(h).view(1, 2, 7)
    keys = torch.tanh(out[..., :5])
    expected = write_memory(state.memory, wrote["write"], keys, wrote["wiped"])
    assert torch.allclose(new.memory, expected, atol=1e-6)
    strength = 1 + torch.nn.functional.softplus(out[..., -1])
    assert torch.allclose(new.read_weights, cosine_read_weights(keys, expected, strength), atol=1e-6)


def test_feature_keys_add_a_linear_map_of_the_image_to_the_keys() -> None:
    model, batch = _model(feature_keys=True, write_key=True), _episodes()
    trace = model(batch, record=True, keep_memory=True)
    x = episode_inputs(batch)
    inputs, extra = model.input_gates(x), x[..., :16] @ model.feature_keys.weight.T  # 4x4 pixels per image
    state = model.initial_state(2)
    for t in range(9):
        before = state
        logits, state, wrote = model.step(inputs[:, t], state, extra[:, t])
        keys = torch.tanh(model.heads(state.h).view(2, 2, 7)[..., :5] + extra[:, t].view(2, 2, 5))
        assert torch.allclose(state.memory, write_memory(before.memory, wrote["write"], keys, wrote["wiped"]), atol=1e-6)
        assert torch.allclose(logits, trace.logits[:, t], atol=1e-6)
    assert _model().feature_keys is None


def test_feature_norm_gives_every_image_features_of_that_length() -> None:
    model = _model(encoder="conv", encoder_channels=16, feature_norm=5.0)
    batch = _episodes()
    features = episode_inputs(batch, model.encoder)[..., :16]  # 4x4 images: 16 channels x 1 x 1
    assert torch.allclose(features.norm(dim=-1), torch.full((2, 9), 5.0), atol=1e-5)
    with pytest.raises(ValueError, match="feature_norm=-1"):
        MANNConfig(feature_norm=-1.0)


@pytest.mark.parametrize("size, width", [(28, 9 * 4), (20, 4 * 4), (8, 1 * 4)])
@pytest.mark.parametrize("cls", [MANN, LSTMBaseline])
def test_a_model_on_cached_conv4_features_equals_the_model_on_the_images(cls, size, width) -> None:
    model = _model(cls, image_size=size, encoder="conv4", encoder_channels=4, feature_norm=5.0,
                   **({"feature_keys": True} if cls is MANN else {}))
    assert model.config.feature_width == width  # 28 -> 14 -> 7 -> 3, 20 -> 10 -> 5 -> 2, 8 -> 4 -> 2 -> 1
    gen = make_generator(3)
    batch = MANNTaskFamily(CountingSource(n_classes=12, drawings_per_class=20), 3, 9, "onehot", size).sample(gen, 2)
    batch.images = torch.rand(batch.images.shape, generator=gen)
    model.eval()
    with torch.no_grad():
        features = model.encoder(batch.images.flatten(0, 1)).view(2, 9, -1)
        assert features.shape == (2, 9, width)
        assert torch.allclose(features.norm(dim=-1), torch.full((2, 9), 5.0))
        on_images = model(batch).logits
        batch.images = features  # what an EncodedSource serves: the encoder's output, [B, T, D]
        on_features = model(batch).logits
    torch.testing.assert_close(on_features, on_images)


def test_a_protonets_conv4_loads_into_the_conv4_encoder_and_mismatches_are_refused() -> None:
    from lab.learners.mann_encoders import load_protonet_encoder_
    from lab.learners.protonet import ProtoNet, ProtoNetConfig
    protonet = ProtoNet(ProtoNetConfig(channels=4, last_pool=False))
    load_params_(protonet, random_init(protonet, 3))
    model = _model(image_size=28, encoder="conv4", encoder_channels=4, feature_norm=5.0)
    load_protonet_encoder_(model, protonet.state_dict(), "pn")
    images = torch.rand((7, 1, 28, 28), generator=make_generator(5))
    protonet.eval(), model.eval()
    with torch.no_grad():
        expected = 5.0 * torch.nn.functional.normalize(protonet.encoder(images), dim=-1)
        torch.testing.assert_close(model.encoder(images), expected)
    with pytest.raises(ValueError, match="encoder_channels=8"):
        load_protonet_encoder_(_model(image_size=28, encoder="conv4", encoder_channels=8), protonet.state_dict(), "pn")
    with pytest.raises(ValueError, match="needs encoder='conv4'"):
        load_protonet_encoder_(_model(encoder="conv", encoder_channels=4), protonet.state_dict(), "pn")
    with pytest.raises(ValueError, match="pools three times"):
        MANNConfig(encoder="conv4", image_size=7)


def test_conv4_features_are_centred_on_the_mean_of_the_images_given() -> None:
    from lab.learners.mann_encoders import center_features_
    model = _model(image_size=28, encoder="conv4", encoder_channels=4)  # no fixed length: the raw centred features
    images = torch.rand((30, 1, 28, 28), generator=make_generator(8))
    model.eval()
    with torch.no_grad():
        raw = model.encoder[0](images)
        torch.testing.assert_close(model.encoder(images), raw)  # the mean starts at zero
        center_features_(model, images, chunk=7)  # in chunks that do not divide 30
        torch.testing.assert_close(model.encoder(images), raw - raw.mean(0))
    assert "encoder.1.mean" in model.state_dict()  # saved with the weights


@pytest.mark.parametrize("cls", [MANN, LSTMBaseline])
def test_test_views_average_the_features_of_jittered_copies_in_test_mode_only(cls) -> None:
    from lab.learners.mann_encoders import encode_views
    from lab.tasks.augment import jitter
    model = _model(cls, image_size=12, encoder="conv", encoder_channels=4, feature_norm=5.0, test_views=3)
    gen = make_generator(6)
    batch = MANNTaskFamily(CountingSource(n_classes=12, drawings_per_class=20), 3, 6, "onehot", 12).sample(gen, 2)
    batch.images = torch.rand(batch.images.shape, generator=gen)
    images = batch.images.flatten(0, 1)
    model.eval()
    with torch.no_grad():
        rng = make_generator(0)  # by hand: the image and two copies drawn in order from seed 0, mean, length 5
        by_hand = model.encoder(images) + model.encoder(jitter(images, rng)) + model.encoder(jitter(images, rng))
        by_hand = 5.0 * torch.nn.functional.normalize(by_hand / 3, dim=-1)
        torch.testing.assert_close(encode_views(model.encoder, images, 3), by_hand)
        torch.testing.assert_close(episode_inputs(batch, model.encoder, 3)[..., :-3], by_hand.view(2, 6, -1))
        three = model(batch).logits
        model.config.test_views = 1
        one = model(batch).logits
        assert not torch.allclose(three, one)  # the views change what the learner sees at test time
        model.config.test_views = 3
        torch.testing.assert_close(model(batch).logits, three)  # and the same views every time
    model.train()
    trained_mode = model(batch).logits
    model.config.test_views = 1
    torch.testing.assert_close(model(batch).logits, trained_mode)  # training sees each image once


def test_test_views_need_a_conv_encoder() -> None:
    with pytest.raises(ValueError, match="needs a conv encoder"):
        MANNConfig(test_views=2)
    with pytest.raises(ValueError, match="test_views=0"):
        MANNConfig(encoder="conv", test_views=0)


def test_read_first_reads_the_memory_as_the_step_found_it() -> None:
    batch = _episodes()
    with torch.no_grad():
        paper = _model()(batch, record=True)
        first = _model(read_first=True)(batch, record=True)  # the same weights (same seed), the other order
    # step 0: the memory it found is all one constant, so a read before the write weighs every slot alike
    torch.testing.assert_close(first.read_weights[:, 0], torch.full_like(first.read_weights[:, 0], 1 / 6))
    assert not torch.allclose(paper.read_weights[:, 0], torch.full_like(paper.read_weights[:, 0], 1 / 6))
    torch.testing.assert_close(first.write_weights[:, 0], paper.write_weights[:, 0])  # writes do not depend on it


def test_feature_writes_add_the_previous_images_features_to_the_write_vectors() -> None:
    model, batch = _model(feature_keys=True, feature_writes=True), _episodes()
    assert model.zero_init_names == ("feature_writes.weight",) and _model().feature_writes is None
    with torch.no_grad():
        model.feature_writes.weight.normal_(generator=make_generator(3))  # random_init drew it; make it clearly nonzero
    trace = model(batch, record=True, keep_memory=True)
    x = episode_inputs(batch)
    inputs, extra = model.input_gates(x), x[..., :16] @ model.feature_keys.weight.T
    state = model.initial_state(2)
    for t in range(9):  # the write vector of step t gets image t-1's features; step 0 gets none
        before = state
        previous = torch.zeros(2, 10) if t == 0 else x[:, t - 1, :16] @ model.feature_writes.weight.T
        logits, state, wrote = model.step(inputs[:, t], state, extra[:, t], previous)
        vectors = torch.tanh(model.heads(state.h).view(2, 2, 12)[..., 5:10] + previous.view(2, 2, 5))
        assert torch.allclose(state.memory, write_memory(before.memory, wrote["write"], vectors, wrote["wiped"]),
                              atol=1e-6)
        assert torch.allclose(logits, trace.logits[:, t], atol=1e-6)
        assert torch.allclose(state.memory, trace.memory[:, t], atol=1e-6)


def test_feature_writes_start_at_zero_so_a_model_gains_them_unchanged() -> None:
    plain, batch = _model(feature_keys=True), _episodes()
    grown = MANN(MANNConfig(**{**TINY, "feature_keys": True, "feature_writes": True}))
    assert float(grown.feature_writes.weight.detach().abs().max()) == 0
    grown.load_state_dict(plain.state_dict(), strict=False)
    assert torch.allclose(plain(batch).logits, grown(batch).logits, atol=1e-6)
    with pytest.raises(ValueError, match="turn one of them off"):
        MANNConfig(feature_writes=True, write_key=True)
