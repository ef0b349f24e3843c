import numpy as np
import pytest

from sonogram.data import DatasetError, load_dataset, speaker_overlap
from sonogram.data.speech_commands import KEYWORDS
from sonogram.data.synth import (write_audiomnist, write_fsdd, write_speech_commands,
                                     write_speech_commands_test_set)

V1_WORDS = ["bed", "bird", "cat", "dog", "down", "eight", "five", "four", "go", "happy", "house", "left", "marvin",
            "nine", "no", "off", "on", "one", "right", "seven", "sheila", "six", "stop", "three", "tree", "two", "up",
            "wow", "yes", "zero"]
V2_WORDS = V1_WORDS + ["backward", "follow", "forward", "learn", "visual"]


def assert_partition(corpus, split):
    """Parts are disjoint and, with the rest, cover every clip at most once."""
    parts = [set(p.tolist()) for p in split.parts().values()]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert all(len(p) > 0 for p in parts)


def test_fsdd_real_counts_and_official_split(shared_data):
    corpus = load_dataset("fsdd", shared_data)
    summary = corpus.summary()
    assert (summary["clips"], summary["classes"], summary["speakers"]) == (3000, 10, 6)
    [split] = corpus.splits("official")
    takes = np.array([int(c.path.rsplit("_", 1)[1][:-4]) for c in corpus.clips])
    assert set(takes[split.test]) == set(range(5)) and len(split.test) == 300
    assert takes[np.concatenate([split.train, split.val])].min() == 5
    assert_partition(corpus, split)


def test_fsdd_leave_one_speaker_out_is_speaker_disjoint(shared_data):
    corpus = load_dataset("fsdd", shared_data)
    folds = corpus.splits("loso", seed=3)
    assert len(folds) == 6
    assert sorted({corpus.speakers[f.test][0] for f in folds}) == sorted(set(corpus.speakers))
    for fold in folds:
        assert_partition(corpus, fold)
        assert speaker_overlap(corpus, fold) == set()
        assert len(set(corpus.speakers[fold.test])) == 1


def test_speech_commands_test_set_real(shared_data):
    corpus = load_dataset("speech_commands_test", shared_data)
    assert (len(corpus), len(corpus.classes)) == (4890, 12)
    silence = corpus.speakers[corpus.targets == corpus.classes.index("_silence_")]
    assert len(set(silence)) == len(silence)  # each _silence_ clip is its own group
    folds = corpus.splits("kfold", seed=0)
    assert len(folds) == 5
    all_test = np.concatenate([f.test for f in folds])
    assert sorted(all_test.tolist()) == list(range(4890))  # every clip tested exactly once
    for fold in folds:
        assert speaker_overlap(corpus, fold) == set()


def test_splits_are_deterministic_from_seed(shared_data):
    corpus = load_dataset("speech_commands_test", shared_data)
    a, b, c = corpus.splits("kfold", 1), corpus.splits("kfold", 1), corpus.splits("kfold", 2)
    assert all(np.array_equal(x.test, y.test) and np.array_equal(x.val, y.val) for x, y in zip(a, b))
    assert any(not np.array_equal(x.test, y.test) for x, y in zip(a, c))


@pytest.mark.parametrize("version,words", [("v0.01", V1_WORDS), ("v0.02", V2_WORDS)])
def test_speech_commands_release_layout_words_task(tmp_path, version, words):
    write_speech_commands(tmp_path, version, words, speakers=["aa11", "bb22", "cc33", "dd44"], seconds=0.2)
    corpus = load_dataset("speech_commands", tmp_path, version=version, task="words")
    assert corpus.classes == sorted(words) and len(corpus.classes) == {"v0.01": 30, "v0.02": 35}[version]
    [split] = corpus.splits("official")
    assert set(corpus.speakers[split.test]) == {"dd44"} and set(corpus.speakers[split.val]) == {"cc33"}
    assert speaker_overlap(corpus, split) == set()


def test_speech_commands_twelve_class_task(tmp_path):
    write_speech_commands(tmp_path, "v0.02", V2_WORDS, speakers=["aa11", "bb22", "cc33", "dd44"], seconds=0.2)
    corpus = load_dataset("speech_commands", tmp_path, version="v0.02", task="12")
    assert corpus.classes == KEYWORDS + ["_unknown_", "_silence_"]
    [split] = corpus.splits("official")
    for part in split.parts().values():
        labels = {corpus.clips[i].label for i in part}
        assert labels == set(corpus.classes)
    silence = [c for c in corpus.clips if c.label == "_silence_"]
    assert all(c.duration == 1.0 and c.path.endswith(".wav") for c in silence)
    # train/val/test silence comes from disjoint time regions of the noise files
    starts = {p: [corpus.clips[i].start for i in idx if corpus.clips[i].label == "_silence_"]
              for p, idx in split.parts().items()}
    assert max(starts["train"]) + 1.0 <= 0.8 * 30 and min(starts["test"]) >= 0.9 * 30
    assert speaker_overlap(corpus, split) == set()


def test_speech_commands_errors(tmp_path):
    with pytest.raises(DatasetError, match="looked for the folder"):
        load_dataset("speech_commands", tmp_path)
    with pytest.raises(DatasetError, match="valid: v0.01, v0.02"):
        load_dataset("speech_commands", tmp_path, version="v3")
    write_speech_commands(tmp_path, "v0.02", ["yes", "no"], speakers=["a1", "b2", "c3"], seconds=0.1)
    with pytest.raises(DatasetError, match="keyword folders missing"):
        load_dataset("speech_commands", tmp_path, task="12")


def test_speech_commands_test_set_synthetic_layout(tmp_path):
    write_speech_commands_test_set(tmp_path, speakers=[f"s{i:03d}" for i in range(6)], silences=5)
    corpus = load_dataset("speech_commands_test", tmp_path, folds=3)
    assert len(corpus) == 6 * 11 + 5
    assert corpus.clips[-1].speaker.startswith("silence-")
    assert {c.speaker for c in corpus.clips if c.label == "_unknown_"} == {f"s{i:03d}" for i in range(6)}
    assert len(corpus.splits("kfold")) == 3


def test_audiomnist_paper_splits(tmp_path):
    write_audiomnist(tmp_path, seconds=0.01)
    digits = load_dataset("audiomnist", tmp_path)
    assert (len(digits), digits.sample_rate) == (600, 48000)
    folds = digits.splits("paper")
    assert len(folds) == 5
    for fold in folds:
        counts = [len(set(digits.speakers[p])) for p in fold.parts().values()]
        assert counts == [36, 12, 12]
        assert speaker_overlap(digits, fold) == set()
    # each speaker group is tested exactly once
    assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(600))

    gender = load_dataset("audiomnist", tmp_path, task="gender")
    assert gender.classes == ["female", "male"]
    for fold in gender.splits("paper"):
        assert [len(set(gender.speakers[p])) for p in fold.parts().values()] == [12, 6, 6]
        for part in fold.parts().values():  # the paper's gender groups are balanced
            assert sorted(np.bincount(gender.targets[part]).tolist()) == [len(part) // 2] * 2


def test_audiomnist_falls_back_to_kfold_without_paper_speakers(tmp_path):
    write_audiomnist(tmp_path, speakers=range(1, 11), seconds=0.01)
    corpus = load_dataset("audiomnist", tmp_path)
    folds = corpus.splits("paper")
    assert [f.name for f in folds] == [f"fold{i}" for i in range(5)]
    assert all(speaker_overlap(corpus, f) == set() for f in folds)


def test_folder_dataset(tmp_path):
    write_fsdd(tmp_path, speakers=["ann", "bob", "cy", "dee", "eve"], takes=1, seconds=0.1)
    base = tmp_path / "mine"
    for wav in (tmp_path / "fsdd" / "recordings").glob("*.wav"):
        digit, speaker, _ = wav.stem.split("_")
        (base / f"digit{digit}").mkdir(parents=True, exist_ok=True)
        wav.rename(base / f"digit{digit}" / f"{speaker}_nohash_0.wav")
    corpus = load_dataset("folder", tmp_path, path="mine")
    assert corpus.classes == [f"digit{d}" for d in range(10)] and len(corpus) == 50
    assert corpus.sample_rate == 8000
    for fold in corpus.splits("kfold"):
        assert speaker_overlap(corpus, fold) == set()


def test_unknown_dataset_option_and_split_named(tmp_path, shared_data):
    with pytest.raises(DatasetError, match="valid: fsdd"):
        load_dataset("timit", tmp_path)
    with pytest.raises(DatasetError, match=r"valid options: \['version', 'task', 'seed'\]"):
        load_dataset("speech_commands", tmp_path, lang="de")
    with pytest.raises(DatasetError, match="valid splits: loso, loso_pooled, official"):
        load_dataset("fsdd", shared_data).splits("random")


def test_missing_dataset_names_folder_and_how_to_get(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset("fsdd", tmp_path)
    assert str(tmp_path / "fsdd" / "recordings") in str(err.value) and "sonogram download fsdd" in str(err.value)


def test_data_root_from_environment(tmp_path, monkeypatch):
    write_fsdd(tmp_path, takes=1, seconds=0.1)
    monkeypatch.setenv("SONOGRAM_DATA", str(tmp_path))
    assert len(load_dataset("fsdd")) == 30


def test_fsdd_loso_pooled_trains_on_all_other_speakers(tmp_path):
    from sonogram.data import load_dataset
    from sonogram.data.synth import write_fsdd

    write_fsdd(tmp_path, speakers=("ann", "bob", "cy", "dee"), takes=10, seconds=0.1)
    corpus = load_dataset("fsdd", tmp_path)
    folds = corpus.splits("loso_pooled", seed=0)
    assert [f.name for f in folds] == ["speaker-ann", "speaker-bob", "speaker-cy", "speaker-dee"]
    for fold in folds:
        test = set(corpus.speakers[fold.test])
        assert len(test) == 1 and not test & (set(corpus.speakers[fold.train]) | set(corpus.speakers[fold.val]))
        assert set(corpus.speakers[fold.train]) == set(corpus.speakers[fold.val]) == {"ann", "bob", "cy", "dee"} - test
        assert len(fold.val) == 30 and len(fold.train) == 270  # 10% of each class of the other three speakers
