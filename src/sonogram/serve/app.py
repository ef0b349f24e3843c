"""The FastAPI app: predict uploaded audio with one model, micro-batched, within limits.

Endpoints (OpenAPI docs at ``/docs``):
    POST /v1/predict         one clip: a multipart ``file`` field, or the raw audio as the body
    POST /v1/predict/batch   several clips as multipart ``files`` fields; one result or error each
    GET  /v1/health          liveness, model id, backend and batching counters (never needs the token)
    GET  /v1/labels          class names in index order
    GET  /v1/model           the model card

Errors are ``{"error": message}`` with 401 (token), 413 (too big or too long), 415 (not audio),
422 (empty or damaged audio, a clip the model cannot score, bad fields), 500 (a model whose weights are
not finite). Each request logs one access line with its latency. Clips are fitted and checked by the
same :class:`~sonogram.inference.predictor.Predictor` as every other door: a prediction carries its
``note`` (a clip cut, mostly padding, or silent) when one applies.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from contextlib import asynccontextmanager

import numpy as np
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from sonogram import __version__
from sonogram.errors import RunError
from sonogram.inference.predictor import Predictor, overflow
from sonogram.inference.scorers import Scorer
from sonogram.serve.batcher import MicroBatcher
from sonogram.serve.config import ServeConfig
from sonogram.serve.decode import RequestError, decode

access_log = logging.getLogger("sonogram.serve.access")

_MULTIPART_OVERHEAD = 64_000  # bytes of multipart framing allowed on top of the audio itself
_AUDIO_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "audio/*": {"schema": {"type": "string", "format": "binary"}},
}}}
_BATCH_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}}}


class Ranked(BaseModel):
    label: str
    probability: float


class PredictionOut(BaseModel):
    model_id: str
    filename: str
    label: str
    score: float
    top_k: list[Ranked]
    probabilities: dict[str, float]
    duration: float
    sample_rate: int
    note: str | None = None


class FileError(BaseModel):
    filename: str
    status: int
    error: str


class BatchOut(BaseModel):
    model_id: str
    results: list[PredictionOut | FileError]


class ErrorOut(BaseModel):
    error: str


_ERRORS = {code: {"model": ErrorOut} for code in (401, 413, 415, 422)}


def create_app(model: Scorer, config: ServeConfig) -> FastAPI:
    """An app serving ``model``, any :class:`~sonogram.inference.scorers.Scorer` (an ``.onnx`` or a run)."""
    predictor = Predictor(model)
    batcher = MicroBatcher(model.probabilities, config.max_batch, config.batch_wait_ms)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="sonogram", version=__version__, lifespan=lifespan,
                  description=f"Spoken-word classification with model {model.model_id}.")

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    @app.middleware("http")
    async def log_access(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        client = request.client.host if request.client else "-"
        access_log.info("%s %s %s %d %.1fms", client, request.method, request.url.path, response.status_code,
                        (time.perf_counter() - start) * 1000)
        return response

    def authorize(request: Request) -> None:
        if config.token is None:
            return
        given = request.headers.get("authorization", "")
        if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), config.token.encode())):
            raise RequestError(401, "missing or wrong bearer token (send 'Authorization: Bearer <token>')")

    async def predict_clip(filename: str, data: bytes, top_k: int) -> PredictionOut:
        clip = await asyncio.to_thread(decode, data, filename, model.sample_rate, config.max_bytes, config.max_seconds)
        fitted, note = predictor.fit(clip.waveform)
        probabilities = await batcher.submit(fitted)
        try:
            unscorable = predictor.non_finite(probabilities[None])[0]
        except RunError as exc:
            raise RequestError(500, str(exc)) from None
        if unscorable:
            raise RequestError(422, f"{filename}: {overflow(fitted)}")
        answer = predictor.answer(probabilities, filename, clip.duration, note)
        ranked = [model.labels[i] for i in np.argsort(-probabilities, kind="stable")[:top_k]]
        return PredictionOut(model_id=model.model_id, filename=filename, label=answer.label, score=answer.score,
                             top_k=[Ranked(label=label, probability=answer.probabilities[label]) for label in ranked],
                             probabilities=answer.probabilities, duration=round(clip.duration, 6),
                             sample_rate=clip.sample_rate, note=note)

    def check_length(request: Request, limit: int) -> None:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise RequestError(413, f"request of {int(length):,} bytes, over the {limit:,}-byte limit")

    async def read_body(request: Request, limit: int) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"request over the {limit:,}-byte limit")
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_form(request: Request, limit: int):
        check_length(request, limit + _MULTIPART_OVERHEAD)
        try:
            return await request.form(max_files=config.max_files + 1)
        except Exception as exc:  # starlette's multipart parser raises several types for malformed bodies
            raise RequestError(422, f"malformed multipart body ({exc})") from None

    async def upload_bytes(upload: UploadFile, limit: int) -> bytes:
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise RequestError(413, f"{upload.filename or 'upload'}: over the {limit:,}-byte limit")
        return data

    @app.post("/v1/predict", response_model=PredictionOut, responses=_ERRORS, openapi_extra=_AUDIO_BODY,
              dependencies=[Depends(authorize)])
    async def predict(request: Request, top_k: int = Query(config.top_k, ge=1, le=1000)) -> PredictionOut:
        """Predict one clip, uploaded as a multipart ``file`` or sent as the raw body."""
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await read_form(request, config.max_bytes)
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise RequestError(422, "multipart upload needs a 'file' field holding the audio")
            return await predict_clip(upload.filename or "file", await upload_bytes(upload, config.max_bytes), top_k)
        check_length(request, config.max_bytes)
        return await predict_clip("body", await read_body(request, config.max_bytes), top_k)

    @app.post("/v1/predict/batch", response_model=BatchOut, responses=_ERRORS, openapi_extra=_BATCH_BODY,
              dependencies=[Depends(authorize)])
    async def predict_batch(request: Request, top_k: int = Query(config.top_k, ge=1, le=1000)) -> BatchOut:
        """Predict several clips sent as multipart ``files`` fields; a bad file gets its own error entry."""
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise RequestError(415, "send the clips as multipart/form-data 'files' fields")
        form = await read_form(request, config.max_bytes)
        uploads = [u for u in form.getlist("files") if isinstance(u, UploadFile)]
        if not uploads:
            raise RequestError(422, "multipart upload needs one or more 'files' fields holding audio")
        if len(uploads) > config.max_files:
            raise RequestError(413, f"{len(uploads)} files, over the limit of {config.max_files} per request")

        async def one(index: int, upload: UploadFile) -> PredictionOut | FileError:
            name = upload.filename or f"files[{index}]"
            try:
                return await predict_clip(name, await upload_bytes(upload, config.max_bytes), top_k)
            except RequestError as exc:
                return FileError(filename=name, status=exc.status, error=exc.message)

        results = await asyncio.gather(*(one(i, upload) for i, upload in enumerate(uploads)))
        return BatchOut(model_id=model.model_id, results=results)

    @app.get("/v1/health")
    async def health() -> dict:
        """Liveness: no token needed."""
        return {"status": "ok", "model_id": model.model_id, "backend": model.runtime,
                "max_batch": config.max_batch, "batch_wait_ms": config.batch_wait_ms, "batches_run": batcher.batches}

    @app.get("/v1/labels", responses=_ERRORS, dependencies=[Depends(authorize)])
    async def labels() -> dict:
        return {"labels": model.labels}

    @app.get("/v1/model", responses=_ERRORS, dependencies=[Depends(authorize)])
    async def card() -> dict:
        """The model card: labels, rate, input length, design, data, split and measured metrics."""
        return {**model.card, "backend": model.runtime}

    return app
