"""Export: the conv STFT equals torch.stft, every bundled design exports to ONNX and TorchScript with
eager-torch parity, the model card and metadata, and the torch-free ONNX predictor."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml

onnxruntime = pytest.importorskip("onnxruntime")

from sonogram.audio import fix_length, load  # noqa: E402
from sonogram.cli import main  # noqa: E402
from sonogram.config import to_dict  # noqa: E402
from sonogram.errors import ConfigError, RunError  # noqa: E402
from sonogram.features.dft import ConvSpectrogram, export_ready  # noqa: E402
from sonogram.features.layers import Spectrogram  # noqa: E402
from sonogram.inference.onnx import OnnxScorer  # noqa: E402
from sonogram.inference.predictor import Predictor  # noqa: E402
from sonogram.network import model_card  # noqa: E402
from sonogram.network.checkpoint import save_checkpoint  # noqa: E402
from sonogram.network.design import build_network, load_design  # noqa: E402
from sonogram.network.export import export_onnx, export_run, export_torchscript, metadata  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DESIGNS = sorted((REPO / "recipes" / "designs").glob("*.yaml"))
FAST_DESIGN = "small_cnn_logmel"  # one design runs in the quick suite; the rest are marked slow
TOLERANCE = 1e-4  # max abs logit difference, runtime against eager torch


@pytest.mark.parametrize("kwargs", [
    {"n_fft": 256, "hop_length": 80},
    {"n_fft": 512, "hop_length": 160, "power": None},
    {"n_fft": 128, "hop_length": 32, "power": 1.0, "center": False},
    {"n_fft": 200, "win_length": 160, "hop_length": 50, "window_fn": "hamming", "normalized": True},
    {"n_fft": 64, "hop_length": 16, "power": 0.5, "pad": 7, "pad_mode": "constant"},
    {"n_fft": 64, "hop_length": 64, "pad_mode": "replicate", "window_fn": "blackman"},
    {"n_fft": 256, "hop_length": 80, "float64_stft": False},
    {"n_fft": 512, "hop_length": 160, "power": None, "float64_stft": False},
])
def test_conv_spectrogram_equals_the_stft_layer(kwargs):
    layer = Spectrogram(**kwargs)
    x = torch.randn(3, 2, 4000, generator=torch.Generator().manual_seed(0))  # any leading dimensions
    want, got = layer(x), ConvSpectrogram.from_layer(layer)(x)
    assert got.shape == want.shape
    assert (got - want).abs().max() <= 2e-5 * want.abs().max()


def test_export_ready_copies_and_leaves_training_untouched():
    net = build_network(load_design(REPO / "recipes" / "designs" / "cnn_logmel.yaml")).train()
    ready = export_ready(net)
    assert isinstance(net.frontend[0].mel.spectrogram, Spectrogram) and net.training
    assert isinstance(ready.frontend[0].mel.spectrogram, ConvSpectrogram) and not ready.training
    x = torch.randn(2, net.design.num_samples)
    with torch.no_grad():
        assert (ready(x) - net.eval()(x)).abs().max() < TOLERANCE


def _real_clips(root: Path, rate: int, length: int, count: int = 16) -> np.ndarray:
    files = sorted((root / "fsdd" / "recordings").glob("*.wav"))[::97][:count]
    return np.stack([fix_length(load(f, rate)[0], length) for f in files])


def _inputs(net, shared_data) -> np.ndarray:
    rng = np.random.default_rng(0)
    random = rng.normal(0, 0.3, (5, net.design.num_samples)).astype(np.float32)
    return np.concatenate([random, _real_clips(shared_data, net.design.sample_rate, net.design.num_samples)])


def _design_params(known_failures: dict[str, str] | None = None):
    params = []
    for p in DESIGNS:
        marks = [] if p.stem == FAST_DESIGN else [pytest.mark.slow]
        if p.stem in (known_failures or {}):
            marks.append(pytest.mark.xfail(strict=True, reason=known_failures[p.stem]))
        params.append(pytest.param(p, id=p.stem, marks=marks))
    return params


# The exported STFT matches to 1e-15, but on 8 kHz speech resampled to 16 kHz the power rows above
# 4 kHz sit at the top_db floor; onnxruntime's log differs from torch's by one float32 ulp (1.5e-5 dB)
# and utterance Normalize divides such near-constant rows by its eps (1e-5), so features differ by ~1.
ILL_CONDITIONED = {"cnn_power": "Normalize's 1e-5 eps amplifies 1-ulp log differences in floor-level rows"}


@pytest.mark.parametrize("design_path", _design_params(ILL_CONDITIONED))
def test_every_design_exports_to_onnx_with_parity(design_path, tmp_path, shared_data):
    torch.manual_seed(0)
    net = build_network(load_design(design_path)).eval()
    path = export_onnx(net, tmp_path / "m.onnx", {"labels": "[]"})
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = _inputs(net, shared_data)  # 21 clips: the batch axis is dynamic (exported with 2)
    got = session.run(["logits"], {"waveform": x})[0]
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    assert np.abs(got - want).max() <= TOLERANCE
    assert (got.argmax(1) == want.argmax(1)).all()


@pytest.mark.parametrize("design_path", _design_params())
def test_every_design_exports_to_torchscript_with_parity(design_path, tmp_path, shared_data):
    torch.manual_seed(0)
    net = build_network(load_design(design_path)).eval()
    path = export_torchscript(net, tmp_path / "m.pt", {"labels": "[]"})
    extra = {"sonogram.json": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra["sonogram.json"]) == {"labels": "[]"}
    x = torch.from_numpy(_inputs(net, shared_data))
    with torch.no_grad():
        assert (loaded(x) - net(x)).abs().max() <= TOLERANCE


def _fake_run(tmp_path: Path) -> Path:
    """A run folder as training leaves it, with an untrained small network (training is not under test)."""
    design = load_design(REPO / "recipes" / "designs" / "small_cnn_logmel.yaml")
    design.num_samples = 6000
    torch.manual_seed(0)
    net = build_network(design).eval()
    run = tmp_path / "run"
    run.mkdir()
    labels = [str(d) for d in range(10)]
    save_checkpoint(run / "model.pt", net, labels, align="center", epoch=3)
    (run / "config.yaml").write_text(yaml.safe_dump({"seed": 0, "dataset": {"name": "fsdd", "split": "official"},
                                                     "design": to_dict(net.design)}))
    (run / "labels.json").write_text(json.dumps(labels))
    (run / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.5, "macro_f1": 0.4, "confusion": [[1]]},
                                                  "val": {"accuracy": 0.6, "macro_f1": 0.5}, "params": 1}))
    return run


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path]:
    run = _fake_run(tmp_path_factory.mktemp("export"))
    return run, export_run(run, "onnx")[0]


def test_export_run_writes_metadata_and_card(exported):
    run, path = exported
    assert path == run / "export" / "model.onnx"
    card = model_card.read_card(path.with_name("model-card.json"))
    assert card["labels"] == [str(d) for d in range(10)] and card["sample_rate"] == 8000
    assert card["num_samples"] == 6000 and card["align"] == "center" and card["source"]["epoch"] == 3
    assert card["data"] == {"dataset": "fsdd", "split": "official", "fold": None, "options": {}, "seed": 0}
    assert card["metrics"] == {"test": {"accuracy": 0.5, "macro_f1": 0.4}, "val": {"accuracy": 0.6, "macro_f1": 0.5}}
    assert card["exports"]["onnx"]["sha256"] == model_card.sha256(path)
    model = OnnxScorer.load(path)
    assert (model.labels, model.sample_rate, model.num_samples, model.model_id) == (
        card["labels"], 8000, 6000, card["model_id"])
    assert model.card["design"] == card["design"]


def test_a_second_export_adds_to_the_card(exported, tmp_path):
    run, path = exported
    ts_path, card_path = export_run(run, "torchscript")
    assert ts_path == path.with_name("model.torchscript.pt") and card_path == path.with_name("model-card.json")
    assert sorted(model_card.read_card(card_path)["exports"]) == ["onnx", "torchscript"]


def test_export_errors_are_clear(exported, tmp_path):
    run, _ = exported
    with pytest.raises(ConfigError, match="unknown export format 'tflite'"):
        export_run(run, "tflite")
    with pytest.raises(RunError, match="no such run folder"):
        export_run(tmp_path / "nowhere", "onnx")
    (tmp_path / "card.json").write_text("{}")
    with pytest.raises(RunError, match="not a sonogram model card"):
        model_card.read_card(tmp_path / "card.json")
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    with pytest.raises(ConfigError, match="not a readable ONNX model"):
        OnnxScorer.load(tmp_path / "bad.onnx")


def test_metadata_needs_the_sonogram_keys(tmp_path):
    net = build_network(load_design(REPO / "recipes" / "designs" / "mlp_waveform.yaml")).eval()
    path = export_onnx(net, tmp_path / "plain.onnx", {"labels": "[]"})
    with pytest.raises(ConfigError, match="sample_rate, num_samples, align missing"):
        OnnxScorer.load(path)
    card = model_card.new_card("m", [str(d) for d in range(10)], 8000, 8000, "left", {}, 1)
    assert set(metadata(card)) >= {"labels", "sample_rate", "num_samples", "align", "design", "sonogram_version"}


def _wav_files(tmp_path: Path, shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "fsdd" / "recordings").glob("*.wav"))[:3]
    wave16k, _ = load(files[0], 16000)
    flac = tmp_path / "resampled.flac"
    soundfile.write(flac, wave16k, 16000)
    broken = tmp_path / "broken.wav"
    broken.write_text("no audio here")
    return [*files, flac, broken]


def test_onnx_predictions_match_torch(exported, tmp_path, shared_data):
    run, path = exported
    files = _wav_files(tmp_path, shared_data)
    want = list(Predictor.open(run).predict_files(files))
    got = list(Predictor.open(path).predict_files(files, batch_size=2))
    assert [type(r).__name__ for r in got] == ["Prediction"] * 4 + ["AudioError"]
    assert "broken.wav" in str(got[-1])
    for g, w in zip(got[:4], want[:4]):
        assert g.label == w.label and g.path == w.path
        assert max(abs(g.probabilities[k] - w.probabilities[k]) for k in g.probabilities) < 1e-5


def test_onnx_predictor_never_imports_torch(exported, shared_data):
    _, path = exported
    clip = sorted((shared_data / "fsdd" / "recordings").glob("*.wav"))[0]
    code = ("import sys\n"
            "from sonogram.inference.predictor import Predictor\n"
            f"rows = list(Predictor.open({str(path)!r}).predict_files([{str(clip)!r}]))\n"
            "assert rows[0].label in [str(d) for d in range(10)], rows\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n"
            "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_cli_export_and_predict_with_onnx(tmp_path, shared_data, capsys):
    run = _fake_run(tmp_path)
    out = tmp_path / "deploy" / "digits.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "model-card.json" in printed
    files = _wav_files(tmp_path, shared_data)
    assert main(["predict", str(out), *map(str, files), "--json"]) == 1  # the broken file fails
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert len(rows) == 4 and all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 for r in rows)
    assert captured.err.startswith("sonogram predict: error: ") and "broken.wav" in captured.err
    assert main(["predict", str(run), str(files[0]), "--backend", "onnx"]) == 2
    assert "--backend onnx needs a MODEL.onnx" in capsys.readouterr().err
    # A trailing slash names a folder that does not exist yet: the model goes inside it, card beside it.
    assert main(["export", str(run), "--format", "onnx", "--out", f"{tmp_path / 'new'}/"]) == 0
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["model-card.json", "model.onnx"]
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["export", str(run), "--format", "tflite"])
