"""A folder corpus of words spoken by many synthetic voices (espeak-ng), for extra training voices.

Each *voice* is one espeak-ng accent (a language code such as ``en-gb-scotland``) with one voice
variant (``+m3``, ``+f2``, ``+croak``, ...) and its own base pitch and speed: it is one speaker of
the corpus. Each *take* of a word varies pitch, speed and amplitude a little around the voice's
base. Clips are resampled with soxr to the requested rate, trimmed of leading and trailing
silence and written as 16-bit WAV files::

    OUT/{word}/{voice}_nohash_{take}.wav      one class folder per word
    OUT/_silence_/noise{i}_nohash_0.wav       with ``silence``: generated noise, no speech
    OUT/synth.json                            the settings, voices and espeak-ng version

so the ``folder`` dataset reads OUT with one speaker per voice (its default speaker pattern is
the text before ``_nohash_``). Everything is drawn from ``numpy.random.default_rng`` seeded by
the seed, the voice and the word, so a seed gives the same files, and a word's clips do not
depend on which other words were asked for.

``silence`` adds a ``_silence_`` class of one-second clips with no speech in them: coloured
noise (a ``1 / f ** e`` spectrum, ``e`` drawn from 0 to 2: white to brown) at a level drawn from
:data:`SILENCE_DBFS`, half of them slowly swelling and fading, each clip its own speaker. It is
generated, not recorded, so a model can learn "nobody speaks" without any real background
recording (a test set's own noise clips stay unseen).

Default accents are espeak-ng's English ones (:data:`ENGLISH`). Other languages read an English
word by their own spelling rules (``nine`` becomes "nina" in Dutch, German, Italian, Welsh;
checked with ``espeak-ng -x``), so they say another word: ask for them with ``languages`` only
where that is wanted.

Example (needs espeak-ng):
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "words"
    >>> summary = synthesise(SynthConfig(("yes", "no"), voices=2, takes=1), out)  # doctest: +SKIP
    >>> summary["clips"]  # doctest: +SKIP
    4
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from sonogram.atomic import orphaned_temporaries
from sonogram.audio import loud_extent, resample
from sonogram.errors import ConfigError, DatasetError

log = logging.getLogger(__name__)

ESPEAK = "espeak-ng"
INSTALL = "install it with: apt-get install espeak-ng"
ENGLISH = ("en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
           "en-us-nyc")
# Voice variants that sound like people (espeak-ng --voices=variant); robots, whispers and effects left out.
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "croak", "klatt",
            "klatt2", "klatt3", "grandma", "grandpa", "adam", "Andy", "Annie", "belinda", "david", "linda", "max",
            "michel", "paul", "rob", "robert", "steph", "quincy", "zac", "edward", "Alicia", "iven", "norbert",
            "travis", "victor", "shelby", "sandro", "aunty")
PITCH = (25, 75)  # a voice's base pitch, espeak-ng -p (0-99, default 50)
SPEED = (130, 190)  # a voice's base speed, -s words per minute (default 175)
PITCH_JITTER, SPEED_JITTER = 6, 0.08  # per take, around the voice's base
AMPLITUDE = (50, 150)  # per take, -a (default 100; 200 clips)
TRIM_DB = -40.0  # silence: 10 ms frames quieter than this below the clip's loudest frame
MAX_WORD = 40
MANIFEST = "synth.json"
SILENCE = "_silence_"
SILENCE_DBFS = (-70.0, -20.0)  # RMS level of a generated silence clip, drawn uniformly in dB
SILENCE_SWELL_HZ = (0.2, 3.0)  # rate of the slow level change of half the silence clips


@dataclass(frozen=True)
class SynthConfig:
    """What to synthesise: ``words`` by ``voices`` voices, ``takes`` each, at ``rate`` Hz."""

    words: tuple[str, ...]
    voices: int = 40
    takes: int = 2
    rate: int = 16000
    languages: tuple[str, ...] = ENGLISH
    seed: int = 0
    silence: int = 0  # one-second clips of generated noise in a _silence_ class folder


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an accent, a variant, a base pitch and speed; ``id`` names its files."""

    id: str
    language: str
    variant: str
    pitch: int
    speed: int


@dataclass
class _Progress:
    total: int
    done: int = 0
    callback: Callable[[int, int], None] | None = field(default=None, repr=False)

    def step(self) -> None:
        self.done += 1
        if self.callback:
            self.callback(self.done, self.total)


def espeak_binary() -> str:
    """The espeak-ng program, or a :class:`DatasetError` saying how to install it."""
    path = shutil.which(ESPEAK)
    if path is None:
        raise DatasetError(f"sonogram synth needs espeak-ng, which is not installed; {INSTALL}")
    return path


def check_config(config: SynthConfig) -> None:
    """Every problem with the request, before anything is written: the first as a :class:`ConfigError`."""
    if not config.words:
        raise ConfigError("give at least one word to synthesise")
    for word in config.words:
        if not (isinstance(word, str) and word.isalpha() and len(word) <= MAX_WORD):
            raise ConfigError(f"word {word!r}: a word is 1 to {MAX_WORD} letters (no digits, spaces, "
                              f"punctuation or paths); it names its class folder")
    folded = [w.lower() for w in config.words]
    if len(set(folded)) != len(folded):
        raise ConfigError(f"words name a class twice: {list(config.words)}")
    for name, value, low, high in (("voices", config.voices, 1, 10_000), ("takes", config.takes, 1, 1_000),
                                   ("rate", config.rate, 4000, 192_000), ("silence", config.silence, 0, 100_000)):
        if not (isinstance(value, int) and low <= value <= high):
            raise ConfigError(f"--{name} must be an integer from {low} to {high}, got {value!r}")
    if not config.languages:
        raise ConfigError("give at least one language (see espeak-ng --voices)")
    if not 0 <= config.seed < 2**32:
        raise ConfigError(f"--seed must be from 0 to {2**32 - 1}, got {config.seed}")


def installed_languages(binary: str) -> set[str]:
    """Language codes of ``espeak-ng --voices``."""
    listing = subprocess.run([binary, "--voices"], capture_output=True, text=True, check=True).stdout
    return {line.split()[1] for line in listing.splitlines()[1:] if len(line.split()) > 1}


def choose_voices(languages: Sequence[str], count: int, seed: int) -> list[Voice]:
    """``count`` voices: every (language, variant) pair once in a seeded order before any repeats
    (with another pitch and speed).

    Example:
        >>> [v.id for v in choose_voices(["en-us"], 2, seed=0)][:1]
        ['v000-en-us-zac']
    """
    rng = np.random.default_rng(seed)
    pairs = [(language, variant) for language in languages for variant in VARIANTS]
    order = rng.permutation(len(pairs))
    voices = []
    for i in range(count):
        language, variant = pairs[order[i % len(pairs)]]
        pitch, speed = int(rng.integers(*PITCH, endpoint=True)), int(rng.integers(*SPEED, endpoint=True))
        voices.append(Voice(f"v{i:03d}-{language}-{variant}", language, variant, pitch, speed))
    return voices


def noise_clip(rate: int, rng: np.random.Generator) -> np.ndarray:
    """``(rate,)`` float32: one second of coloured noise at a drawn level, half the time slowly swelling.

    Example:
        >>> x = noise_clip(8000, np.random.default_rng(0))
        >>> x.shape, bool(-71 < 10 * np.log10(np.mean(x.astype(np.float64) ** 2)) < -19)
        ((8000,), True)
    """
    exponent = rng.uniform(0.0, 2.0)
    spectrum = np.fft.rfft(rng.standard_normal(rate))
    spectrum /= np.arange(1, len(spectrum) + 1) ** (exponent / 2)
    noise = np.fft.irfft(spectrum, n=rate)
    if rng.random() < 0.5:
        t = np.arange(rate) / rate
        swell = 1.0 + rng.uniform(0.3, 0.9) * np.sin(2 * np.pi * rng.uniform(*SILENCE_SWELL_HZ) * t
                                                      + rng.uniform(0, 2 * np.pi))
        noise = noise * swell
    noise = noise / np.sqrt(np.mean(noise**2)) * 10.0 ** (rng.uniform(*SILENCE_DBFS) / 20)
    return np.clip(noise, -1.0, 1.0).astype(np.float32)


def trim_silence(waveform: np.ndarray, rate: int, threshold_db: float = TRIM_DB, margin: float = 0.02) -> np.ndarray:
    """``waveform`` without the leading and trailing 10 ms frames quieter than ``threshold_db`` below its
    loudest frame, keeping ``margin`` seconds either side.

    Example:
        >>> x = np.concatenate([np.zeros(800), np.ones(400), np.zeros(800)]).astype(np.float32)
        >>> len(trim_silence(x, 8000, margin=0.0))
        400
    """
    loud_start, loud_end = loud_extent(waveform, rate, threshold_db)
    if loud_end <= loud_start:
        return waveform
    pad = int(margin * rate)
    start = max(0, loud_start - pad)
    end = min(len(waveform), loud_end + pad)
    return waveform[start:end]


def speak(binary: str, voice: Voice, word: str, pitch: int, speed: int, amplitude: int, scratch: Path,
          rate: int) -> np.ndarray:
    """``(time,)`` float32 audio of ``voice`` saying ``word`` at ``rate`` Hz, trimmed of silence."""
    wav = scratch / "take.wav"
    command = [binary, "-v", f"{voice.language}+{voice.variant}", "-p", str(pitch), "-s", str(speed),
               "-a", str(amplitude), "-w", str(wav), "--", word]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not wav.is_file():
        message = (result.stderr or result.stdout).strip().splitlines()
        raise DatasetError(f"espeak-ng failed for voice {voice.language}+{voice.variant}, word {word!r}: "
                           f"{message[0] if message else f'exit status {result.returncode}'}")
    audio, source_rate = soundfile.read(wav, dtype="float32", always_2d=True)
    audio = resample(np.ascontiguousarray(audio.mean(axis=1)), source_rate, rate)
    return np.clip(trim_silence(audio, rate), -1.0, 1.0)


def _takes(config: SynthConfig, voice_index: int, voice: Voice, word: str) -> list[tuple[int, int, int]]:
    """(pitch, speed, amplitude) of each take: seeded by the seed, the voice and the word alone."""
    rng = np.random.default_rng([config.seed, voice_index, zlib.crc32(word.lower().encode())])
    takes = []
    for _ in range(config.takes):
        pitch = int(np.clip(voice.pitch + rng.integers(-PITCH_JITTER, PITCH_JITTER, endpoint=True), 0, 99))
        speed = int(round(voice.speed * (1 + rng.uniform(-SPEED_JITTER, SPEED_JITTER))))
        takes.append((pitch, speed, int(rng.integers(*AMPLITUDE, endpoint=True))))
    return takes


def synthesise(config: SynthConfig, out: str | os.PathLike, force: bool = False,
               progress: Callable[[int, int], None] | None = None) -> dict:
    """Write the corpus to ``out`` (see the module doc) and return a summary.

    The corpus is written into a temporary folder beside ``out`` and renamed into place when
    complete. An existing non-empty ``out`` is refused unless ``force`` (then replaced).
    ``progress(done, total)`` is called after each clip.
    """
    check_config(config)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ConfigError(f"--out {out} exists and is not empty; give --force to replace it")
    binary = espeak_binary()
    unknown = sorted(set(config.languages) - installed_languages(binary))
    if unknown:
        raise ConfigError(f"espeak-ng has no language(s) {unknown}; see espeak-ng --voices "
                          f"(English accents: {', '.join(ENGLISH)})")
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    for orphan in orphaned_temporaries(parent, f"{out.name}"):
        log.info("removing %s, left by a synth that was killed", orphan)
        shutil.rmtree(orphan, ignore_errors=True)
    staging = parent / f".{out.name}.{os.getpid()}.tmp"
    voices = choose_voices(config.languages, config.voices, config.seed)
    counter = _Progress(len(voices) * len(config.words) * config.takes + config.silence, callback=progress)
    seconds = []
    try:
        scratch = staging / ".scratch"  # espeak-ng's own output, one take at a time
        scratch.mkdir(parents=True)
        for word in config.words:
            folder = staging / word
            folder.mkdir()
            for v, voice in enumerate(voices):
                for take, (pitch, speed, amplitude) in enumerate(_takes(config, v, voice, word)):
                    audio = speak(binary, voice, word, pitch, speed, amplitude, scratch, config.rate)
                    soundfile.write(folder / f"{voice.id}_nohash_{take}.wav", audio, config.rate, subtype="PCM_16")
                    seconds.append(len(audio) / config.rate)
                    counter.step()
        shutil.rmtree(scratch)
        _write_silence(config, staging / SILENCE, counter)
        summary = {"out": str(out), "words": list(config.words), "voices": len(voices), "takes": config.takes,
                   "clips": len(seconds), "silence": config.silence, "rate": config.rate, "seed": config.seed,
                   "languages": list(config.languages), "seconds": round(float(np.sum(seconds)), 2),
                   "shortest_s": round(float(np.min(seconds)), 3), "longest_s": round(float(np.max(seconds)), 3),
                   "espeak_ng": _version(binary)}
        manifest = {**summary, "config": asdict(config), "voice_list": [asdict(v) for v in voices]}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        _replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


def _write_silence(config: SynthConfig, folder: Path, counter: _Progress) -> None:
    """``config.silence`` noise clips, each its own speaker, seeded by the seed alone."""
    if not config.silence:
        return
    folder.mkdir()
    rng = np.random.default_rng([config.seed, zlib.crc32(SILENCE.encode())])
    for i in range(config.silence):
        soundfile.write(folder / f"noise{i:05d}_nohash_0.wav", noise_clip(config.rate, rng), config.rate,
                        subtype="PCM_16")
        counter.step()


def _replace(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out``; an existing ``out`` (empty, or replaced under ``force``) goes first."""
    if out.is_dir():
        old = out.with_name(f".{out.name}.{os.getpid()}.old")
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)


def _version(binary: str) -> str:
    text = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    return text.split(":")[1].split()[0] if ":" in text else text.strip()
