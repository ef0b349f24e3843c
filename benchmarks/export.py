"""Export speed and accuracy: the STFT as a DFT convolution vs the opset-17 STFT operator, and
onnxruntime vs eager torch for the CNN, BC-ResNet and Transformer designs.

    python benchmarks/export.py [--quick] [--run RUN]

Part 1 exports the power spectrogram three ways (the DFT basis as a float32 conv1d; as a float64
matmul on gathered frames, which export uses for layers with ``float64_stft``; the STFT operator)
for 1-second clips (8 kHz: n_fft 256, hop 80; 16 kHz: n_fft 512, hop 160) and runs each on
onnxruntime (CPU): median ms per batch of 1 and of 256, the file size, and max |diff| against a
float64 ``torch.stft`` relative to the batch's peak power.
Part 2 exports each design (untrained weights: speed does not depend on them) and measures the
median per-clip latency (batch 1) and the batch-256 throughput of eager torch and onnxruntime,
interleaved in one run. With ``--run`` (an FSDD run folder on the official split), part 3 exports
it to ONNX and TorchScript and compares both with eager torch on the 300 test clips (index 0-4 of
each digit and speaker). Prints tables and writes benchmarks/results/export.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, write_json  # noqa: E402

from sonogram.features.dft import ConvSpectrogram  # noqa: E402
from sonogram.features.functional import get_window  # noqa: E402
from sonogram.network.design import build_network, load_design  # noqa: E402
from sonogram.audio import fix_length, load  # noqa: E402
from sonogram.data.root import resolve_data_root  # noqa: E402
from sonogram.runs import Run  # noqa: E402
from sonogram.network.export import export_onnx, export_run  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
STFTS = {8000: (256, 80), 16000: (512, 160)}
DESIGNS = ["cnn_logmel", "bcresnet_logmel", "transformer_logmel"]


class OperatorSpectrogram(nn.Module):
    """The power spectrogram through ``torch.stft``, which the exporter turns into the ONNX ``STFT`` operator."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft, self.hop_length = n_fft, hop_length
        self.register_buffer("window", get_window("hann", n_fft))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(batch, time) -> (batch, 1, freq, frames)``."""
        spec = torch.stft(waveform, self.n_fft, self.hop_length, window=self.window, center=True,
                          pad_mode="reflect", return_complex=True)
        return torch.view_as_real(spec).square().sum(-1).unsqueeze(1)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def onnx_file(module: nn.Module, length: int, folder: Path, name: str) -> Path:
    path = folder / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module.eval(), (torch.randn(2, length),), None, dynamo=True, opset_version=18,
                                    verbose=False, input_names=["waveform"], output_names=["out"],
                                    dynamic_shapes=({0: torch.export.Dim("batch")},))
    program.save(str(path))
    return path


def session(path: Path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def stft_rows(folder: Path, repeat: int) -> list[dict]:
    rows = []
    rng = np.random.default_rng(0)
    for rate, (n_fft, hop) in STFTS.items():
        batch = {n: rng.normal(0, 0.3, (n, rate)).astype(np.float32) for n in (1, 256)}
        window = get_window("hann", n_fft, torch.float64)
        reference = torch.stft(torch.from_numpy(batch[256]).double(), n_fft, hop, window=window, center=True,
                               pad_mode="reflect", return_complex=True).abs().square().unsqueeze(1).numpy()
        variants = (("conv1d DFT, float32", ConvSpectrogram(n_fft, hop, get_window("hann", n_fft))),
                    ("frames x DFT, float64", ConvSpectrogram(n_fft, hop, get_window("hann", n_fft), float64=True)),
                    ("STFT operator", OperatorSpectrogram(n_fft, hop)))
        for index, (path_name, module) in enumerate(variants):
            path = onnx_file(module, rate, folder, f"stft_{rate}_{index}")
            run = session(path)
            out = run.run(None, {"waveform": batch[256]})[0]
            rows.append({"stft": path_name, "rate": rate, "n_fft": n_fft, "hop": hop,
                         "kB": path.stat().st_size / 1000,
                         "ms batch 1": median_ms(lambda: run.run(None, {"waveform": batch[1]}), repeat * 10),
                         "ms batch 256": median_ms(lambda: run.run(None, {"waveform": batch[256]}), repeat),
                         "max rel diff": float(np.abs(out - reference).max() / reference.max())})
    return rows


def design_rows(folder: Path, repeat: int) -> list[dict]:
    rows = []
    for name in DESIGNS:
        torch.manual_seed(0)
        net = build_network(load_design(REPO / "recipes" / "designs" / f"{name}.yaml")).eval()
        run = session(export_onnx(net, folder / f"{name}.onnx", {}))
        rng = np.random.default_rng(0)
        one = rng.normal(0, 0.3, (1, net.design.num_samples)).astype(np.float32)
        many = rng.normal(0, 0.3, (256, net.design.num_samples)).astype(np.float32)

        @torch.no_grad()
        def eager(x: np.ndarray):
            return net(torch.from_numpy(x))

        timings: dict[str, list[float]] = {k: [] for k in ("torch 1", "onnx 1", "torch 256", "onnx 256")}
        for _ in range(repeat):  # interleaved, so a busy moment on the shared machine hits both runtimes
            timings["torch 1"].append(median_ms(lambda: eager(one), 10))
            timings["onnx 1"].append(median_ms(lambda: run.run(None, {"waveform": one}), 10))
            timings["torch 256"].append(median_ms(lambda: eager(many), 1))
            timings["onnx 256"].append(median_ms(lambda: run.run(None, {"waveform": many}), 1))
        ms = {k: statistics.median(v) for k, v in timings.items()}
        with torch.no_grad():
            diff = float(np.abs(run.run(None, {"waveform": many})[0] - eager(many).numpy()).max())
        for runtime in ("torch", "onnx"):
            rows.append({"design": name, "runtime": "eager torch" if runtime == "torch" else "onnxruntime",
                         "ms per clip (batch 1)": ms[f"{runtime} 1"],
                         "clips/s (batch 256)": 256 / (ms[f"{runtime} 256"] / 1000),
                         "speed-up b1": ms["torch 1"] / ms[f"{runtime} 1"],
                         "speed-up b256": ms["torch 256"] / ms[f"{runtime} 256"],
                         "max |logit diff|": diff})
    return rows


def test_set_rows(run_dir: Path, folder: Path) -> list[dict]:
    """Eager torch against the run exported to ONNX and TorchScript, on FSDD's official test clips."""
    network, checkpoint = Run(run_dir).model()
    files = sorted((resolve_data_root(None) / "fsdd" / "recordings").glob("*_[0-4].wav"))
    length, align = network.design.num_samples, checkpoint.get("align", "center")
    x = np.stack([fix_length(load(f, network.design.sample_rate)[0], length, align) for f in files])
    truth = np.array([int(f.name.split("_")[0]) for f in files])
    with torch.no_grad():
        eager = network(torch.from_numpy(x)).numpy()
    onnx_path, _ = export_run(run_dir, "onnx", folder / "model.onnx")
    script_path, _ = export_run(run_dir, "torchscript", folder / "model.torchscript.pt")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        script = torch.jit.load(str(script_path))(torch.from_numpy(x)).numpy()
    outputs = {"onnxruntime": session(onnx_path).run(None, {"waveform": x})[0], "torchscript": script}
    labels = [int(label) for label in checkpoint["labels"]]
    return [{"runtime": name, "clips": len(files), "max |logit diff|": float(np.abs(out - eager).max()),
             "same label as eager": int((out.argmax(1) == eager.argmax(1)).sum()),
             "accuracy": float((np.array(labels)[out.argmax(1)] == truth).mean())} for name, out in outputs.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (for a smoke run)")
    parser.add_argument("--run", type=Path, help="an FSDD run folder (official split) to check on its test clips")
    args = parser.parse_args()
    repeat = 3 if args.quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        stft = stft_rows(Path(tmp), repeat)
        print_table(stft, list(stft[0]))
        print()
        designs = design_rows(Path(tmp), repeat)
        print_table(designs, list(designs[0]))
        test_set = test_set_rows(args.run, Path(tmp)) if args.run else []
        if test_set:
            print()
            print_table(test_set, list(test_set[0]))
    write_json("export", designs, stft=stft, test_set=test_set, repeat=repeat, torch_threads=torch.get_num_threads(),
               onnxruntime=onnxruntime.__version__)


if __name__ == "__main__":
    main()
