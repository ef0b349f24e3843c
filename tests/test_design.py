"""Network designs: shape propagation over every model x front-end, named errors, checkpoints, gradients."""

import copy
import math
from pathlib import Path

import pytest
import torch

from sonogram.network.checkpoint import load_checkpoint, save_checkpoint
from sonogram.config import apply_overrides, from_dict, to_dict
from sonogram.network.design import (DesignConfig, build_network, count_params, load_design, match_budget, summary,
                             summary_rows)
from sonogram.errors import ConfigError
from sonogram.models import MODELS, MLPConfig

REPO = Path(__file__).resolve().parents[1]
RATE, SAMPLES = 8000, 1600

FRONTENDS = {
    "waveform": [{"name": "waveform", "normalize": "peak"}],
    "fft": [{"name": "fft", "n_fft": 256}],
    "power": [{"name": "spectrogram", "n_fft": 128, "hop_length": 64}, {"name": "amplitude_to_db"}],
    "complex": [{"name": "spectrogram", "n_fft": 128, "hop_length": 64, "power": None}, {"name": "normalize"}],
    "log_mel": [{"name": "log_mel", "n_fft": 128, "hop_length": 64, "n_mels": 20}, {"name": "normalize"}],
    "log_mel_augmented": [{"name": "log_mel", "n_fft": 128, "hop_length": 64, "n_mels": 20}, {"name": "spec_augment"}],
    "mfcc_deltas": [{"name": "mfcc", "n_mfcc": 13, "deltas": 2, "melkwargs": {"n_fft": 128, "hop_length": 64,
                                                                               "n_mels": 20}},
                    {"name": "normalize"}],
    "decimated_fft_frames": [{"name": "decimate", "rate": 2},
                             {"name": "spectrogram", "n_fft": 64, "hop_length": 16, "center": False, "power": 1.0}],
    "learnable_stft": [{"name": "learnable_stft", "n_fft": 128, "hop_length": 64, "output": "complex"}],
    "fused": [{"name": "fuse", "branches": [
        [{"name": "crop", "num_samples": 1200}, {"name": "log_mel", "n_fft": 128, "hop_length": 64, "n_mels": 20}],
        [{"name": "mfcc", "n_mfcc": 13, "melkwargs": {"n_fft": 128, "hop_length": 64, "n_mels": 20}}]]}],
}

SMALL_MODELS = {
    "mlp": {"hidden": [16]},
    "cosine": {"scale": 8.0},
    "fftconv": {"frame_size": 8, "conv_size": 4, "conv_stride": 2, "hidden": [16]},
    "small_cnn": {"channels": [4, 8], "dense": 16},
    "cnn": {"channels": [4, 8, 8, 8, 8]},
    "rnn": {"hidden": 8, "num_layers": 1},
    "transformer": {"d_model": 16, "nhead": 2, "num_layers": 1, "dim_feedforward": 16},
    "bcresnet": {"width": 4},
}

# Pairs that cannot work, with the reason the design must name.
INCOMPATIBLE = {
    ("fftconv", "fft"): "frame_size",  # one frame, the window needs 8
    ("fftconv", "waveform"): None,  # allowed: windows of samples
    ("small_cnn", "waveform"): "small_cnn",  # 1 x 1600: too few rows for two 3x3 convolutions
    ("small_cnn", "fft"): "small_cnn",
    ("fftconv", "fused"): "frame_size",  # one column of joined values, as after fft
    ("small_cnn", "fused"): "small_cnn",
}


def design(frontend: str, model: str) -> dict:
    """A small design as plain data (a fresh copy each call)."""
    return copy.deepcopy({"sample_rate": RATE, "num_samples": SAMPLES, "num_classes": 4,
                          "frontend": FRONTENDS[frontend], "model": {"name": model, **SMALL_MODELS[model]}})


def test_every_model_is_covered():
    assert set(SMALL_MODELS) == set(MODELS)


@pytest.mark.parametrize("model", sorted(SMALL_MODELS))
@pytest.mark.parametrize("frontend", sorted(FRONTENDS))
def test_shape_propagation(frontend, model):
    reason = INCOMPATIBLE.get((model, frontend))
    if reason:
        with pytest.raises(ConfigError, match=reason):
            build_network(design(frontend, model))
        return
    net = build_network(design(frontend, model))
    assert net(torch.randn(3, SAMPLES)).shape == (3, 4)
    features = net.features(torch.randn(3, SAMPLES))
    assert tuple(features.shape[1:]) == net.feature_shape
    expected_channels = {"complex": 2, "learnable_stft": 2, "mfcc_deltas": 3}.get(frontend, 1)
    assert net.feature_shape[0] == expected_channels


def test_frame_logits_follow_the_windows():
    net = build_network(design("decimated_fft_frames", "fftconv")).eval()
    frames = net.feature_shape[-1]  # (800 - 64) / 16 + 1 = 47
    assert frames == 47
    waveforms = torch.randn(2, SAMPLES)
    per_frame, clip = net.frame_logits(waveforms), net(waveforms)
    assert per_frame.shape == (2, frames - 8 + 1, 4)
    assert torch.allclose(clip, per_frame.log_softmax(-1).mean(1), atol=1e-6)  # the mean of window log-probabilities
    with pytest.raises(ConfigError, match="per clip"):
        build_network(design("log_mel", "cnn")).frame_logits(torch.randn(1, SAMPLES))


@pytest.mark.parametrize("change, message", [
    ({"frontend": [{"name": "melspec"}]}, r"unknown front-end 'melspec'; valid: waveform, decimate"),
    ({"frontend": [{"name": "log_mel", "nmels": 40}]}, r"unknown key 'frontend.0.nmels' for log_mel; valid keys: .*n_mels"),
    ({"frontend": [{"name": "normalize"}]}, r"frontend.0 \(normalize\) takes features"),
    ({"frontend": [{"name": "log_mel"}, {"name": "mfcc"}]}, r"frontend.1 \(mfcc\) takes a waveform but receives features"),
    ({"frontend": [{"name": "decimate", "rate": 2}]}, r"ends in a waveform"),
    ({"frontend": []}, r"frontend is empty"),
    ({"frontend": [{"name": "spectrogram", "n_fft": 4096}]}, r"frontend.0 \(spectrogram\)"),
    ({"frontend": [{"name": "spectrogram", "hop_length": -5}]}, r"hop_length"),
    ({"frontend": [{"name": "fft"}, {"name": "normalize"}]}, r"frontend.1 \(normalize\) cannot take its input \(1, 801, 1\): .*use per: clip"),
    ({"model": {"name": "resnet"}}, r"unknown model 'resnet'; valid: mlp, fftconv"),
    ({"model": {"name": "cnn", "chanels": [8]}}, r"unknown key 'model.chanels'; valid keys: channels"),
    ({"model": {"name": "mlp", "hidden": "wide"}}, r"model.hidden: expected a list"),
    ({"model": {"name": "rnn", "cell": "tcn"}}, r"model.cell: 'tcn' is not one of 'lstm', 'gru'"),
    ({"model": {"name": "fftconv", "frame_size": 8, "conv_size": 9}}, r"model.conv_size=9 is larger than model.frame_size=8"),
    ({"model": {"name": "fftconv", "frame_size": 400}}, r"model.frame_size=400 FFT frames is more than the 26 frames"),
    ({"model": {"name": "fftconv", "frame_size": 8, "conv_freq": 4}}, r"model.conv_freq must be odd"),
    ({"model": {"name": "transformer", "d_model": 30, "nhead": 4}}, r"d_model=30 must be divisible by model.nhead=4"),
    ({"num_classes": 1}, r"num_classes must be at least 2, got 1"),
])
def test_invalid_designs_name_the_key(change, message):
    data = {"sample_rate": RATE, "num_samples": SAMPLES, "num_classes": 4,
            "frontend": [{"name": "log_mel", "n_fft": 128, "hop_length": 64, "n_mels": 20}],
            "model": {"name": "fftconv", "frame_size": 8}, **change}
    with pytest.raises(ConfigError, match=message):
        build_network(data)


def test_unknown_top_level_key():
    with pytest.raises(ConfigError, match="unknown key 'design.samplerate'; valid keys: sample_rate"):
        build_network({"samplerate": 8000})


def test_sample_rate_flows_through_decimation():
    net = build_network({"sample_rate": 16000, "num_samples": 16000, "frontend": [
        {"name": "decimate", "rate": 2}, {"name": "log_mel", "n_fft": 256, "n_mels": 40}], "model": {"name": "cnn"}})
    assert net.frontend[1].mel.mel_scale.fb.shape == (129, 40)
    reference = build_network({"sample_rate": 8000, "num_samples": 8000,
                               "frontend": [{"name": "log_mel", "n_fft": 256, "n_mels": 40}], "model": {"name": "cnn"}})
    assert torch.equal(net.frontend[1].mel.mel_scale.fb, reference.frontend[0].mel.mel_scale.fb)


def test_summary_lists_every_layer_and_the_total():
    net = build_network(design("log_mel", "cnn"))
    rows = summary_rows(net)
    assert [r["layer"] for r in rows[:2]] == ["frontend.0_log_mel", "frontend.1_normalize"]
    assert rows[0]["output"] == [-1, 1, 20, 26]
    assert sum(r["params"] for r in rows) == count_params(net)
    assert rows[-1] == {"layer": "logits", "type": "", "output": [-1, 4], "params": 0}
    text = summary(net)
    assert f"total params: {count_params(net):,}" in text and "model.blocks" in text


def test_summary_counts_model_level_parameters():
    net = build_network(design("log_mel", "transformer"))
    assert sum(r["params"] for r in summary_rows(net)) == count_params(net)


def test_count_params_trainable_only():
    frozen = build_network(design("log_mel", "mlp") | {"frontend": [
        {"name": "learnable_stft", "n_fft": 64, "hop_length": 32, "trainable": False}]})
    trainable = build_network(design("log_mel", "mlp") | {"frontend": [
        {"name": "learnable_stft", "n_fft": 64, "hop_length": 32}]})
    assert count_params(frozen, trainable_only=True) == count_params(trainable) - 66 * 64


@pytest.mark.parametrize("model, key, budget", [("rnn", "hidden", 60_000), ("cnn", "channels", 60_000),
                                                ("transformer", "d_model", 60_000)])
def test_match_budget(model, key, budget):
    matched, params = match_budget(DesignConfig(**design("log_mel", model)), budget, key)
    assert params == count_params(build_network(matched))
    assert abs(params - budget) / budget < 0.1


def test_match_budget_rejects_non_integer_keys():
    with pytest.raises(ConfigError, match="model.pooling must be an integer"):
        match_budget(DesignConfig(**design("log_mel", "rnn")), 10_000, "pooling")


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    data = design("complex", "cnn")
    net = build_network(data)
    net.frontend[1].fit(net.frontend[0](torch.randn(16, SAMPLES)))  # fitted global statistics are saved too
    net.frontend[1].mode = "global"
    data["frontend"][1]["mode"] = "global"
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_checkpoint(tmp_path / "model.pt", net, list("abcd"), epoch=3)
    loaded, checkpoint = load_checkpoint(tmp_path / "model.pt")
    x = torch.randn(5, SAMPLES)
    assert torch.equal(net.eval()(x), loaded(x))
    assert checkpoint["labels"] == list("abcd") and checkpoint["epoch"] == 3
    raw = torch.load(tmp_path / "model.pt", weights_only=True)  # plain torch, no sonogram classes inside
    assert raw["design"] == to_dict(DesignConfig(**data)) and set(raw["state_dict"]) == set(net.state_dict())
    assert not list(tmp_path.glob(".*tmp"))


def test_checkpoint_errors(tmp_path):
    net = build_network(design("log_mel", "mlp"))
    with pytest.raises(ConfigError, match="3 labels for a network with 4 outputs"):
        save_checkpoint(tmp_path / "model.pt", net, ["a", "b", "c"])
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="not a readable sonogram model"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="not a sonogram model file"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="no such model file"):
        load_checkpoint(tmp_path / "missing.pt")


def tone_batch(n_classes: int = 4, per_class: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips of a class-specific tone with noise: ``(n_classes * per_class, SAMPLES)`` and labels."""
    generator = torch.Generator().manual_seed(0)
    t = torch.arange(SAMPLES) / RATE
    clips, labels = [], []
    for label in range(n_classes):
        for _ in range(per_class):
            freq = 300.0 * (label + 1) + 40 * torch.rand(1, generator=generator).item()
            clips.append(torch.sin(2 * math.pi * freq * t) + 0.1 * torch.randn(SAMPLES, generator=generator))
            labels.append(label)
    return torch.stack(clips), torch.tensor(labels)


@pytest.mark.slow
@pytest.mark.parametrize("model, frontend", [
    ("mlp", "fft"), ("fftconv", "decimated_fft_frames"), ("small_cnn", "log_mel"), ("cnn", "complex"),
    ("rnn", "mfcc_deltas"), ("transformer", "log_mel"), ("bcresnet", "log_mel"), ("cnn", "learnable_stft"),
])
def test_each_model_overfits_a_tiny_batch(model, frontend):
    torch.manual_seed(0)
    data = design(frontend, model)
    data["model"]["dropout"] = [0.0, 0.0] if model == "small_cnn" else 0.0
    net = build_network(data)
    x, y = tone_batch()
    stft_before = [p.detach().clone() for n, p in net.named_parameters() if n.startswith("frontend")]
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(80):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        first = first if first is not None else loss.item()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    net.eval()
    final = torch.nn.functional.cross_entropy(net(x), y).item()
    assert final < 0.15 < first, (first, final)
    after = [p for n, p in net.named_parameters() if n.startswith("frontend")]
    for before, now in zip(stft_before, after):  # gradients reach a learnable front-end
        assert not torch.equal(before, now)
    if frontend == "learnable_stft":
        assert stft_before


def test_recipe_designs_build(tmp_path):
    files = sorted((REPO / "recipes" / "designs").glob("*.yaml"))
    families = {load_design(f).model["name"] for f in files}
    assert families == set(MODELS)
    for f in files:
        net = build_network(load_design(f))
        assert net(torch.zeros(1, net.design.num_samples)).shape == (1, net.design.num_classes)


def test_load_design_applies_overrides_and_reads_recipes(tmp_path):
    base = REPO / "recipes" / "designs" / "cnn_logmel.yaml"
    d = load_design(base, ["model.channels=[8, 8]", "frontend.0.n_mels=64"])
    assert d.model["channels"] == [8, 8] and d.frontend[0]["n_mels"] == 64
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("dataset: {name: fsdd}\ndesign:\n  num_classes: 3\n  model: {name: mlp}\n")
    assert load_design(recipe).num_classes == 3


def test_overrides_and_typed_configs():
    data = apply_overrides({"a": [{"b": 1}]}, ["a.0.b=2.5", "c.d=[1, 2]", "e=null"])
    assert data == {"a": [{"b": 2.5}], "c": {"d": [1, 2]}, "e": None}
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="a.3: expected a list index below 1"):
        apply_overrides({"a": [{}]}, ["a.3.b=1"])
    with pytest.raises(ConfigError, match="a is a value, not a section"):
        apply_overrides({"a": 1}, ["a.b=1"])
    assert from_dict(MLPConfig, {"dropout": 0}).dropout == 0.0
    with pytest.raises(ConfigError, match="mlp.hidden.1: expected int, got 'x'"):
        from_dict(MLPConfig, {"hidden": [1, "x"]}, "mlp")
    with pytest.raises(ConfigError, match="mlp.batch_norm: expected bool"):
        from_dict(MLPConfig, {"batch_norm": "yes"}, "mlp")


def test_mixed_precision_runs_the_model_in_bfloat16_but_the_front_end_in_float32():
    design = DesignConfig(sample_rate=8000, num_samples=4000, num_classes=3,
                          frontend=[{"name": "log_mel", "n_fft": 256, "hop_length": 80, "n_mels": 20}],
                          model={"name": "cnn", "channels": [4, 8]})
    net = build_network(design).eval()
    x = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0))
    exact = net.features(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features, logits = net.features(x), net(x)
    assert features.dtype == torch.float32 and torch.equal(features, exact)
    assert logits.dtype == torch.bfloat16


def test_cnn_weights_and_activations_are_channels_last_with_the_same_outputs():
    design = DesignConfig(sample_rate=8000, num_samples=4000, num_classes=3,
                          frontend=[{"name": "log_mel", "n_fft": 256, "hop_length": 80, "n_mels": 20}],
                          model={"name": "cnn", "channels": [4, 8]})
    net = build_network(design).eval()
    conv = net.model.blocks[0][0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0))
    first = copy.deepcopy(net.model).to(memory_format=torch.contiguous_format)
    features = net.features(x)
    nchw = first.blocks(features.contiguous())  # the same weights, channels-first
    assert torch.allclose(net.model.blocks(features), nchw, atol=1e-5)


def test_cosine_head_classifies_by_angle_and_bounds_its_logits():
    from sonogram.models.cosine import CosineConfig, CosineHead

    head = CosineHead(CosineConfig(scale=10.0), (1, 4, 1), 2)
    with torch.no_grad():
        head.prototypes.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
    features = torch.tensor([[3.0, 1.0, 0, 0], [0.01, 0.02, 0, 0], [-5.0, 0, 0, 0]]).reshape(3, 1, 4, 1)
    logits = head(features)
    assert logits.argmax(1).tolist() == [0, 1, 1]               # the direction decides, not the length
    assert logits.abs().max() <= 10.0 + 1e-5
    torch.testing.assert_close(logits[2], torch.tensor([-10.0, 0.0]))
    assert [name for name, _ in head.named_parameters()] == ["prototypes"]
    learned = CosineHead(CosineConfig(learn_scale=True), (1, 4, 1), 2)
    assert sorted(name for name, _ in learned.named_parameters()) == ["log_scale", "prototypes"]
