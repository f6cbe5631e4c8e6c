"""Benchmark: a bounded load test of ``serve.py`` on localhost, with bad uploads mixed in.

    python benchmarks/service_load.py --run runs/demo/s2t [--videos 'data/synthetic/video/test/*.mp4']
        [--clients 1 4 8] [--requests 40] [--bad-every 5] [--port 8311] [-- SERVE.PY ARGUMENTS]

Starts ``serve.py --run RUN`` in its own process, waits for ``/health``, times its first request
(after the service's warm-up, or without one with ``-- --no-warm-up``), then for each ``--clients``
count sends ``--requests`` requests from that many concurrent clients: videos from ``--videos`` in
turn, and every ``--bad-every``-th request a file that is not a video. Reports requests/s, the p50 and
p95 latency of the good requests, the mean batch size the service reported, how many bad uploads got
their 4xx, and errors: any other answer (a good video that failed, a bad one that did not get a
4xx, a refused or broken connection). Errors must be 0.
"""

from __future__ import annotations

import argparse
import glob
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
NOT_A_VIDEO = b"this is a text file, not a video\n" * 20


def start_service(args: argparse.Namespace) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "serve.py"), "--run", args.run, "--port", str(args.port), *args.serve]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"serve.py ended before answering:\n{process.stderr.read()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{args.port}/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("serve.py did not answer /health within 300 s")


def send(url: str, name: str, data: bytes) -> tuple[int, float, int]:
    """Status, seconds and the batch size reported (0 for none) of one request."""
    started = time.perf_counter()
    try:
        response = httpx.post(f"{url}/translate", files={"video": (name, data)}, timeout=300)
    except httpx.TransportError:
        return -1, time.perf_counter() - started, 0
    batch = response.json().get("batch_size", 0) if response.status_code == 200 else 0
    return response.status_code, time.perf_counter() - started, batch


def load(url: str, videos: list[Path], clients: int, args: argparse.Namespace) -> str:
    """One load level: the row of figures."""
    uploads = []
    for i in range(args.requests):
        bad = args.bad_every and (i + 1) % args.bad_every == 0
        path = videos[i % len(videos)]
        uploads.append(("notes.mp4", NOT_A_VIDEO, True) if bad else (path.name, path.read_bytes(), False))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        answers = list(pool.map(lambda upload: send(url, upload[0], upload[1]), uploads))
    seconds = time.perf_counter() - started
    good = [
        (status, took, batch) for (status, took, batch), upload in zip(answers, uploads, strict=True) if not upload[2]
    ]
    bad = [status for (status, _, _), upload in zip(answers, uploads, strict=True) if upload[2]]
    errors = sum(status != 200 for status, _, _ in good) + sum(not 400 <= status < 500 for status in bad)
    latencies = sorted(took for _, took, _ in good)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    batches = statistics.mean(batch for _, _, batch in good)
    return (
        f"{clients:>8}{len(answers) / seconds:>12.2f}{statistics.median(latencies):>10.2f}{p95:>10.2f}"
        f"{batches:>12.2f}{f'{sum(400 <= s < 500 for s in bad)}/{len(bad)}':>12}{errors:>8}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a trained S2T run directory")
    parser.add_argument("--videos", default=str(ROOT / "data" / "synthetic" / "video" / "test" / "*.mp4"))
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--requests", type=int, default=40, help="per load level")
    parser.add_argument("--bad-every", type=int, default=5, help="every n-th request is not a video (0: none)")
    parser.add_argument("--port", type=int, default=8311)
    parser.add_argument("serve", nargs=argparse.REMAINDER, help="after --: more serve.py arguments")
    args = parser.parse_args(argv)
    args.serve = [a for a in args.serve if a != "--"]
    videos = [Path(p) for p in sorted(glob.glob(args.videos))]
    if not videos:
        parser.error(f"--videos {args.videos}: no file matches")
    process = start_service(args)
    url = f"http://127.0.0.1:{args.port}"
    try:
        health = httpx.get(f"{url}/health").json()
        print(f"service load | {health['model']} on {health['device']} ({health['precision']}) | {len(videos)} videos")
        status, took, _ = send(url, videos[0].name, videos[0].read_bytes())
        warm_up = f"after a {health['warm_up_seconds']} s warm-up" if "warm_up_seconds" in health else "no warm-up"
        print(f"first request: {took:.2f} s, status {status} ({warm_up})")
        columns = [("clients", 8), ("requests/s", 12), ("p50 s", 10), ("p95 s", 10), ("mean batch", 12)]
        print("".join(f"{name:>{width}}" for name, width in [*columns, ("bad -> 4xx", 12), ("errors", 8)]))
        for clients in args.clients:
            print(load(url, videos, clients, args), flush=True)
        alive = httpx.get(f"{url}/health").json()["status"] == "ok"
        print(f"still answering after the load: {alive}")
    finally:
        process.terminate()
        process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
