"""Waveform augmentation: each transform does what it says, per clip, reproducibly, and only in training."""

import numpy as np
import pytest
import soundfile
import torch

from sonogram.data.augment import WaveformAugment, coloured_noise, load_noise_bank
from sonogram.errors import ConfigError
from sonogram.recipe import AugmentConfig

RATE = 8000


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_time_shift_moves_each_clip_by_at_most_the_limit():
    x = torch.zeros(16, 800)
    x[:, 400] = 1.0
    out = WaveformAugment(AugmentConfig(time_shift=0.01), RATE)(x, gen())
    positions = out.argmax(dim=1) - 400
    assert positions.abs().max() <= 80 and len(set(positions.tolist())) > 4  # own shift per clip
    assert torch.equal(out.sum(dim=1), torch.ones(16))  # moved, not smeared


def test_gain_stays_within_the_decibel_range():
    x = torch.ones(64, 100)
    out = WaveformAugment(AugmentConfig(gain_db=6.0), RATE)(x, gen())
    gains_db = 20 * torch.log10(out[:, 0])
    assert gains_db.abs().max() <= 6.0 + 1e-4 and gains_db.std() > 1.0


def test_speed_changes_the_pitch_and_keeps_the_length():
    t = torch.arange(RATE) / RATE
    x = torch.sin(2 * torch.pi * 500 * t).repeat(8, 1)
    out = WaveformAugment(AugmentConfig(speed=0.2), RATE)(x, gen())
    assert out.shape == x.shape
    peaks = torch.fft.rfft(out[:, 2000:6000], dim=1).abs().argmax(dim=1).float() * RATE / 4000
    assert ((peaks >= 500 * 0.8 - 5) & (peaks <= 500 * 1.2 + 5)).all() and peaks.std() > 10


def test_noise_is_added_at_the_requested_snr():
    x = torch.randn(32, 4000)
    out = WaveformAugment(AugmentConfig(noise_prob=1.0, noise_snr_db=[10.0, 10.0]), RATE)(x, gen())
    snr = 10 * torch.log10(x.square().mean(1) / (out - x).square().mean(1))
    assert torch.allclose(snr, torch.full((32,), 10.0), atol=0.01)


def test_noise_probability_leaves_other_clips_untouched():
    x = torch.randn(200, 100)
    out = WaveformAugment(AugmentConfig(noise_prob=0.25), RATE)(x, gen())
    touched = (out != x).any(dim=1).float().mean()
    assert 0.12 < touched < 0.38


def test_noise_from_recordings(tmp_path):
    rng = np.random.default_rng(0)
    soundfile.write(tmp_path / "hum.wav", 0.1 * rng.standard_normal(16000), 16000)
    soundfile.write(tmp_path / "fan.flac", 0.1 * rng.standard_normal(8000), 16000)
    bank = load_noise_bank(tmp_path, RATE)
    assert bank.shape == (12000,)  # resampled to 8 kHz and joined
    x = torch.randn(4, 1000)
    out = WaveformAugment(AugmentConfig(noise_prob=1.0, noise_snr_db=[0.0, 0.0]), RATE, bank)(x, gen())
    assert torch.allclose((out - x).square().mean(1), x.square().mean(1), rtol=1e-3)
    with pytest.raises(ConfigError, match="no .wav/.flac/.ogg recordings"):
        load_noise_bank(tmp_path / "missing", RATE)


def test_coloured_noise_spectrum_slopes():
    g = gen()
    white = coloured_noise((1, 2 ** 14), torch.tensor([0.0]), g)
    brown = coloured_noise((1, 2 ** 14), torch.tensor([2.0]), g)
    def low_high(x):
        power = torch.fft.rfft(x[0]).abs().square()
        return (power[10:200].mean() / power[-2000:].mean()).item()
    assert low_high(white) < 2 < 1000 < low_high(brown)
    assert torch.allclose(white.square().mean(), torch.tensor(1.0), atol=1e-4)


def test_same_generator_same_result_and_identity_when_off():
    config = AugmentConfig(time_shift=0.05, gain_db=3, speed=0.1, noise_prob=0.5)
    x = torch.randn(4, 800)
    aug = WaveformAugment(config, RATE)
    assert torch.equal(aug(x, gen(3)), aug(x, gen(3)))
    off = WaveformAugment(AugmentConfig(), RATE)
    assert not off.active and torch.equal(off(x, gen()), x)


@pytest.mark.parametrize("bad, message", [
    ({"noise_prob": 1.5}, "noise_prob must be in"), ({"speed": 0.7}, "speed must be in"),
    ({"noise_snr_db": [20.0, 5.0]}, "noise_snr_db must be"), ({"time_shift": -1.0}, "must be >= 0"),
])
def test_invalid_augmentation(bad, message):
    with pytest.raises(ConfigError, match=message):
        WaveformAugment(AugmentConfig(**bad), RATE)


def test_augmentation_only_in_training():
    from sonogram.network.design import build_network
    from sonogram.recipe import Recipe
    from sonogram.engine.train import Classifier

    recipe = Recipe()
    recipe.design.num_samples = 800
    recipe.design.frontend = [{"name": "waveform"}]
    recipe.design.model = {"name": "mlp", "hidden": [4]}
    module = Classifier(build_network(recipe.design), recipe,
                        WaveformAugment(AugmentConfig(gain_db=6.0), recipe.design.sample_rate))
    batch = (torch.randn(2, 800), torch.tensor([0, 1]))

    class FakeTrainer:
        training = False

    module._trainer = FakeTrainer()
    assert module.on_before_batch_transfer(batch, 0)[0] is batch[0]
    FakeTrainer.training = True
    assert not torch.equal(module.on_before_batch_transfer(batch, 0)[0], batch[0])


def test_reverb_keeps_each_clip_level_adds_a_decaying_tail_and_leaves_unchosen_clips_alone():
    from sonogram.data.augment import AugmentConfig, WaveformAugment

    x = torch.zeros(4, 8000)
    x[:, 1000:1400] = torch.sin(torch.arange(400) * 0.3)  # a 50 ms burst, then silence
    config = AugmentConfig(reverb_prob=1.0, reverb_rt60=[0.4, 0.4], reverb_drr_db=[0.0, 0.0])
    wet = WaveformAugment(config, 8000)(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(wet.square().mean(-1), x.square().mean(-1), rtol=1e-4, atol=1e-8)
    tail = wet[:, 1400:].square()
    # energy after the burst decays by 60 dB per 0.4 s (15 dB per 100 ms): the first 100 ms after it hold
    # several times what the next 100 ms hold
    assert (tail[:, :800].sum(-1) > 5 * tail[:, 800:1600].sum(-1)).all() and (tail[:, :800].sum(-1) > 0.01).all()
    assert torch.equal(WaveformAugment(AugmentConfig(reverb_prob=0.0, time_shift=0.1), 8000)(
        x, torch.Generator().manual_seed(0)).count_nonzero(-1) > 0, torch.ones(4, dtype=torch.bool))
    again = WaveformAugment(config, 8000)(x, torch.Generator().manual_seed(0))
    assert torch.equal(wet, again)


@pytest.mark.parametrize("bad", [{"reverb_rt60": [0.5, 0.1]}, {"reverb_rt60": [0.0, 0.1]}, {"reverb_rt60": [0.1]},
                                 {"reverb_drr_db": [10, 0]}])
def test_bad_reverb_settings_are_one_clear_error(bad):
    from sonogram.data.augment import AugmentConfig, WaveformAugment
    from sonogram.errors import ConfigError

    with pytest.raises(ConfigError, match="augment.reverb"):
        WaveformAugment(AugmentConfig(reverb_prob=0.5, **bad), 8000)


def test_frequency_warp_moves_a_band_by_the_drawn_factor_in_training_only():
    from sonogram.features.layers import FrequencyWarp

    x = torch.zeros(64, 1, 80, 3)
    x[:, :, 40] = 1.0
    warp = FrequencyWarp(max_warp=0.2)
    torch.manual_seed(0)
    y = warp.train()(x)
    peaks = (y[:, 0, :, 0] * torch.arange(80.0)).sum(-1) / y[:, 0, :, 0].sum(-1)  # centre of mass of the band
    assert 40 * 0.8 - 1 <= peaks.min() < 38 and 42 < peaks.max() <= 40 * 1.2 + 1  # squeezed and stretched
    assert torch.equal(y[:, :, :, 0], y[:, :, :, 2])  # the same warp for every frame of a clip
    assert torch.equal(warp.eval()(x), x)
    with pytest.raises(Exception, match="max_warp"):
        FrequencyWarp(max_warp=0.7)
