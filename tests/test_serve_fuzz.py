"""Fuzz the server from its own OpenAPI schema (schemathesis): no request may get a 500."""

from pathlib import Path

import pytest
import torch

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("onnxruntime")

from hypothesis import HealthCheck, given, settings  # noqa: E402

from sonogram.inference.onnx import OnnxScorer  # noqa: E402
from sonogram.network.design import build_network, load_design  # noqa: E402
from sonogram.network.export import export_onnx, metadata  # noqa: E402
from sonogram.network.model_card import new_card  # noqa: E402
from sonogram.serve.app import create_app  # noqa: E402
from sonogram.serve.config import ServeConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    design = load_design(REPO / "recipes" / "designs" / "mlp_waveform.yaml")
    torch.manual_seed(0)
    network = build_network(design).eval()
    card = new_card("fuzz", [str(d) for d in range(10)], 8000, 8000, "center", {}, 1)
    path = export_onnx(network, tmp_path_factory.mktemp("fuzz") / "model.onnx", metadata(card))
    app = create_app(OnnxScorer.load(path), ServeConfig(max_bytes=200_000, max_seconds=5.0))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.slow
def test_openapi_fuzz_never_gives_a_500(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/predict", "/v1/predict/batch", "/v1/health"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case):
            response = case.call()
            assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])

        call()
