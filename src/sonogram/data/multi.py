"""Several corpora as one dataset: labels mapped to one vocabulary, test voices never trained on.

A recipe lists the sources under ``dataset.options.sources``; the first is the *primary*, whose
split protocols are this dataset's protocols (its folds are the folds, ``dataset.split`` names
one of them). Each source entry has:

- ``name``: a dataset of :data:`sonogram.data.LOADERS` (not ``multi``), ``options``: its loader options;
- ``labels``: ``{source label: target class}``; a label left out, or mapped to ``null``, drops its
  clips. Without ``labels`` every label is kept as it is, and those outside the vocabulary are dropped;
- ``label_pattern``: a regex whose first group, matched against a file's name, is the clip's label
  before mapping (files that do not match keep their folder's label). The Speech Commands test set
  names the word of each ``_unknown_`` clip in its file name: ``'^([a-z]+)_[^_]+_nohash_'``;
- ``role`` (extras only): ``train`` (default) adds every clip to the training part of every fold;
  ``split`` deals the source's speakers into folds of its own (:func:`group_kfold`, seeded by the
  split seed): as many folds as the primary's protocol has, or, where that protocol has a single
  split, the first of ``folds`` (default 5) folds; each of its parts joins the same part of the fold;
- ``speakers``: the speaker space (below), to override the default;
- ``per_class``: ``{part: k}`` keeps at most ``k`` clips of each class of this source in that part
  (``train``, ``val`` or ``test``) of every fold, drawn by the split seed: ``{train: 5, val: 0}`` on
  the primary trains on five real clips per class of its training speakers and validates on none of
  them; ``{test: 0}`` on a ``split`` extra keeps its held-out voices for validation only. The cap
  comes before speakers are kept apart (below), which can only remove more.

``classes`` (optional) is the target vocabulary, in index order; by default it is the primary's
classes as mapped. A map into a class outside it is an error.

Speakers are compared in *speaker spaces*: FSDD and AudioMNIST have one each, the Speech Commands
releases and the shipped test set share one (their speaker ids are the same hashes), a folder
corpus has one per folder. A speaker id becomes ``space:speaker``, so two corpora never collide
and the same corpus used twice shares its ids. In every fold a source's clips leave training where
their speaker is in another source's validation or test part, and leave validation where their
speaker is in another source's test part: no voice that is tested is ever trained on, whatever the
sources. Within one source its own protocol rules (FSDD's official split shares speakers by design).
A file that two sources both bring is kept once (the first source's). Clips keep their own sample
rate and length: the waveform cache resamples each file to the design's rate and fixes its length.

Example:
    >>> import tempfile, pathlib
    >>> from sonogram.data.synth import write_fsdd
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_fsdd(root, speakers=["ann", "bob", "cy"], takes=1)
    >>> corpus = load(root, [{"name": "fsdd", "labels": {"0": "zero", "1": "one"}}])
    >>> corpus.classes, len(corpus), corpus.clips[0].speaker
    (['zero', 'one'], 6, 'fsdd:ann')
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sonogram.data.base import Clip, Corpus, DatasetError, Split
from sonogram.data.splits import group_kfold

log = logging.getLogger(__name__)

NAME = "multi"
ROLES = ("train", "split")
SOURCE_KEYS = ("name", "options", "labels", "label_pattern", "role", "folds", "speakers", "per_class")
# Datasets whose speaker ids mean the same people; any other source gets a space of its own files.
SPEAKER_SPACES = {"fsdd": "fsdd", "audiomnist": "audiomnist", "speech_commands": "speech_commands",
                  "speech_commands_test": "speech_commands"}
PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class SourceSpec:
    """One entry of ``sources``, checked."""

    name: str
    options: dict
    labels: dict | None
    label_pattern: re.Pattern | None
    role: str
    folds: int
    speakers: str | None
    per_class: dict[str, int] = field(default_factory=dict)  # part -> most clips of each class


@dataclass
class _Loaded:
    spec: SourceSpec
    corpus: Corpus
    keep: np.ndarray  # indices into ``corpus.clips`` that this dataset holds
    offset: int  # where they start in this dataset's clips
    space: str

    @property
    def indices(self) -> np.ndarray:
        return self.offset + np.arange(len(self.keep))


@dataclass
class MultiCorpus(Corpus):
    """A :class:`Corpus` that also reports where its clips came from."""

    sources: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return {**super().summary(), "sources": self.sources}


def parse_source(entry, index: int) -> SourceSpec:
    """Check one ``sources`` entry; every problem is a :class:`DatasetError` naming it."""
    where = f"multi: sources[{index}]"
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict):
        raise DatasetError(f"{where} must be a mapping such as {{name: fsdd}}, got {entry!r}")
    bad = sorted(set(entry) - set(SOURCE_KEYS))
    if bad:
        raise DatasetError(f"{where} has unknown key(s) {bad}; valid: {', '.join(SOURCE_KEYS)}")
    from sonogram.data import LOADERS

    name = entry.get("name")
    if name not in LOADERS or name == NAME:
        valid = ", ".join(n for n in LOADERS if n != NAME)
        raise DatasetError(f"{where}: unknown dataset {name!r}; valid: {valid}")
    options = entry.get("options") or {}
    labels = entry.get("labels")
    if not isinstance(options, dict):
        raise DatasetError(f"{where}.options must be a mapping of loader options, got {options!r}")
    if labels is not None and not (isinstance(labels, dict) and labels):
        raise DatasetError(f"{where}.labels must be a non-empty mapping {{source label: class}}, got {labels!r}")
    labels = None if labels is None else {str(k): None if v is None else str(v) for k, v in labels.items()}
    pattern = entry.get("label_pattern")
    if pattern is not None:
        try:
            pattern = re.compile(str(pattern))
        except re.error as exc:
            raise DatasetError(f"{where}.label_pattern {entry['label_pattern']!r} is not a regex: {exc}") from None
        if pattern.groups < 1:
            raise DatasetError(f"{where}.label_pattern {pattern.pattern!r} needs a group (...) holding the label")
    role = entry.get("role", "split" if index == 0 else "train")
    if index == 0 and role != "split":
        raise DatasetError(f"{where}: the first source is the primary, whose split decides the folds; "
                           f"give it no role (or role: split), got {role!r}")
    if role not in ROLES:
        raise DatasetError(f"{where}.role must be one of {', '.join(ROLES)}, got {role!r}")
    folds = entry.get("folds", 5)
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise DatasetError(f"{where}.folds must be an integer of at least 2, got {folds!r}")
    speakers = entry.get("speakers")
    per_class = _parse_per_class(entry.get("per_class"), where)
    return SourceSpec(name, options, labels, pattern, role, folds, None if speakers is None else str(speakers),
                      per_class)


def _parse_per_class(value, where: str) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not value:
        raise DatasetError(f"{where}.per_class must be a mapping {{part: clips per class}} such as "
                           f"{{train: 5, val: 0}}, got {value!r}")
    bad = sorted(str(part) for part in value if part not in PARTS)
    if bad:
        raise DatasetError(f"{where}.per_class names unknown part(s) {bad}; valid: {', '.join(PARTS)}")
    for part, k in value.items():
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise DatasetError(f"{where}.per_class.{part} must be a whole number of clips (0 or more), got {k!r}")
    return dict(value)


def cap_per_class(indices: np.ndarray, targets: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``k`` of ``indices`` of each class (``targets[index]``), drawn by ``rng``, sorted.

    Example:
        >>> cap_per_class(np.arange(6), np.array([0, 0, 0, 1, 1, 2]), 2, np.random.default_rng(0)).size
        5
    """
    kept = [rng.permutation(indices[targets[indices] == c])[:k] for c in np.unique(targets[indices])]
    return np.sort(np.concatenate(kept or [np.array([], dtype=np.int64)])).astype(np.int64)


def _raw_labels(corpus: Corpus, pattern: re.Pattern | None) -> list[str]:
    if pattern is None:
        return [clip.label for clip in corpus.clips]
    labels = []
    for clip in corpus.clips:
        m = pattern.search(Path(clip.path).name)
        labels.append(m.group(1) if m else clip.label)
    return labels


def _speaker_space(spec: SourceSpec, corpus: Corpus) -> str:
    if spec.speakers:
        return spec.speakers
    if spec.name in SPEAKER_SPACES:
        return SPEAKER_SPACES[spec.name]
    folder = os.path.commonpath([os.path.abspath(clip.path) for clip in corpus.clips]) if corpus.clips else ""
    return f"{spec.name}:{folder}"


def _vocabulary(classes, primary: Corpus, primary_labels: list[str], spec: SourceSpec) -> list[str]:
    if classes is not None:
        if not isinstance(classes, list) or not classes:
            raise DatasetError(f"multi: classes must be a non-empty list of class names, got {classes!r}")
        vocabulary = [str(c) for c in classes]
        if len(set(vocabulary)) != len(vocabulary):
            raise DatasetError(f"multi: classes name a class twice: {vocabulary}")
        return vocabulary
    ordered = list(primary.classes) + sorted(set(primary_labels) - set(primary.classes))
    vocabulary = []
    for label in ordered:
        target = label if spec.labels is None else spec.labels.get(label)
        if target is not None and target not in vocabulary:
            vocabulary.append(target)
    if not vocabulary:
        raise DatasetError("multi: the vocabulary is empty: the primary's label map keeps no class; "
                           "map some of its labels or list dataset.options.classes")
    return vocabulary


def _targets(spec: SourceSpec, raw: list[str], vocabulary: list[str], index: int) -> list[str | None]:
    """Each clip's class in the vocabulary, or None where it is dropped."""
    where = f"multi: sources[{index}] ({spec.name})"
    if spec.labels is None:
        return [label if label in vocabulary else None for label in raw]
    outside = sorted({t for t in spec.labels.values() if t is not None} - set(vocabulary))
    if outside:
        raise DatasetError(f"{where}: labels map to class(es) {outside} outside the vocabulary "
                           f"{vocabulary}; add them to dataset.options.classes or fix the map")
    absent = sorted(set(spec.labels) - set(raw))
    if absent:
        log.warning("%s: label map names label(s) this corpus lacks: %s", where, absent)
    return [spec.labels.get(label) for label in raw]


def load(root: Path, sources: list | None = None, classes: list | None = None) -> Corpus:
    """Load every source, map labels, namespace speakers; the protocols are the primary's (see module doc)."""
    from sonogram.data import load_dataset

    if not isinstance(sources, list) or not sources:
        raise DatasetError("multi: give dataset.options.sources, a list of datasets (the first decides the split), "
                           "e.g. [{name: fsdd}, {name: speech_commands_test, labels: {...}}]")
    specs = [parse_source(entry, i) for i, entry in enumerate(sources)]
    corpora = [load_dataset(spec.name, root, **spec.options) for spec in specs]
    raws = [_raw_labels(corpus, spec.label_pattern) for corpus, spec in zip(corpora, specs)]
    vocabulary = _vocabulary(classes, corpora[0], raws[0], specs[0])

    clips: list[Clip] = []
    loaded: list[_Loaded] = []
    seen: set[tuple] = set()
    for i, (spec, corpus, raw) in enumerate(zip(specs, corpora, raws)):
        space = _speaker_space(spec, corpus)
        keep = []
        for j, (clip, target) in enumerate(zip(corpus.clips, _targets(spec, raw, vocabulary, i))):
            key = (os.path.abspath(clip.path), clip.start, clip.duration)
            if target is None or key in seen:
                continue
            seen.add(key)
            keep.append(j)
            clips.append(Clip(clip.path, target, f"{space}:{clip.speaker}", clip.start, clip.duration))
        if not keep:
            raise DatasetError(f"multi: sources[{i}] ({spec.name}) keeps no clips: none of its labels "
                               f"{sorted(set(raw))[:12]} maps into the vocabulary {vocabulary}")
        loaded.append(_Loaded(spec, corpus, np.array(keep, dtype=np.int64), len(clips) - len(keep), space))
    empty = sorted(set(vocabulary) - {clip.label for clip in clips})
    if empty:
        raise DatasetError(f"multi: class(es) {empty} of the vocabulary get no clips from any source")

    def protocol(name: str):
        return lambda corpus, seed: combined_splits(corpus, loaded, name, seed)

    primary = corpora[0]
    described = [{"name": s.name, "role": s.role, "clips": len(x.keep), "dropped": len(x.corpus) - len(x.keep),
                  "speakers": len(set(x.corpus.speakers[x.keep].tolist())), "sample_rate": x.corpus.sample_rate,
                  "speaker_space": x.space, **({"per_class": s.per_class} if s.per_class else {})}
                 for s, x in zip(specs, loaded)]
    return MultiCorpus(f"{NAME}-" + "+".join(s.name for s in specs), primary.sample_rate, vocabulary, clips,
                       {p: protocol(p) for p in primary.protocols}, primary.speaker_disjoint, described)


def combined_splits(corpus: Corpus, loaded: list[_Loaded], protocol: str, seed: int) -> list[Split]:
    """The primary's folds of ``protocol``, each joined by every extra source's part, speakers kept apart."""
    primary = loaded[0]
    position = np.full(len(primary.corpus), -1, dtype=np.int64)  # primary clip index -> index here
    position[primary.keep] = primary.indices
    folds = primary.corpus.splits(protocol, seed)
    per_source = [[{part: _kept(position, idx) for part, idx in fold.parts().items()} for fold in folds]]
    for source in loaded[1:]:
        per_source.append(_extra_parts(corpus, source, len(folds), seed))
    for s, source in enumerate(loaded):
        for f, parts in enumerate(per_source[s]):
            for p, part in enumerate(PARTS):
                if part in source.spec.per_class:
                    rng = np.random.default_rng([seed, s, f, p])
                    parts[part] = cap_per_class(parts[part], corpus.targets, source.spec.per_class[part], rng)
    splits = []
    for f, fold in enumerate(folds):
        parts = _keep_speakers_apart(corpus.speakers, [fold_parts[f] for fold_parts in per_source], fold.name)
        splits.append(Split(fold.name, *(parts[p] for p in PARTS)))
    return splits


def _kept(position: np.ndarray, indices: np.ndarray) -> np.ndarray:
    mapped = position[indices]
    return mapped[mapped >= 0]


def _extra_parts(corpus: Corpus, source: _Loaded, n_folds: int, seed: int) -> list[dict[str, np.ndarray]]:
    indices = source.indices
    empty = np.array([], dtype=np.int64)
    if source.spec.role == "train":
        return [{"train": indices, "val": empty, "test": empty} for _ in range(n_folds)]
    k = n_folds if n_folds > 1 else source.spec.folds
    groups = corpus.speakers[indices]
    if len(set(groups.tolist())) < k:
        raise DatasetError(f"multi: source {source.spec.name} (role: split) has {len(set(groups.tolist()))} "
                           f"speakers, too few to deal into {k} folds")
    own = group_kfold(groups, k, seed)
    return [{part: indices[idx] for part, idx in own[f].parts().items()} for f in range(n_folds)]


def _keep_speakers_apart(speakers: np.ndarray, sources: list[dict[str, np.ndarray]], fold: str) -> dict[str, np.ndarray]:
    """Join the sources' parts of one fold: a clip leaves train where its speaker is in another source's
    val or test, and leaves val where its speaker is in another source's test."""
    voices = [{part: set(speakers[idx].tolist()) for part, idx in parts.items()} for parts in sources]
    joined = {part: [] for part in PARTS}
    for s, parts in enumerate(sources):
        tested = set().union(*(v["test"] for o, v in enumerate(voices) if o != s))
        validated = set().union(*(v["val"] for o, v in enumerate(voices) if o != s))
        train = parts["train"][~np.isin(speakers[parts["train"]], list(tested | validated))]
        val = parts["val"][~np.isin(speakers[parts["val"]], list(tested))]
        removed = len(parts["train"]) - len(train) + len(parts["val"]) - len(val)
        if removed:
            log.info("multi %s: source %d loses %d clip(s) of speakers another source validates or tests on",
                     fold, s, removed)
        joined["train"].append(train)
        joined["val"].append(val)
        joined["test"].append(parts["test"])
    return {part: np.sort(np.concatenate(arrays)).astype(np.int64) for part, arrays in joined.items()}
