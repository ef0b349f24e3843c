"""The ``multi`` dataset: several corpora, one vocabulary, test voices never trained on."""

import numpy as np
import pytest

from sonogram.data import DatasetError, WaveformSpec, build_cache, load_dataset, speaker_overlap
from sonogram.data.speech_commands import KEYWORDS
from sonogram.data.synth import write_folder, write_fsdd, write_speech_commands, write_speech_commands_test_set

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
WORD_TO_DIGIT = {w: str(d) for d, w in enumerate(DIGIT_WORDS)}
UNKNOWN_WORD = r"^([a-z]+)_[^_]+_nohash_"
# Speaker names that are valid in both layouts (FSDD: letters; Speech Commands: before _nohash_).
SPEAKERS = ["abe", "bea", "cad", "dee", "eda", "fab"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    write_fsdd(root, speakers=SPEAKERS[:4], takes=6, seconds=0.2)
    # The same names in Speech Commands are other people: another speaker space.
    write_speech_commands_test_set(root, speakers=SPEAKERS, silences=6, unknown_words=["bed", *DIGIT_WORDS])
    # The Speech Commands release shares the test set's speaker space: same ids, same people.
    write_speech_commands(root, "v0.02", ["yes", "no", "zero", "one"], speakers=SPEAKERS, seconds=0.2,
                          noise_seconds=4.0)
    return root


def sc_digits(**extra):
    return {"name": "speech_commands_test", "label_pattern": UNKNOWN_WORD, "labels": WORD_TO_DIGIT, **extra}


def heard(corpus, fold):
    return set(corpus.speakers[fold.train].tolist()) | set(corpus.speakers[fold.val].tolist())


def test_fsdd_loso_with_extra_voices_in_training(root):
    corpus = load_dataset("multi", root, sources=[{"name": "fsdd"}, sc_digits()])
    assert corpus.classes == [str(d) for d in range(10)]
    assert len(corpus) == 10 * 4 * 6 + 10 * 6  # FSDD + the digit words of _unknown_; keywords and silence dropped
    extra = np.array([s.startswith("speech_commands:") for s in corpus.speakers])
    assert extra.sum() == 60 and {corpus.clips[i].label for i in np.flatnonzero(extra)} == set(corpus.classes)
    folds = corpus.splits("loso", seed=1)
    assert [f.name for f in folds] == [f.name for f in load_dataset("fsdd", root).splits("loso", 1)]
    for fold in folds:
        assert speaker_overlap(corpus, fold) == set()
        assert not extra[fold.val].any() and not extra[fold.test].any()
        assert extra[fold.train].sum() == 60  # no SC speaker is an FSDD speaker, despite the same names
    assert "loso" in corpus.speaker_disjoint and "official" not in corpus.speaker_disjoint


def test_same_corpus_twice_shares_speakers_and_test_voices_leave_training(root):
    """Primary: the SC test set's keywords by speaker k-fold; extra: the SC release's yes/no from the same
    people. Every extra clip of a speaker the fold validates or tests on is removed from training."""
    primary = {"name": "speech_commands_test", "labels": {"yes": "yes", "no": "no"}, "options": {"folds": 3}}
    extra = {"name": "speech_commands", "options": {"task": "words"}, "labels": {"yes": "yes", "no": "no"}}
    corpus = load_dataset("multi", root, sources=[primary, extra])
    assert corpus.classes == ["yes", "no"]
    release = np.array(["speech_commands_v0.02/" in c.path for c in corpus.clips])
    assert release.sum() == 2 * len(SPEAKERS)
    for fold in corpus.splits("kfold", seed=0):
        assert speaker_overlap(corpus, fold) == set()
        held_out = set(corpus.speakers[fold.val].tolist()) | set(corpus.speakers[fold.test].tolist())
        expected = {i for i in np.flatnonzero(release) if corpus.speakers[i] not in held_out}
        assert set(fold.train[release[fold.train]].tolist()) == expected
        assert len(expected) < release.sum()  # something was removed: the test is not vacuous


def test_extra_with_its_own_split_feeds_validation_and_test(root):
    sources = [{"name": "fsdd"},
               {"name": "speech_commands_test", "role": "split", "folds": 3, "label_pattern": UNKNOWN_WORD,
                "labels": {"_silence_": "_silence_", "bed": "_unknown_"}}]
    corpus = load_dataset("multi", root, sources=sources, classes=[*map(str, range(10)), "_silence_", "_unknown_"])
    [official] = corpus.splits("official", seed=0)
    extra = np.array([s.startswith("speech_commands:") for s in corpus.speakers])
    for part in official.parts().values():
        assert extra[part].any() and (~extra[part]).any()
    sc_parts = [set(corpus.speakers[idx[extra[idx]]].tolist()) for idx in official.parts().values()]
    assert not (sc_parts[0] & sc_parts[1]) and not (sc_parts[0] & sc_parts[2]) and not (sc_parts[1] & sc_parts[2])
    again = corpus.splits("official", seed=0)[0]
    assert all(np.array_equal(a, b) for a, b in zip(official.parts().values(), again.parts().values()))
    for fold in corpus.splits("loso", seed=0):  # 4 FSDD folds: the SC speakers dealt into 4 folds of their own
        assert not heard(corpus, fold) & set(corpus.speakers[fold.test].tolist())
        assert extra[fold.test].any()


def test_per_class_keeps_k_real_clips_of_the_training_speakers_and_synthetic_validation(root):
    """The custom-vocabulary setting: SC test-set speaker folds, at most k clips per class of the
    primary's training speakers, no real validation; a folder of synthetic voices trains and
    validates on voices of its own and tests on none."""
    write_folder(root / "voices_k", ["yes", "no"], [f"v{i:02d}" for i in range(10)], takes=2, seconds=0.2)
    primary = {"name": "speech_commands_test", "labels": {"yes": "yes", "no": "no"}, "options": {"folds": 3}}
    synth = {"name": "folder", "options": {"path": "voices_k"}, "role": "split", "per_class": {"test": 0}}
    plain = load_dataset("multi", root, sources=[primary, {**synth, "per_class": None}])
    capped = load_dataset("multi", root, sources=[{**primary, "per_class": {"train": 2, "val": 0}}, synth])
    assert capped.summary()["sources"][0]["per_class"] == {"train": 2, "val": 0}
    real = np.array([s.startswith("speech_commands:") for s in capped.speakers])
    for full, fold in zip(plain.splits("kfold", 0), capped.splits("kfold", 0)):
        assert speaker_overlap(capped, fold) == set()
        train_real = fold.train[real[fold.train]]
        assert sorted(capped.targets[train_real].tolist()) == [0, 0, 1, 1]  # 2 per class, of 3 there
        assert set(train_real.tolist()) < set(full.train.tolist())  # only from the training speakers
        assert not real[fold.val].any() and real[fold.val].size > 0  # validation: synthetic voices only
        assert np.array_equal(fold.test, full.test[real[full.test]]) and real[fold.test].all()
        assert not set(capped.speakers[fold.train]) & set(capped.speakers[fold.val])
    again = capped.splits("kfold", 0)[0].train
    assert np.array_equal(again, capped.splits("kfold", 0)[0].train)
    none = load_dataset("multi", root, sources=[{**primary, "per_class": {"train": 0, "val": 0}}, synth])
    assert not any(s.startswith("speech_commands:") for s in none.speakers[none.splits("kfold", 0)[0].train])


def test_the_cache_resamples_every_source_to_the_design_rate(root):
    corpus = load_dataset("multi", root, sources=[{"name": "fsdd"}, sc_digits()])
    waveforms = build_cache(corpus, WaveformSpec(8000, 4000))
    assert waveforms.shape == (len(corpus), 4000)
    assert all(np.abs(waveforms[i]).max() > 0.05 for i in range(len(corpus)))


@pytest.mark.parametrize("options, message", [
    ({"sources": []}, "give dataset.options.sources"),
    ({"sources": [{"name": "nope"}]}, r"sources\[0\]: unknown dataset 'nope'; valid: fsdd"),
    ({"sources": [{"name": "multi"}]}, "unknown dataset 'multi'"),
    ({"sources": [{"name": "fsdd", "colour": 1}]}, r"unknown key\(s\) \['colour'\]"),
    ({"sources": [{"name": "fsdd", "labels": {d: None for d in "0123456789"}}]}, "the vocabulary is empty"),
    ({"sources": [{"name": "fsdd"}], "classes": []}, "classes must be a non-empty list"),
    ({"sources": [{"name": "fsdd"}, sc_digits(labels={"zero": "0", "one": "yes"})]},
     r"map to class\(es\) \['yes'\] outside the vocabulary"),
    ({"sources": [{"name": "fsdd", "role": "train"}]}, "the first source is the primary"),
    ({"sources": [{"name": "fsdd"}, sc_digits(role="test")]}, "role must be one of train, split"),
    ({"sources": [{"name": "fsdd"}, sc_digits(label_pattern="(")]}, "is not a regex"),
    ({"sources": [{"name": "fsdd"}, {"name": "speech_commands_test", "labels": {"yes": "0"}, "role": "split",
                                      "folds": 9}]}, "too few to deal into 9 folds"),
    ({"sources": [{"name": "fsdd"}, {"name": "speech_commands_test"}]}, r"sources\[1\] .* keeps no clips"),
    ({"sources": [{"name": "fsdd"}], "classes": ["0", "1", "ten"]}, r"class\(es\) \['ten'\] .* get no clips"),
    ({"sources": [{"name": "fsdd", "options": {"task": "12"}}]}, "dataset 'fsdd' has no option"),
    ({"sources": [{"name": "fsdd", "per_class": 5}]}, r"sources\[0\].per_class must be a mapping"),
    ({"sources": [{"name": "fsdd", "per_class": {"training": 5}}]}, r"unknown part\(s\) \['training'\]"),
    ({"sources": [{"name": "fsdd", "per_class": {"train": -1}}]}, "per_class.train must be a whole number"),
    ({"sources": [{"name": "fsdd", "per_class": {"val": True}}]}, "per_class.val must be a whole number"),
])
def test_bad_options_are_one_clear_error(root, options, message):
    with pytest.raises(DatasetError, match=message):
        corpus = load_dataset("multi", root, **options)
        corpus.splits("official" if "fsdd" in corpus.name else "kfold", 0)


def test_cli_describes_a_multi_dataset_and_refuses_bad_options(root, capsys):
    from sonogram.cli import main

    sources = "[{name: fsdd}, {name: speech_commands_test, label_pattern: '^([a-z]+)_[^_]+_nohash_', " \
              "labels: {zero: '0', one: '1'}}]"
    assert main(["datasets", "multi", "--option", f"sources={sources}", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "multi-fsdd+speech_commands_test: 252 clips" in out
    assert "source speech_commands_test (train): 12 clips" in out
    assert main(["datasets", "multi", "--data-root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "give dataset.options.sources" in err[0]


def _sc_digit_words(data_root):
    """The SC test set's spoken digits alone, as the ``netdesign_scdigits_*`` recipes address them."""
    from sonogram.recipe import load_recipe

    recipe = load_recipe("netdesign_scdigits_fftconv", [f"dataset.data_root={data_root}"])
    return recipe, load_dataset(recipe.dataset.name, data_root, **recipe.dataset.options)


def test_speech_commands_digit_words_alone_by_speaker_kfold(root):
    """One source, the digit words of _unknown_, its own speaker-disjoint folds: keywords, other words
    and silence are dropped, classes are the digits in order."""
    recipe, corpus = _sc_digit_words(root)
    assert corpus.classes == [str(d) for d in range(10)]
    assert len(corpus) == 10 * len(SPEAKERS) and all("/_unknown_/" in c.path for c in corpus.clips)
    folds = corpus.splits(recipe.dataset.split, recipe.seed)
    assert len(folds) == 5 and recipe.dataset.split in corpus.speaker_disjoint
    assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(len(corpus)))
    for fold in folds:
        assert speaker_overlap(corpus, fold) == set()


def test_real_fsdd_loso_with_speech_commands_digits(shared_data):
    """FSDD's 3,000 clips and the 240 spoken digits of the SC test set's _unknown_ folder."""
    corpus = load_dataset("multi", shared_data, sources=[{"name": "fsdd"}, sc_digits()])
    assert (len(corpus), corpus.summary()["speakers"]) == (3240, 6 + 118)
    sources = corpus.summary()["sources"]
    assert [(s["name"], s["clips"], s["sample_rate"]) for s in sources] == [
        ("fsdd", 3000, 8000), ("speech_commands_test", 240, 16000)]
    folds = corpus.splits("loso", seed=0)
    assert len(folds) == 6
    for fold in folds:
        assert (len(fold.train), len(fold.val), len(fold.test)) == (2240, 500, 500)
        assert speaker_overlap(corpus, fold) == set()
    assert [len(f.train) for f in corpus.splits("loso_pooled", seed=0)] == [2490] * 6


def test_real_speech_commands_digit_words_alone(shared_data):
    """The 240 spoken digits of the SC test set's _unknown_ folder, 118 speakers, 5 speaker-disjoint folds."""
    recipe, corpus = _sc_digit_words(shared_data)
    assert (len(corpus), corpus.summary()["speakers"]) == (240, 118)
    folds = corpus.splits(recipe.dataset.split, recipe.seed)
    assert sum(len(f.test) for f in folds) == 240
    for fold in folds:
        assert speaker_overlap(corpus, fold) == set()
