"""Load test of `sonogram serve`: torch vs onnxruntime, micro-batched vs one request at a time.

    python benchmarks/serve.py RUN [--clients 50] [--seconds 60] [--max-requests 200000] [--threads 1]

Exports RUN (an FSDD run folder) to ONNX in a temporary folder, then for each configuration starts
`sonogram serve` on a free 127.0.0.1 port (never another host), lets ``--clients`` asyncio clients
post real FSDD clips as raw bodies for ``--seconds`` (or until ``--max-requests``), and stops it.
The load generator (keep-alive HTTP/1.1 on asyncio streams) shares the machine's cores with the
server. Reports requests/s, p50/p95/p99 latency, errors and the mean batch the server ran; writes
benchmarks/results/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table, write_json  # noqa: E402

from sonogram.data.root import resolve_data_root  # noqa: E402
from sonogram.network.export import export_run  # noqa: E402

HOST = "127.0.0.1"
CONFIGS = [  # (name, backend, max_batch)
    ("torch, unbatched", "torch", 1),
    ("torch, batched", "torch", 32),
    ("onnxruntime, unbatched", "onnx", 1),
    ("onnxruntime, batched", "onnx", 32),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_server(model: Path, max_batch: int, port: int, threads: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "sonogram", "serve", str(model), "--host", HOST, "--port", str(port),
               "--max-batch", str(max_batch), "--batch-wait-ms", "5", "--threads", str(threads)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    env.pop("SONOGRAM_TOKEN", None)
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{HOST}:{port}/v1/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError(f"sonogram serve {model} did not start within 120 s")


async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """One HTTP/1.1 keep-alive request already encoded; returns the status code after reading the whole reply."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    await reader.readexactly(length)
    return status


def encode(port: int, path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: audio/wav\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def load(port: int, bodies: list[bytes], clients: int, seconds: float, max_requests: int) -> dict:
    """``clients`` keep-alive connections, each posting a random clip as soon as its last reply is in.

    A bare asyncio HTTP/1.1 client: httpx's client costs about 10 ms of CPU per request, enough to
    make the load generator, not the server, the bottleneck on a 2-core machine.
    """
    requests = [encode(port, "/v1/predict", body) for body in bodies]
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds
    sent = 0

    async def client(index: int) -> None:
        nonlocal errors, sent
        rng = np.random.default_rng(index)
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.monotonic() < stop_at and sent < max_requests:
                sent += 1
                start = time.perf_counter()
                try:
                    ok = await post(reader, writer, requests[int(rng.integers(len(requests)))]) == 200
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    ok = False
                    writer.close()
                    reader, writer = await asyncio.open_connection(HOST, port)
                latencies.append(time.perf_counter() - start)
                errors += not ok
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "seconds": elapsed, "req/s": len(latencies) / elapsed,
            "p50 ms": float(np.percentile(ms, 50)), "p95 ms": float(np.percentile(ms, 95)),
            "p99 ms": float(np.percentile(ms, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="an FSDD run folder (sonogram train recipes/fsdd_fast.yaml)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0, help="per configuration")
    parser.add_argument("--max-requests", type=int, default=200_000, help="per configuration")
    parser.add_argument("--threads", type=int, default=1, help="the server's inference threads")
    parser.add_argument("--only", nargs="*", help="run only these configurations (by name)")
    args = parser.parse_args()
    files = sorted((resolve_data_root(None) / "fsdd" / "recordings").glob("*.wav"))[::30]
    bodies = [f.read_bytes() for f in files]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        onnx_model, _ = export_run(args.run, "onnx", Path(tmp) / "model.onnx")
        for name, backend, max_batch in CONFIGS:
            if args.only and name not in args.only:
                continue
            port = free_port()
            server = start_server(onnx_model if backend == "onnx" else args.run, max_batch, port, args.threads)
            try:
                row = {"configuration": name, **asyncio.run(load(port, bodies, args.clients, args.seconds,
                                                                 args.max_requests))}
                batches = httpx.get(f"http://{HOST}:{port}/v1/health", timeout=5).json()["batches_run"]
                row["mean batch"] = row["requests"] / max(batches, 1)
            finally:
                server.terminate()
                server.wait(timeout=30)
            rows.append(row)
            print(f"{name}: {row['req/s']:.1f} req/s", file=sys.stderr, flush=True)
    base = rows[0]["req/s"]
    for row in rows:
        row["x unbatched torch"] = row["req/s"] / base
    print_table(rows, list(rows[0]))
    write_json("serve", rows, clients=args.clients, seconds=args.seconds, clips=len(bodies), run=str(args.run),
               threads=args.threads)


if __name__ == "__main__":
    main()
