"""sonogram synth: words spoken by espeak-ng voices, written as a folder corpus."""

import json
import shutil

import numpy as np
import pytest
import soundfile

from sonogram.cli import main
from sonogram.data import load_dataset
from sonogram.data.speech_synth import SynthConfig, synthesise
from sonogram.errors import ConfigError, DatasetError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng)")


def files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


@needs_espeak
def test_two_words_three_voices_read_by_the_folder_loader(tmp_path):
    out = tmp_path / "words"
    summary = synthesise(SynthConfig(("yes", "no"), voices=3, takes=2, rate=16000), out)
    assert summary["clips"] == 12 and summary["voices"] == 3
    corpus = load_dataset("folder", tmp_path, path=str(out))
    assert corpus.classes == ["no", "yes"] and len(corpus) == 12
    assert len(set(corpus.speakers.tolist())) == 3  # one speaker per voice
    assert all(n == 4 for n in corpus.speaker_counts().values())
    for clip in corpus.clips:
        info = soundfile.info(clip.path)
        assert (info.samplerate, info.subtype, info.channels) == (16000, "PCM_16", 1)
        audio, _ = soundfile.read(clip.path)
        assert 0.1 < len(audio) / 16000 < 1.5 and np.abs(audio).max() > 0.05
        edge = int(0.04 * 16000)  # trimmed: sound within 40 ms of either end (the margin kept is 20 ms)
        assert np.abs(audio[:edge]).max() > 0.003 and np.abs(audio[-edge:]).max() > 0.003
    manifest = json.loads((out / "synth.json").read_text())
    assert [v["id"] for v in manifest["voice_list"]] == sorted({c.speaker for c in corpus.clips})


@needs_espeak
def test_same_seed_same_files_and_words_do_not_depend_on_each_other(tmp_path):
    a = synthesise(SynthConfig(("yes", "no"), voices=3, takes=1, rate=8000, seed=7), tmp_path / "a")
    synthesise(SynthConfig(("yes", "no"), voices=3, takes=1, rate=8000, seed=7), tmp_path / "b")
    synthesise(SynthConfig(("no",), voices=3, takes=1, rate=8000, seed=7), tmp_path / "c")
    synthesise(SynthConfig(("yes", "no"), voices=3, takes=1, rate=8000, seed=8), tmp_path / "d")
    assert a["rate"] == 8000 and files(tmp_path / "a") == files(tmp_path / "b")
    assert {k: v for k, v in files(tmp_path / "a").items() if k.startswith("no/")} == files(tmp_path / "c")
    assert files(tmp_path / "a") != files(tmp_path / "d")


@pytest.mark.parametrize("words, message", [
    (("yes", "../no"), "word '../no'"), (("a b",), "word 'a b'"), (("7",), "word '7'"), (("x/y",), "word 'x/y'"),
    ((), "at least one word"), (("yes", "Yes"), "name a class twice"),
])
def test_bad_words_are_refused_before_anything_is_written(tmp_path, words, message):
    with pytest.raises(ConfigError, match=message):
        synthesise(SynthConfig(words, voices=2, takes=1), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


@needs_espeak
def test_a_non_empty_out_needs_force_and_unknown_languages_are_named(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="exists and is not empty; give --force"):
        synthesise(SynthConfig(("yes",), voices=1, takes=1), out)
    with pytest.raises(ConfigError, match=r"no language\(s\) \['xx'\]"):
        synthesise(SynthConfig(("yes",), voices=1, takes=1, languages=("en-us", "xx")), tmp_path / "other")
    assert main(["synth", "yes", "no", "--out", str(out), "--voices", "2", "--takes", "1", "--force", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["clips"] == 4 and "synth: 4/4 clips" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["no", "synth.json", "yes"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_missing_espeak_is_one_line_naming_the_package(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DatasetError, match="apt-get install espeak-ng"):
        synthesise(SynthConfig(("yes",), voices=1, takes=1), tmp_path / "out")
    assert main(["synth", "yes", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sonogram synth: error: sonogram synth needs espeak-ng")
    assert not (tmp_path / "out").exists()


def test_noise_clips_are_one_second_at_a_drawn_level_and_seeded():
    from sonogram.data.speech_synth import SILENCE_DBFS, noise_clip

    clips = [noise_clip(16000, np.random.default_rng([3, i])) for i in range(40)]
    levels = [10 * np.log10(np.mean(c.astype(np.float64) ** 2)) for c in clips]
    assert all(c.shape == (16000,) and c.dtype == np.float32 for c in clips)
    assert SILENCE_DBFS[0] - 0.5 < min(levels) and max(levels) < SILENCE_DBFS[1] + 0.5
    assert max(levels) - min(levels) > 20  # levels are drawn, not fixed
    assert np.array_equal(clips[0], noise_clip(16000, np.random.default_rng([3, 0])))


@pytest.mark.parametrize("silence", [-1, 100_001])
def test_a_bad_silence_count_is_refused(tmp_path, silence):
    with pytest.raises(ConfigError, match="--silence must be an integer from 0 to 100000"):
        synthesise(SynthConfig(("yes",), voices=1, takes=1, silence=silence), tmp_path / "out")


@needs_espeak
def test_silence_adds_a_class_of_generated_noise_each_clip_its_own_speaker(tmp_path, capsys):
    out = tmp_path / "words"
    assert main(["synth", "yes", "no", "--out", str(out), "--voices", "2", "--takes", "1", "--silence", "5"]) == 0
    assert "4 clips (2 words x 2 voices x 1 takes) + 5 _silence_ clips" in capsys.readouterr().out
    corpus = load_dataset("folder", tmp_path, path="words")
    assert corpus.classes == ["_silence_", "no", "yes"] and len(corpus) == 9
    silence = [c for c in corpus.clips if c.label == "_silence_"]
    voices = {c.speaker for c in corpus.clips if c.label != "_silence_"}
    assert len({c.speaker for c in silence}) == 5 and len(voices) == 2 and not {c.speaker for c in silence} & voices
    for clip in silence:
        audio, rate = soundfile.read(clip.path, dtype="float32")
        assert (rate, len(audio)) == (16000, 16000) and 0 < np.abs(audio).max() < 0.9
    synthesise(SynthConfig(("no",), voices=1, takes=1, silence=5), tmp_path / "again")
    same = {k: v for k, v in files(out).items() if k.startswith("_silence_/")}
    assert len(same) == 5 and same == {k: v for k, v in files(tmp_path / "again").items() if k.startswith("_silence_/")}
    assert json.loads((out / "synth.json").read_text())["silence"] == 5
