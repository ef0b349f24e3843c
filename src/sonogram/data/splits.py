"""Deterministic split rules: by take index, speaker k-fold, leave-one-speaker-out, fixed speaker groups.

All randomness comes from ``numpy.random.default_rng(seed)``, so a split is a pure function of
the corpus and the seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sonogram.data.base import DatasetError, Split


def _groups_to_indices(groups: np.ndarray, chosen: set) -> np.ndarray:
    return np.flatnonzero(np.isin(groups, list(chosen)))


def carve_validation(train: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Move a ``fraction`` of the groups in ``train`` to a validation set; groups never straddle."""
    rng = np.random.default_rng(seed)
    unique = np.unique(groups[train])
    if len(unique) < 2:
        raise DatasetError("cannot carve a validation set: the training part has fewer than 2 groups")
    n_val = min(len(unique) - 1, max(1, int(round(fraction * len(unique)))))
    val_groups = set(rng.permutation(unique)[:n_val].tolist())
    in_val = np.isin(groups[train], list(val_groups))
    return train[~in_val], train[in_val]


def group_kfold(groups: np.ndarray, k: int, seed: int, val_fraction: float = 0.1, name: str = "fold") -> list[Split]:
    """k folds with disjoint groups: each fold tests one slice of groups, validates on a slice of the rest.

    Groups are shuffled by the seed, then dealt to folds greedily by size (largest first) so
    folds hold similar clip counts.
    """
    unique, counts = np.unique(groups, return_counts=True)
    if k < 2 or k > len(unique):
        raise DatasetError(f"k must be between 2 and the number of groups ({len(unique)}), got {k}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(unique))
    order = order[np.argsort(-counts[order], kind="stable")]
    fold_of, sizes = {}, np.zeros(k, dtype=np.int64)
    for i in order:
        f = int(np.argmin(sizes))
        fold_of[unique[i]] = f
        sizes[f] += counts[i]
    folds = np.array([fold_of[g] for g in groups])
    splits = []
    for f in range(k):
        test = np.flatnonzero(folds == f)
        train, val = carve_validation(np.flatnonzero(folds != f), groups, val_fraction, seed + f)
        splits.append(Split(f"{name}{f}", train, val, test))
    return splits


def leave_one_group_out(groups: np.ndarray, seed: int, name: str = "speaker") -> list[Split]:
    """One fold per group: test on it, validate on one other group drawn by the seed, train on the rest."""
    unique = np.unique(groups)
    if len(unique) < 3:
        raise DatasetError(f"leave-one-out needs at least 3 groups, got {len(unique)}")
    rng = np.random.default_rng(seed)
    splits = []
    for g in unique:
        others = [u for u in unique if u != g]
        val_group = others[int(rng.integers(len(others)))]
        test = np.flatnonzero(groups == g)
        val = np.flatnonzero(groups == val_group)
        train = np.flatnonzero((groups != g) & (groups != val_group))
        splits.append(Split(f"{name}-{g}", train, val, test))
    return splits


def fixed_groups(groups: np.ndarray, folds: Sequence[tuple[set, set, set]], name: str) -> list[Split]:
    """Splits given as explicit (train, val, test) sets of group ids."""
    return [
        Split(f"{name}{i}", _groups_to_indices(groups, tr), _groups_to_indices(groups, va), _groups_to_indices(groups, te))
        for i, (tr, va, te) in enumerate(folds)
    ]


def stratified_holdout(targets: np.ndarray, indices: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` into (rest, held-out) keeping each class's share; used where speakers are shared by design."""
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(targets[indices]):
        members = indices[targets[indices] == c]
        n = max(1, int(round(fraction * len(members))))
        held.extend(rng.permutation(members)[:n].tolist())
    held_arr = np.sort(np.array(held, dtype=np.int64))
    return np.setdiff1d(indices, held_arr), held_arr
