"""Training speed: where one FSDD epoch goes, and the engine's overhead over a hand-written PyTorch loop.

    python benchmarks/training.py [--recipe recipes/fsdd_fast.yaml] [--epochs 3] [--rounds 2] [--repeat 15] [--out DIR]

1. Profile: one epoch of the recipe's network on its training batches, each phase timed on its
   own (data loading, waveform augmentation, front-end, model forward + loss, backward, optimiser
   and schedule step) and, from the engine's run, what remains (metrics, logging, callbacks).
2. Overhead: the engine (``sonogram.engine.train``'s Classifier, Trainer, callbacks and
   TensorBoard logger, validating every epoch) against a minimal loop doing the same work (same
   network, augmentation, optimiser, schedule, the same batches, a validation pass), in blocks of
   ``--epochs`` epochs that take turns: loop, engine, loop, ... (``--rounds`` engine blocks). Epoch
   seconds are medians over each block's epochs after the first; each engine block's overhead is
   against the mean of the loop blocks on either side, and the figure is the median over blocks.
3. Step variants: one training step of the recipe's model (forward, loss, backward) on one batch
   of its features, the model's weights and input stored channels-first (NCHW) and channels-last,
   each in float32 and under bfloat16 autocast, ``--repeat`` interleaved rounds; medians with the
   min-max spread, and each variant's speed-up over NCHW float32.

Prints the tables and writes training.json to ``--out`` (default benchmarks/results). The end-to-end
figure for the recipe, cold cache included, is ``python benchmarks/accuracy.py fsdd-fast``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, interleaved, median, print_table, write_json  # noqa: E402

from sonogram.data.loaders import eval_loader, prepare_fold, train_loader  # noqa: E402
from sonogram.engine.train import _loggers_and_callbacks, build_classifier, make_trainer  # noqa: E402
from sonogram.models import cnn  # noqa: E402
from sonogram.recipe import load_recipe  # noqa: E402
from sonogram.runs import Run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class Stopwatch:
    """Accumulated seconds per phase."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def time(self, phase: str, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start
        return out


def optimiser_and_schedule(module, steps: int):
    """The engine's own optimiser and schedule, built for ``steps`` steps without a Trainer."""

    class _Trainer:
        estimated_stepping_batches = steps

    module.trainer = _Trainer()  # configure_optimizers reads only this
    config = module.configure_optimizers()
    module.trainer = None
    if isinstance(config, dict):
        return config["optimizer"], config["lr_scheduler"]["scheduler"]
    return config, None


def hand_loop(recipe, data, train_batches, val_batches, epochs: int, watch: Stopwatch | None = None) -> list[float]:
    """Train a fresh copy of the recipe's classifier with plain PyTorch; returns seconds per epoch."""
    torch.manual_seed(recipe.seed)
    module = build_classifier(recipe, data)
    network, augment = module.network, module.augment
    generator = torch.Generator().manual_seed(recipe.seed)
    optimiser, schedule = optimiser_and_schedule(module, epochs * len(train_batches))
    smoothing = recipe.optim.label_smoothing
    watch = watch or Stopwatch()
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        network.train()
        for waveform, target in train_batches:
            if augment is not None and augment.active:
                waveform = watch.time("augmentation", augment, waveform, generator)
            features = watch.time("front-end", network.features, waveform)
            loss = watch.time("model forward + loss", lambda f: torch.nn.functional.cross_entropy(
                network.model(f), target, label_smoothing=smoothing), features)
            watch.time("backward", loss.backward)
            watch.time("optimiser + schedule", lambda: (optimiser.step(), optimiser.zero_grad(set_to_none=True),
                                                        schedule.step() if schedule else None))
        network.eval()
        with torch.no_grad():
            watch.time("validation", lambda: [network(x) for x, _ in val_batches])
        times.append(time.perf_counter() - start)
    return times


class Batches:
    """The same batches every epoch, as one iterable (Lightning takes a plain list for several loaders)."""

    def __init__(self, batches: list):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class EpochTimes(L.Callback):
    def __init__(self):
        self.times: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer, module) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer, module) -> None:
        """After validation and the engine's own epoch-end callbacks (history, model.pt, last.ckpt), listed before it."""
        self.times.append(time.perf_counter() - self._start)


def engine(recipe, data, train_batches, val_batches, epochs: int, run_dir: Path) -> list[float]:
    """The engine's classifier, callbacks, logger and Trainer on the same batches; seconds per epoch."""
    recipe.train.epochs = epochs
    L.seed_everything(recipe.seed, verbose=False)
    module = build_classifier(recipe, data)
    _, _, callbacks, logger = _loggers_and_callbacks(recipe, Run(run_dir), data.labels, data.split.name, None, None)
    timer = EpochTimes()
    trainer = make_trainer(recipe, callbacks + [timer], logger)
    trainer.fit(module, Batches(train_batches), Batches(val_batches))
    return timer.times


def step_variants(recipe, data, batch, repeat: int) -> list[dict]:
    """Forward + loss + backward of the recipe's model on one batch: NCHW or channels-last, float32 or bf16 autocast.

    For NCHW the CNN's own conversion of its input to channels-last is switched off while it runs.
    """
    torch.manual_seed(recipe.seed)
    network = build_classifier(recipe, data).network.train()
    waveform, target = batch
    features = network.features(waveform).detach()  # (B, C, F, T)

    def step(model, x, autocast: bool, layout: str) -> None:
        as_is = mock.patch.object(cnn, "channels_last", lambda t: t) if layout == "NCHW" else contextlib.nullcontext()
        with as_is, torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()

    variants = {}
    for layout, memory_format in (("NCHW", torch.contiguous_format), ("channels-last", torch.channels_last)):
        model = copy.deepcopy(network.model).to(memory_format=memory_format)
        x = features.contiguous(memory_format=memory_format)
        for precision, autocast in (("float32", False), ("bf16 autocast", True)):
            variants[f"{layout}, {precision}"] = functools.partial(step, model, x, autocast, layout)
    times = interleaved(variants, repeat)
    base = median(times["NCHW, float32"])
    return [{"step": name, "ms (median)": 1e3 * median(t), "spread ms": f"{1e3 * min(t):.1f}-{1e3 * max(t):.1f}",
             "x NCHW float32": base / median(t)} for name, t in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=str(ROOT / "recipes" / "fsdd_fast.yaml"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="engine blocks, each between two hand-loop blocks")
    parser.add_argument("--repeat", type=int, default=15, help="interleaved rounds of the step variants")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for training.json")
    args = parser.parse_args()
    recipe = load_recipe(args.recipe, ["train.progress=false"])
    data = prepare_fold(recipe)
    batch = recipe.train.batch_size
    loader = train_loader(data, batch, recipe.seed, recipe.train.num_workers)
    start = time.perf_counter()
    train_batches = list(loader)
    data_seconds = time.perf_counter() - start
    val_batches = list(eval_loader(data, "val", batch, recipe.train.num_workers))

    # The Trainer sets process-wide flags (deterministic algorithms) when it is built; build one
    # first so the hand-written loop runs under the same flags before and after the engine.
    make_trainer(recipe, [], False)
    watch = Stopwatch()
    hand_loop(recipe, data, train_batches, val_batches, 1, watch)
    watch.seconds = {"data loading (cached, DataLoader)": data_seconds, **watch.seconds}

    # Blocks take turns (loop, engine, loop, ..., loop); each engine block is compared with the mean of
    # the loop blocks on either side, so a drift in machine load cancels to first order.
    loops = [hand_loop(recipe, data, train_batches, val_batches, args.epochs)]
    engines = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as run_dir:
            engines.append(engine(recipe, data, train_batches, val_batches, args.epochs, Path(run_dir)))
        loops.append(hand_loop(recipe, data, train_batches, val_batches, args.epochs))
    loop_blocks = [median(times[1:]) for times in loops]  # epoch seconds, first epoch of a block left out
    engine_blocks = [median(times[1:]) for times in engines]
    ratios = [e / ((loop_blocks[i] + loop_blocks[i + 1]) / 2) for i, e in enumerate(engine_blocks)]
    loop, eng = median(loop_blocks), median(engine_blocks)
    epoch = sum(watch.seconds.values())
    phases = [{"phase": k, "seconds": v, "share": v / epoch} for k, v in watch.seconds.items()]
    extra = (median(ratios) - 1) * loop
    phases.append({"phase": "engine: metrics, logging, callbacks (overhead x loop epoch)", "seconds": extra,
                   "share": extra / epoch})
    print_table(phases, ["phase", "seconds", "share"])
    overhead = {"train batches": len(train_batches), "batch size": batch, "epochs each": args.epochs,
                "loop epoch s (median)": loop, "engine epoch s (median)": eng, "engine overhead": median(ratios) - 1,
                "overhead per engine block": [r - 1 for r in ratios], "loop epochs s": loops, "engine epochs s": engines}
    print()
    print_table([overhead], list(overhead)[:6])
    steps = step_variants(recipe, data, train_batches[0], args.repeat)
    print()
    print_table(steps, list(steps[0]))
    write_json("training", [overhead], args.out, recipe=str(Path(args.recipe).name), phases=phases, steps=steps,
               torch_threads=torch.get_num_threads())


if __name__ == "__main__":
    main()
