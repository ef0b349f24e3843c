"""Keyword detections scored against the true word times of a long stream.

A detection is a **hit** when a target word of the same label is under way or just ended: the
detection is made (its ``end``, when the stream had been read that far) between the word's start and
``tolerance`` seconds after the word's end. Each word takes at most one hit and each detection counts
once, in time order. A target word without a hit is a **miss**; every other detection (on noise, on
another word, or naming the wrong keyword) is a **false accept**. Latency is the time from the end of
a word to its hit.

Example:
    >>> from sonogram.data.streams import Word
    >>> from sonogram.inference.detection import Detection
    >>> words = [Word(1.0, 1.5, "yes", True, 10.0), Word(4.0, 4.4, "no", True, 10.0)]
    >>> found = [Detection(0.7, 1.7, "yes", 0.9), Detection(2.0, 3.0, "no", 0.9)]
    >>> m = detection_metrics(found, words, hours=1.0)
    >>> m["hits"], m["misses"], m["false_accepts"], m["latency_median_s"]
    (1, 1, 1, 0.2)
"""

from __future__ import annotations

import bisect

import numpy as np

from sonogram.data.streams import Word
from sonogram.inference.detection import Detection

TOLERANCE = 1.0  # seconds after a word's end in which its detection still counts (a 1 s window holds it)


def match(detections: list[Detection], words: list[Word], tolerance: float = TOLERANCE
          ) -> tuple[list[tuple[Word, Detection]], list[Word], list[Detection]]:
    """``(hits as (word, detection) pairs, missed target words, false accepts)``; ``words`` do not
    overlap in time (as in a built stream)."""
    pending = sorted((w for w in words if w.target), key=lambda w: w.start)
    starts = [w.start for w in pending]
    hits, false_accepts, taken = [], [], set()
    for detection in sorted(detections, key=lambda d: d.end):
        i = bisect.bisect_right(starts, detection.end) - 1  # the last word begun by the detection
        while i >= 0 and pending[i].end + tolerance >= detection.end:
            word = pending[i]
            if i not in taken and word.label == detection.label:
                break
            i -= 1
        else:
            false_accepts.append(detection)
            continue
        taken.add(i)
        hits.append((word, detection))
    missed = [w for i, w in enumerate(pending) if i not in taken]
    return hits, missed, false_accepts


def detection_metrics(detections: list[Detection], words: list[Word], hours: float,
                      tolerance: float = TOLERANCE) -> dict:
    """Hits, misses, miss rate (overall, per class and per SNR), false accepts per hour of ``hours``, latency."""
    hits, missed, false_accepts = match(detections, words, tolerance)
    targets = [w for w in words if w.target]
    latency = np.array([d.end - w.end for w, d in hits])
    return {
        "words": len(targets),
        "hits": len(hits),
        "misses": len(missed),
        "miss_rate": len(missed) / len(targets) if targets else 0.0,
        "false_accepts": len(false_accepts),
        "false_accepts_per_hour": len(false_accepts) / hours,
        "latency_median_s": round(float(np.median(latency)), 3) if len(latency) else None,
        "latency_p95_s": round(float(np.percentile(latency, 95)), 3) if len(latency) else None,
        "per_class": _miss_rates(targets, missed, key=lambda w: w.label),
        "per_snr_db": _miss_rates(targets, missed, key=lambda w: w.snr_db),
    }


def _miss_rates(targets: list[Word], missed: list[Word], key) -> dict:
    """``{group: {"words", "misses", "miss_rate"}}`` with words grouped by ``key``."""
    groups: dict = {}
    for word in targets:
        groups.setdefault(key(word), [0, 0])[0] += 1
    for word in missed:
        groups[key(word)][1] += 1
    return {str(k): {"words": n, "misses": m, "miss_rate": m / n} for k, (n, m) in sorted(groups.items())}


def false_accept_sources(false_accepts: list[Detection], words: list[Word]) -> dict:
    """Where false accepts fell: ``{"on_words": n, "on_noise": n, "per_label": {label: n}}``; one is on a
    word when its window ``[start, end]`` overlaps that word's speech, else it heard only noise."""
    starts = [w.start for w in words]
    on_words = 0
    for d in false_accepts:
        i = bisect.bisect_right(starts, d.end) - 1
        on_words += i >= 0 and any(words[j].end >= d.start for j in range(max(0, i - 3), i + 1))
    per_label: dict[str, int] = {}
    for d in false_accepts:
        per_label[d.label] = per_label.get(d.label, 0) + 1
    return {"on_words": int(on_words), "on_noise": len(false_accepts) - int(on_words),
            "per_label": dict(sorted(per_label.items(), key=lambda kv: -kv[1]))}
