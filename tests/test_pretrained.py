"""The pretrained MSWC ResNet-50 node: its filterbank against python_speech_features, its network against
onnxruntime on the shipped graph, the whole node against EfficientWord-Net's own pipeline, and the node
as a part of a design (frozen or fine-tuned, a missing package, a wrong rate). Its ONNX and TorchScript
exports are checked with every other bundled design in test_export.py (recipes/designs/pretrained_resnet50.yaml)."""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from sonogram.errors import ConfigError
from sonogram.features.logfbank import LogFilterbank, psf_frame_count
from sonogram.network.design import build_network, count_params

psf = pytest.importorskip("python_speech_features", reason="pip install python_speech_features (the dev extra)")

# the data root as conftest finds it ($SONOGRAM_DATA, else shared/data beside the repository)
FSDD = Path(os.environ.get("SONOGRAM_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data") / "fsdd" / "recordings"
HAS_WEIGHTS = importlib.util.find_spec("eff_word_net") is not None
needs_weights = pytest.mark.skipif(not HAS_WEIGHTS, reason='the pretrained weights are missing: '
                                   'pip install --no-deps "efficientword-net==1.0.5" (scripts/setup.sh does)')
LINEAR_DESIGN = {"sample_rate": 16000, "num_samples": 24000, "num_classes": 3,
                 "frontend": [{"name": "pretrained", "model": "mswc-resnet50-arc"}],
                 "model": {"name": "mlp", "hidden": [], "dropout": 0.0}}


def fsdd_clips(count: int) -> list[np.ndarray]:
    """Real FSDD digits at 16 kHz, centred in 1.5 s (as the recipes feed them); noise where FSDD is absent."""
    paths = sorted(FSDD.glob("*.wav"))[::97][:count]
    if not paths:
        rng = np.random.default_rng(0)
        return [rng.normal(0, 0.1, 24000).astype(np.float32) for _ in range(count)]
    clips = []
    for path in paths:
        audio, rate = sf.read(path, dtype="float32")
        audio = soxr.resample(audio, rate, 16000).astype(np.float32)[:24000]
        left = (24000 - len(audio)) // 2
        clips.append(np.pad(audio, (left, 24000 - len(audio) - left)))
    return clips


def psf_logfbank(audio: np.ndarray, **options) -> np.ndarray:
    """python_speech_features in float64, as EfficientWord-Net calls it: ``(frames, filters)``."""
    return psf.logfbank(audio.astype(np.float64), samplerate=16000, winlen=0.025, winstep=0.01, nfilt=64, nfft=512,
                        **{"preemph": 0.0, **options})


# Tolerance: 1e-4 nats, absolute (measured 2.3e-5 on FSDD clips): float32 FFT and filter products against
# python_speech_features' float64, on log energies from -36 (zero padding) to about +5.
@pytest.mark.parametrize("length", [24000, 16000, 16123, 399, 400])
def test_log_filterbank_matches_python_speech_features(length):
    rng = np.random.default_rng(length)
    clips = [rng.normal(0, 0.2, length).astype(np.float32)] + [c[:length] for c in fsdd_clips(2)]
    layer = LogFilterbank()
    for audio in clips:
        expected = psf_logfbank(audio)
        ours = layer(torch.from_numpy(audio)[None])[0, 0].T.double().numpy()
        assert ours.shape == expected.shape == (psf_frame_count(length, 400, 160), 64)
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-4)


def test_log_filterbank_preemphasis_and_band_edges_follow_python_speech_features():
    audio = fsdd_clips(1)[0]
    layer = LogFilterbank(n_filters=40, preemphasis=0.97, low_hz=100.0, high_hz=7000.0)
    expected = psf.logfbank(audio.astype(np.float64), samplerate=16000, winlen=0.025, winstep=0.01, nfilt=40,
                            nfft=512, lowfreq=100, highfreq=7000, preemph=0.97)
    np.testing.assert_allclose(layer(torch.from_numpy(audio)[None])[0, 0].T.numpy(), expected, rtol=0, atol=1e-4)


def test_log_filterbank_refuses_filters_that_cover_no_bin():
    with pytest.raises(ConfigError, match="cover no FFT bin"):
        LogFilterbank(n_fft=64, win_length=64, n_filters=64)
    with pytest.raises(ConfigError, match="longer than n_fft"):
        LogFilterbank(win_length=600, n_fft=512)


@needs_weights
def test_resnet_matches_onnxruntime_on_the_shipped_graph():
    ort = pytest.importorskip("onnxruntime")
    from sonogram.models.mswc_resnet import MswcResNet, load_onnx_weights
    from sonogram.models.pretrained import weights_files

    (path,) = weights_files("mswc-resnet50-arc")
    net = MswcResNet().eval()
    load_onnx_weights(net, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    inputs = [psf_logfbank(c)[None, None].astype(np.float32) for c in fsdd_clips(2)]
    inputs += [rng.normal(-10, 5, (1, 1, 149, 64)).astype(np.float32)]
    batch = np.concatenate(inputs)
    expected = np.concatenate([session.run(None, {"input": x})[0] for x in inputs])   # the graph takes one clip
    with torch.no_grad():
        ours = net(torch.from_numpy(batch)).numpy()
    relative = np.abs(ours - expected).max(1) / np.abs(expected).max(1)
    assert relative.max() <= 1e-4
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


@needs_weights
def test_node_matches_efficientword_nets_own_pipeline():
    """Waveform -> our node against python_speech_features -> onnxruntime, as EfficientWord-Net embeds a clip."""
    ort = pytest.importorskip("onnxruntime")
    from sonogram.models.pretrained import PretrainedEmbedding, weights_files

    session = ort.InferenceSession(str(weights_files("mswc-resnet50-arc")[0]), providers=["CPUExecutionProvider"])
    clips = fsdd_clips(4)
    expected = np.concatenate([session.run(None, {"input": psf_logfbank(c)[None, None].astype(np.float32)})[0]
                               for c in clips])
    node = PretrainedEmbedding().eval()
    with torch.no_grad():
        ours = node(torch.from_numpy(np.stack(clips)))[:, 0, :, 0].numpy()
    assert ours.shape == (4, 2048)
    cosine = (ours * expected).sum(1)
    assert cosine.min() >= 0.9999
    assert (np.abs(ours - expected).max(1) / np.abs(expected).max(1)).max() <= 1e-3


@needs_weights
def test_frozen_node_trains_only_the_head_and_keeps_its_statistics():
    net = build_network(LINEAR_DESIGN)
    assert count_params(net, trainable_only=True) == 2048 * 3 + 3
    net.train()
    node = net.frontend[0]
    assert not node.net.input_norm.training and not node.net.output_norm.training
    before = {k: v.clone() for k, v in node.state_dict().items()}
    waveform = torch.from_numpy(np.stack(fsdd_clips(2)))
    loss = torch.nn.functional.cross_entropy(net(waveform), torch.tensor([0, 1]))
    loss.backward()
    assert all(p.grad is None for p in node.parameters())
    assert all(p.grad is not None for p in net.model.parameters())
    assert all(torch.equal(before[k], v) for k, v in node.state_dict().items())   # no running statistic moved


@needs_weights
def test_last_block_fine_tuning_reaches_only_the_last_stage():
    design = {**LINEAR_DESIGN, "frontend": [{"name": "pretrained", "trainable": "last_block"}]}
    net = build_network(design).train()
    node = net.frontend[0]
    loss = net(torch.from_numpy(np.stack(fsdd_clips(2)))).logsumexp(1).sum()
    loss.backward()
    trained = {name for name, p in node.named_parameters() if p.grad is not None}
    assert trained and all(name.startswith("net.blocks.13.") or name.startswith("net.blocks.14.")
                           or name.startswith("net.blocks.15.") for name in trained)
    assert count_params(node, trainable_only=True) == sum(p.numel() for p in node.net.last_stage.parameters())


@needs_weights
def test_wrong_rate_and_unknown_names_are_one_clear_error():
    with pytest.raises(ConfigError, match="takes 16000 Hz audio; set design.sample_rate to 16000"):
        build_network({**LINEAR_DESIGN, "sample_rate": 8000, "num_samples": 12000})
    with pytest.raises(ConfigError, match="unknown pretrained model 'resnet'; valid: mswc-resnet50-arc"):
        build_network({**LINEAR_DESIGN, "frontend": [{"name": "pretrained", "model": "resnet"}]})
    with pytest.raises(ConfigError, match="trainable must be one of none, last_block, all"):
        build_network({**LINEAR_DESIGN, "frontend": [{"name": "pretrained", "trainable": "head"}]})


def test_a_missing_weights_package_names_the_command_that_installs_it(monkeypatch):
    from sonogram.models import pretrained

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "eff_word_net" else real(name, *a))
    pretrained._pretrained_parts.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r'not installed here; install it with: pip install "sonogram\[pretrained\]"'
                                              r' && pip install --no-deps "efficientword-net==1.0.5"'):
            build_network(LINEAR_DESIGN)
    finally:
        pretrained._pretrained_parts.cache_clear()


@needs_weights
def test_model_card_names_the_pretrained_model_its_corpus_and_licence():
    from sonogram.network.model_card import new_card

    card = new_card(model_id="m", labels=["a", "b", "c"], sample_rate=16000, num_samples=24000, align="center",
                    design=LINEAR_DESIGN, params=1)
    assert card["pretrained"] == [{"model": "mswc-resnet50-arc", "trainable": "none", "package": "efficientword-net 1.0.5",
                                   "corpus": "Multilingual Spoken Words Corpus (MSWC, CC BY 4.0)",
                                   "licence": "Apache-2.0"}]
    plain = new_card(model_id="m", labels=["a", "b"], sample_rate=8000, num_samples=8000, align="center",
                     design={"frontend": [{"name": "log_mel"}]}, params=1)
    assert plain["pretrained"] == []


@needs_weights
def test_a_checkpoint_keeps_what_training_changes_and_the_package_gives_back_the_rest(tmp_path):
    from sonogram.network.checkpoint import load_checkpoint, save_checkpoint

    waveform = torch.from_numpy(np.stack(fsdd_clips(2)))
    labels = ["a", "b", "c"]
    frozen = build_network(LINEAR_DESIGN).eval()
    save_checkpoint(tmp_path / "frozen.pt", frozen, labels)
    assert (tmp_path / "frozen.pt").stat().st_size < 200_000      # the head and a digest, not 88 MB of ResNet
    loaded, _ = load_checkpoint(tmp_path / "frozen.pt")
    with torch.no_grad():
        torch.testing.assert_close(loaded(waveform), frozen(waveform), rtol=0, atol=0)

    tuned = build_network({**LINEAR_DESIGN, "frontend": [{"name": "pretrained", "trainable": "last_block"}]})
    kept = tuned.state_dict()
    trained = {f"frontend.0_pretrained.{name}" for name, p in tuned.frontend[0].named_parameters() if p.requires_grad}
    assert trained and trained <= set(kept)                            # what fine-tuning changes is saved
    assert not any(".net.stem" in key or ".net.blocks.0." in key or ".net.input_norm." in key for key in kept)

    full = {k: v.clone() for k, v in frozen.state_dict(keep_vars=False).items()}
    node = frozen.frontend[0]
    full.update({f"frontend.0_pretrained.{name}": tensor.clone() for name, tensor in
                 {**dict(node.named_parameters()), **dict(node.net.named_buffers(prefix="net"))}.items()})
    assert len(full) > 100                                          # a checkpoint that carries every weight loads
    assert build_network(LINEAR_DESIGN).load_state_dict(full) == ([], [])

    other = dict(frozen.state_dict())
    other["frontend.0_pretrained.weights_digest"] = torch.zeros(16, dtype=torch.uint8)
    with pytest.raises(ConfigError, match="other weights of 'mswc-resnet50-arc'.*efficientword-net"):
        build_network(LINEAR_DESIGN).load_state_dict(other)


@needs_weights
def test_cached_embeddings_give_the_logits_of_the_whole_network(tmp_path):
    from sonogram.engine.embedding_cache import cached_inputs

    net = build_network(LINEAR_DESIGN).eval()
    waveforms = np.stack(fsdd_clips(3))
    assert net.cacheable_layers == 1
    inputs = cached_inputs(net, waveforms, tmp_path)
    assert inputs.shape == (3, 1, 2048, 1) and len(list(tmp_path.glob("*.npy"))) == 1
    with torch.no_grad():
        whole = net(torch.from_numpy(waveforms))
        cached = net.forward_from(torch.from_numpy(np.array(inputs)), net.cacheable_layers)
    torch.testing.assert_close(cached, whole, rtol=0, atol=1e-6)
    tuned = build_network({**LINEAR_DESIGN, "frontend": [{"name": "pretrained", "trainable": "last_block"}]})
    assert tuned.cacheable_layers == 0                      # a node that trains is never cached


@needs_weights
@pytest.mark.slow
def test_a_frozen_embedding_is_computed_once_and_its_head_learns(make_tiny_recipe, tmp_path):
    from sonogram.data.loaders import prepare_fold
    from sonogram.engine.train import build_classifier, train_run, trained_inputs
    from sonogram.evaluate import part_metrics
    from sonogram.recipe import recipe_from_dict
    from sonogram.runs import Run

    data = make_tiny_recipe()
    data["design"] = {**LINEAR_DESIGN, "num_samples": 8000}
    data["augment"] = {}
    data["optim"] = {"lr": 0.05, "weight_decay": 0.0}
    data["train"].update(epochs=6, batch_size=32)
    metrics = train_run(recipe_from_dict(data), tmp_path / "first")
    assert metrics["test"]["accuracy"] >= 0.8               # ten tone "digits" through a speech embedding
    network, _ = Run(tmp_path / "first").model()            # the final evaluation read the cache too:
    fresh = part_metrics(network, prepare_fold(recipe_from_dict(data)))   # the waveforms say the same
    assert {part: fresh[part]["confusion"] for part in fresh} == {part: metrics[part]["confusion"] for part in fresh}
    cache = Path(os.environ["SONOGRAM_CACHE"])
    (stored,) = cache.glob("*pretrained*.npy")
    written = stored.stat().st_mtime_ns

    recipe = recipe_from_dict(data)                        # the same recipe again reads the stored outputs
    fold = prepare_fold(recipe)
    module = build_classifier(recipe, fold)
    reused = trained_inputs(module, fold)
    assert module.cached_layers == 1 and reused.waveforms.shape == (len(fold.waveforms), 1, 2048, 1)
    assert stored.stat().st_mtime_ns == written and list(cache.glob("*pretrained*.npy")) == [stored]

    data["augment"] = {"gain_db": 3}                       # augmented waveforms bypass the cache
    recipe = recipe_from_dict(data)
    module = build_classifier(recipe, fold)
    assert trained_inputs(module, fold) is fold and module.cached_layers == 0
