import os

import numpy as np
import pytest
import torch

from sonogram.audio import AudioError
from sonogram.data import WaveformDataset, WaveformSpec, build_cache, load_dataset
from sonogram.data import cache as cache_module
from sonogram.data.synth import write_fsdd

SPEC = WaveformSpec(sample_rate=16000, length=4000)


@pytest.fixture
def corpus(tmp_path):
    write_fsdd(tmp_path / "data", speakers=["ann", "bob"], takes=1, seconds=0.2)
    return load_dataset("fsdd", tmp_path / "data")


def test_build_decodes_resamples_and_fixes_length(corpus, tmp_path):
    waveforms = build_cache(corpus, SPEC, tmp_path / "c")
    assert waveforms.shape == (20, 4000) and waveforms.dtype == np.float32
    assert isinstance(waveforms, np.memmap) and not waveforms.flags.writeable
    from sonogram.audio import fix_length, load
    expected = fix_length(load(corpus.clips[3].path, 16000)[0], 4000)
    np.testing.assert_array_equal(waveforms[3], expected)


def test_second_build_touches_no_audio_file(corpus, tmp_path, monkeypatch):
    first = np.array(build_cache(corpus, SPEC, tmp_path / "c"))

    def fail(*args, **kwargs):
        raise AssertionError("decoded a file although the cache was valid")

    monkeypatch.setattr(cache_module, "load", fail)
    np.testing.assert_array_equal(build_cache(corpus, SPEC, tmp_path / "c"), first)


def test_changed_source_invalidates_and_replaces_stale_cache(corpus, tmp_path):
    build_cache(corpus, SPEC, tmp_path / "c")
    [old] = list((tmp_path / "c").glob("*.npy"))
    clip = corpus.clips[0].path
    import soundfile as sf
    sf.write(clip, np.zeros(800, np.float32), 8000)
    os.utime(clip, ns=(1, 10**18))
    waveforms = build_cache(corpus, SPEC, tmp_path / "c")
    assert np.abs(waveforms[0]).max() == 0
    [new] = list((tmp_path / "c").glob("*.npy"))
    assert new != old


def test_different_spec_gets_its_own_file(corpus, tmp_path):
    build_cache(corpus, SPEC, tmp_path / "c")
    build_cache(corpus, WaveformSpec(8000, 2000, "left"), tmp_path / "c")
    assert len(list((tmp_path / "c").glob("*.npy"))) == 2


def test_interrupted_build_leaves_nothing_that_loads(corpus, tmp_path, monkeypatch):
    real_decode = cache_module._decode
    calls = []

    def flaky(clip, spec):
        calls.append(clip)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_decode(clip, spec)

    monkeypatch.setattr(cache_module, "_decode", flaky)
    with pytest.raises(KeyboardInterrupt):
        build_cache(corpus, SPEC, tmp_path / "c")
    assert list((tmp_path / "c").iterdir()) == []
    monkeypatch.setattr(cache_module, "_decode", real_decode)
    assert build_cache(corpus, SPEC, tmp_path / "c").shape == (20, 4000)


def test_bad_source_file_names_the_file(corpus, tmp_path):
    with open(corpus.clips[2].path, "wb") as f:
        f.write(b"not audio at all" * 10)
    with pytest.raises(AudioError, match=corpus.clips[2].path):
        build_cache(corpus, SPEC, tmp_path / "c")
    assert not list((tmp_path / "c").glob("*.npy"))


def test_dataloader_batches(corpus, tmp_path):
    waveforms = build_cache(corpus, SPEC, tmp_path / "c")
    dataset = WaveformDataset(waveforms, corpus.targets, indices=np.arange(10, 20))
    x, y = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert x.shape == (4, 4000) and x.dtype == torch.float32
    assert y.tolist() == corpus.targets[10:14].tolist()


def test_copies_under_two_data_roots_keep_a_cache_each(tmp_path):
    for root in ("a", "b"):
        write_fsdd(tmp_path / root, speakers=["ann", "bob"], takes=1, seconds=0.2)
    first = build_cache(load_dataset("fsdd", tmp_path / "a"), SPEC, tmp_path / "c")
    build_cache(load_dataset("fsdd", tmp_path / "b"), SPEC, tmp_path / "c")
    assert len(list((tmp_path / "c").glob("*.npy"))) == 2
    again = build_cache(load_dataset("fsdd", tmp_path / "a"), SPEC, tmp_path / "c")
    assert again.filename == first.filename  # still there: no rebuild


@pytest.mark.slow
def test_a_killed_build_leaves_no_orphan_after_the_next_build(corpus, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    held = tmp_path / "held"
    code = ("import threading\n"
            "from pathlib import Path\n"
            "from sonogram.data import cache, load_dataset, WaveformSpec\n"
            "real, decoded = cache._decode, []\n"
            "def decode_then_hold(clip, spec):\n"  # the build is under way (its temporary file open): held there
            "    if decoded:\n"
            f"        Path({str(held)!r}).write_text('held')\n"
            "        threading.Event().wait()\n"
            "    decoded.append(clip)\n"
            "    return real(clip, spec)\n"
            "cache._decode = decode_then_hold\n"
            f"cache.build_cache(load_dataset('fsdd', {str(tmp_path / 'data')!r}), WaveformSpec(16000, 4000), "
            f"{str(tmp_path / 'c')!r})\n")
    process = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 300
    while not held.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the build ended before it was held"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(list((tmp_path / "c").glob(".*.tmp"))) == 1  # the orphan, as large as what was written
    waveforms = build_cache(corpus, SPEC, tmp_path / "c")
    assert waveforms.shape == (20, 4000) and list((tmp_path / "c").glob(".*.tmp")) == []
