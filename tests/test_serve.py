"""The REST server: endpoints, limits and error codes, bearer token, access log, micro-batching,
a bounded fuzz, and the real `sonogram serve` on a free 127.0.0.1 port."""

import asyncio
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from sonogram.inference.onnx import OnnxScorer  # noqa: E402
from sonogram.inference.predictor import Predictor  # noqa: E402
from sonogram.inference.scorers import TorchScorer  # noqa: E402
from sonogram.network.design import build_network, load_design  # noqa: E402
from sonogram.network.export import export_onnx, metadata  # noqa: E402
from sonogram.network.model_card import new_card  # noqa: E402
from sonogram.serve.app import create_app  # noqa: E402
from sonogram.serve.batcher import MicroBatcher  # noqa: E402
from sonogram.serve.config import ServeConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LABELS = [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def network():
    design = load_design(REPO / "recipes" / "designs" / "small_cnn_logmel.yaml")
    design.num_samples = 6000
    torch.manual_seed(0)
    return build_network(design).eval()


@pytest.fixture(scope="module")
def card(network):
    return new_card("test-model", LABELS, 8000, 6000, "center", {"model": {"name": "small_cnn"}}, 1,
                    {"dataset": "fsdd", "split": "official"}, {"test": {"accuracy": 0.5}})


@pytest.fixture(scope="module")
def onnx_path(network, card, tmp_path_factory) -> Path:
    return export_onnx(network, tmp_path_factory.mktemp("serve") / "model.onnx", metadata(card))


def _client(onnx_path: Path, **settings) -> TestClient:
    return TestClient(create_app(OnnxScorer.load(onnx_path), ServeConfig(**settings)))


def _wav(seconds: float = 0.5, rate: int = 8000, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    soundfile.write(buffer, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def client(onnx_path):
    with _client(onnx_path) as c:
        yield c


def test_health_labels_model_and_docs(client):
    assert client.get("/v1/health").json()["status"] == "ok"
    assert client.get("/v1/labels").json() == {"labels": LABELS}
    model = client.get("/v1/model").json()
    assert model["model_id"] == "test-model" and model["metrics"]["test"]["accuracy"] == 0.5
    assert model["backend"] == "onnxruntime"
    schema = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/predict/batch", "/v1/health", "/v1/labels", "/v1/model"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def test_predict_upload_and_raw_body_match_the_predictor(client, onnx_path, tmp_path, shared_data):
    clip = sorted((shared_data / "fsdd" / "recordings").glob("*.wav"))[0]
    want = next(Predictor.open(onnx_path).predict_files([clip]))
    reply = client.post("/v1/predict", files={"file": (clip.name, clip.read_bytes(), "audio/wav")})
    assert reply.status_code == 200
    body = reply.json()
    assert body["label"] == want.label and body["filename"] == clip.name and body["model_id"] == "test-model"
    assert max(abs(body["probabilities"][k] - want.probabilities[k]) for k in LABELS) < 1e-5
    assert [r["label"] for r in body["top_k"]][0] == body["label"] and len(body["top_k"]) == 3
    flac = _wav(0.75, 16000, "FLAC")  # another rate and format, as the raw body
    raw = client.post("/v1/predict?top_k=10", content=flac, headers={"content-type": "audio/flac"}).json()
    assert raw["sample_rate"] == 16000 and raw["duration"] == 0.75 and len(raw["top_k"]) == 10
    assert abs(sum(raw["probabilities"].values()) - 1) < 1e-4


def _nan_wav() -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.array([0.0, np.nan, 0.1] * 100, np.float32), 8000, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


@pytest.mark.parametrize("body, status, words", [
    (b"", 422, "empty upload"),
    (b"just some text, not audio", 415, "not a readable audio file"),
    (_wav()[:100], 415, "truncated WAV"),
    (_nan_wav(), 422, "NaN"),
    (_wav(seconds=3.0), 413, "over the 2 s limit"),
    (_wav(seconds=1.0, subtype="FLOAT") * 3, 413, "over the 50,000-byte limit"),
])
def test_bad_audio_gets_a_clear_4xx(onnx_path, body, status, words):
    with _client(onnx_path, max_seconds=2.0, max_bytes=50_000) as c:
        reply = c.post("/v1/predict", content=body, headers={"content-type": "application/octet-stream"})
        assert reply.status_code == status and words in reply.json()["error"]
        reply = c.post("/v1/predict", files={"file": ("x.wav", body)})
        assert reply.status_code == status and words in reply.json()["error"]


def test_bad_requests(client):
    assert client.post("/v1/predict", files={"other": ("x.wav", _wav())}).status_code == 422
    assert client.post("/v1/predict?top_k=0", content=_wav()).status_code == 422
    assert client.post("/v1/predict/batch", content=_wav()).status_code == 415
    assert "'files'" in client.post("/v1/predict/batch", files={"x": ("a", b"1")}).json()["error"]
    bad = client.post("/v1/predict", content=b"--x\r\n", headers={"content-type": "multipart/form-data; boundary=x"})
    assert bad.status_code == 422


def test_batch_gives_one_result_or_error_per_file(onnx_path):
    files = [("files", ("a.wav", _wav())), ("files", ("b.txt", b"not audio")), ("files", ("c.flac", _wav(fmt="FLAC")))]
    with _client(onnx_path, max_files=3) as c:
        body = c.post("/v1/predict/batch", files=files).json()
        assert [r["filename"] for r in body["results"]] == ["a.wav", "b.txt", "c.flac"]
        assert body["results"][1]["status"] == 415 and "label" in body["results"][0] and "label" in body["results"][2]
        too_many = c.post("/v1/predict/batch", files=files + [("files", ("d.wav", _wav()))])
        assert too_many.status_code == 413 and "4 files" in too_many.json()["error"]


def test_bearer_token(onnx_path, monkeypatch):
    with _client(onnx_path, token="s3cret") as c:
        assert c.get("/v1/health").status_code == 200  # liveness stays open
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
            reply = c.get("/v1/labels", headers=headers)
            assert reply.status_code == 401 and "bearer token" in reply.json()["error"]
            assert reply.headers["www-authenticate"] == "Bearer"
        assert c.post("/v1/predict", content=_wav()).status_code == 401
        ok = c.post("/v1/predict", content=_wav(), headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_one_access_log_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="sonogram.serve.access"):
        client.get("/v1/labels")
        client.post("/v1/predict", content=b"")
    lines = [r.getMessage() for r in caplog.records if r.name == "sonogram.serve.access"]
    assert len(lines) == 2
    assert "GET /v1/labels 200" in lines[0] and "POST /v1/predict 422" in lines[1]
    assert all(line.endswith("ms") for line in lines)


def test_torch_backend_serves_the_same_answers(network, card, onnx_path):
    torch_model = TorchScorer.from_network(network, LABELS, "test-model", card)
    body = _wav(0.6)
    with TestClient(create_app(torch_model, ServeConfig())) as c:
        by_torch = c.post("/v1/predict", content=body).json()
    with _client(onnx_path) as c:
        by_onnx = c.post("/v1/predict", content=body).json()
    assert by_torch["label"] == by_onnx["label"]
    assert max(abs(by_torch["probabilities"][k] - by_onnx["probabilities"][k]) for k in LABELS) < 1e-5


@pytest.mark.parametrize("max_batch, batches", [(4, 3), (1, 10)])
def test_micro_batcher_groups_concurrent_clips(max_batch, batches):
    seen = []

    def run(x):
        seen.append(len(x))
        return x * 2

    async def go():
        batcher = MicroBatcher(run, max_batch=max_batch, wait_ms=50)
        batcher.start()
        out = await asyncio.gather(*(batcher.submit(np.full(2, i, np.float32)) for i in range(10)))
        await batcher.stop()
        return out, batcher.batches

    out, count = asyncio.run(go())
    assert [float(o[0]) for o in out] == [2.0 * i for i in range(10)]
    assert count == batches and sum(seen) == 10 and max(seen) <= max_batch


def test_micro_batcher_hands_errors_to_each_request():
    def fail(x):
        raise RuntimeError("model broke")

    async def go():
        batcher = MicroBatcher(fail, max_batch=4, wait_ms=10)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit(np.zeros(2, np.float32)) for _ in range(3)),
                                       return_exceptions=True)
        await batcher.stop()
        return results

    assert all(isinstance(r, RuntimeError) for r in asyncio.run(go()))


def test_bounded_fuzz_never_gives_a_500(client):
    """Random bodies, content types, query strings and multipart fields (the same seed every run)."""
    rng = np.random.default_rng(12)
    good = _wav(0.3)
    types = ["application/octet-stream", "audio/wav", "multipart/form-data", "multipart/form-data; boundary=zz",
             "text/plain", "application/json", ""]
    for _ in range(60):
        kind = rng.integers(4)
        if kind == 0:
            body = rng.bytes(int(rng.integers(0, 400)))
        elif kind == 1:
            cut = int(rng.integers(0, len(good)))
            body = good[:cut] + rng.bytes(int(rng.integers(0, 50)))
        elif kind == 2:
            body = bytearray(good)
            for i in rng.integers(0, len(good), 8):
                body[i] = int(rng.integers(256))
            body = bytes(body)
        else:
            body = b"--zz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n" + rng.bytes(60)
        path = ["/v1/predict", "/v1/predict/batch"][int(rng.integers(2))]
        query = ["", "?top_k=2", "?top_k=-1", "?top_k=abc", "?top_k=99999"][int(rng.integers(5))]
        reply = client.post(path + query, content=body, headers={"content-type": types[int(rng.integers(len(types)))]})
        assert reply.status_code < 500, (path, query, reply.status_code, reply.text)


def _served_url(server: subprocess.Popen, log) -> str:
    """The URL named in ``sonogram serve``'s start-up line (it binds before it says so)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        log.seek(0)
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", log.read())
        if found:
            return found.group(1)
        time.sleep(0.1)
    log.seek(0)
    pytest.fail(f"sonogram serve named no port: {log.read()}")


def test_the_real_sonogram_serve(onnx_path, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "SONOGRAM_TOKEN": "tok"}
    log = open(tmp_path / "serve.log", "w+")
    server = subprocess.Popen([sys.executable, "-m", "sonogram", "serve", str(onnx_path), "--port", "0"],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        url = _served_url(server, log)
        assert not url.endswith(":0")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the port is bound: a request waits in its queue until uvicorn runs
            try:
                if httpx.get(f"{url}/v1/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("sonogram serve did not answer within 60 s")
        headers = {"authorization": "Bearer tok"}
        reply = httpx.post(f"{url}/v1/predict", files={"file": ("a.wav", _wav())}, headers=headers, timeout=30)
        assert reply.status_code == 200 and reply.json()["label"] in LABELS
        assert httpx.get(f"{url}/v1/labels", timeout=5).status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=30)
    log.seek(0)
    output = log.read()
    assert "POST /v1/predict 200" in output and "GET /v1/labels 401" in output and "Traceback" not in output


def test_sonogram_serve_on_a_taken_port_says_so_in_one_line(onnx_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "sonogram", "serve", str(onnx_path), "--port", str(port)],
                              capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr.strip().splitlines()[-1]
