"""Benchmark: `mmshop serve` under load on loopback, over the fashion-small catalogue.

The server (`mmshop serve`, one uvicorn process) holds the whole 39,667-product catalogue; this
script is the load generator, in a separate process: ``--clients`` concurrent clients (asyncio +
aiohttp, one request in flight each: the load is bounded) for ``--duration`` seconds, a mix of
text search (queries: product titles), image search (product photos uploaded as bytes),
similar items and feedback posts. Reported: requests, errors (non-2xx or transport failures),
throughput, p50 / p99 latency per route, and lost events = feedback acknowledged by the server
minus events found in its SQLite file afterwards. The same load is then put on a fresh server
with search batching off (``max_batch=1``, the design before batching) for the ratio.

The search model only has to exist: without ``--model`` a small one is aligned here quickly
(few epochs on a slice of the train split), so the numbers say nothing about search quality.
On a 2-core machine the load generator and the server share the CPU.

    python benchmarks/load_serve.py --model models/search   # full: 32 clients x 60 s
    python benchmarks/load_serve.py                          # full, aligning its own model
    python benchmarks/load_serve.py --quick                  # smoke run: small catalogue, 10 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from common import ROOT, data_file, provenance, write_results

ROUTES = ("text_search", "image_search", "similar", "feedback")
MIX = {"text_search": 0.5, "image_search": 0.15, "similar": 0.2, "feedback": 0.15}
API_KEY = "load-bench-key-0123456789"


def quick_catalog(csv: Path, work: Path, n: int, seed: int = 0) -> Path:
    """A stratified subset with its photos copied beside it (images must sit under the csv)."""
    df = pd.read_csv(csv, dtype=str)
    sub = df.sample(n=min(n, len(df)), random_state=seed).sort_values("id")
    out = work / "catalog"
    (out / "images").mkdir(parents=True, exist_ok=True)
    for rel in sub["image"]:
        src = csv.parent / rel
        if src.is_file():
            shutil.copyfile(src, out / rel)
    sub.to_csv(out / "products.csv", index=False)
    return out / "products.csv"


def align_small(csv: Path, out: Path, epochs: int, train_rows: int) -> dict[str, Any]:
    """A quickly aligned search model (quality irrelevant for a load test)."""
    from mmshop.data import Catalog
    from mmshop.search import SearchEncoder

    cat = Catalog.open(csv, strict=False, check_images=False)
    train = cat.split("train")
    if len(train) > train_rows:
        rng = np.random.default_rng(0)
        train = train.subset(np.sort(rng.choice(len(train), train_rows, replace=False)))
    t0 = time.perf_counter()
    enc = SearchEncoder.fit(
        train,
        cat.split("val"),
        overrides={"trainer.epochs": epochs, "trainer.progress": False,
                   "cache_dir": str(out.parent / "cache")},
        work_dir=out.parent / "search.work",
        progress=False,
    )  # fmt: skip
    enc.save(out)
    return {"epochs": epochs, "train_rows": len(train), "seconds": time.perf_counter() - t0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    args: argparse.Namespace, model: Path, index: Path, csv: Path, db: Path, max_batch: int
):
    port = free_port()
    exe = Path(sys.executable).with_name("mmshop")
    cmd = [
        str(exe), "serve", "--model", str(model), "--index", str(index), "--catalog", str(csv),
        "--db", str(db), "--port", str(port), "--api-key", API_KEY, "--set", "tagger=null",
        "--set", f"worker_threads={args.server_threads}", "--set", f"max_batch={max_batch}",
    ]  # fmt: skip
    log = open(db.with_suffix(".log"), "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: subprocess.Popen, url: str, timeout: float = 600) -> float:
    import urllib.error
    import urllib.request

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            sys.exit("the server exited during start-up; see its log in the work folder")
        try:
            with urllib.request.urlopen(url + "/v1/health", timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - t0
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    proc.terminate()
    sys.exit(f"the server did not start within {timeout} s")


class Load:
    """Request payloads drawn from the catalogue."""

    def __init__(self, csv: Path, seed: int) -> None:
        df = pd.read_csv(csv, dtype=str)
        self.rng = random.Random(seed)
        self.ids = df["id"].tolist()
        titles = df["productDisplayName"].dropna()
        self.queries = [t[:200] for t in titles.tolist() if t.strip()]
        paths = [csv.parent / p for p in df["image"].dropna().tolist()[:5000]]
        picks = self.rng.sample(paths, min(200, len(paths)))
        self.photos = [p.read_bytes() for p in picks if p.is_file()]

    def request(self, route: str) -> tuple[str, str, dict[str, Any]]:
        r = self.rng
        if route == "text_search":
            return "GET", "/v1/search", {"params": {"q": r.choice(self.queries), "k": 24}}
        if route == "image_search":
            files = {"image": ("q.jpg", r.choice(self.photos), "image/jpeg")}
            return "POST", "/v1/search/image", {"files": files, "data": {"k": "24"}}
        if route == "similar":
            return "GET", f"/v1/products/{r.choice(self.ids)}/similar", {"params": {"k": 12}}
        event = {
            "user_id": f"bench-{r.randrange(1000)}",
            "product_id": r.choice(self.ids),
            "event_type": r.choice(["view", "click", "add_to_cart", "thumbs_up"]),
        }
        return "POST", "/v1/events", {"json": event, "headers": {"X-API-Key": API_KEY}}


async def _send(http: Any, method: str, path: str, kw: dict[str, Any]) -> tuple[int, bytes]:
    """One request with aiohttp (``Load.request`` payloads: params, json, files + data)."""
    import aiohttp

    if "files" in kw:
        form = aiohttp.FormData()
        for field, (filename, data, ctype) in kw["files"].items():
            form.add_field(field, data, filename=filename, content_type=ctype)
        for key, value in kw.get("data", {}).items():
            form.add_field(key, value)
        kw = {"data": form}
    async with http.request(method, path, **kw) as resp:
        return resp.status, await resp.read()


async def run_load(url: str, load: Load, clients: int, duration: float) -> dict[str, Any]:
    """``clients`` coroutines, one request in flight each, for ``duration`` seconds.

    aiohttp, not httpx: on this machine the generator shares the two cores with the server, and
    httpx spent ~10 ms of CPU per request (half the machine at 100 req/s) vs ~1 ms for aiohttp.
    """
    import aiohttp

    latencies: dict[str, list[float]] = {r: [] for r in ROUTES}
    errors: dict[str, int] = dict.fromkeys(ROUTES, 0)
    error_samples: list[str] = []
    acknowledged = 0
    routes, weights = list(MIX), list(MIX.values())
    connector = aiohttp.TCPConnector(limit=clients)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as http:
        for route in ROUTES:  # warm-up, not timed (its feedback event counts as acknowledged)
            status, body = await _send(http, *load.request(route))
            if route == "feedback" and status == 201:
                acknowledged += int(json.loads(body)["stored"])
        stop = time.perf_counter() + duration

        async def client() -> None:
            nonlocal acknowledged
            while time.perf_counter() < stop:
                route = load.rng.choices(routes, weights)[0]
                method, path, kw = load.request(route)
                t0 = time.perf_counter()
                try:
                    status, body = await _send(http, method, path, kw)
                    ok = 200 <= status < 300
                    if ok and route == "feedback":
                        acknowledged += int(json.loads(body)["stored"])
                    if not ok and len(error_samples) < 5:
                        error_samples.append(f"{route}: {status} {body[:200]!r}")
                except (aiohttp.ClientError, TimeoutError) as exc:
                    ok = False
                    if len(error_samples) < 5:
                        error_samples.append(f"{route}: {type(exc).__name__} {exc}")
                latencies[route].append((time.perf_counter() - t0) * 1000)
                errors[route] += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "latencies": latencies,
        "errors": errors,
        "acknowledged": acknowledged,
        "elapsed": elapsed,
        "error_samples": error_samples,
    }


def stored_events(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def markdown(res: dict[str, Any]) -> str:
    cfg = res["config"]
    lines = [
        "# `mmshop serve` under load"
        + (" (QUICK smoke run, not a result)" if cfg["quick"] else ""),
        "",
        f"{cfg['products']:,} products in the server (flat FAISS index, "
        f"{cfg['index_embedding']} embeddings); {cfg['clients']} concurrent clients for "
        f"{cfg['duration_s']} s on loopback; mix {cfg['mix']}; load generator in a separate "
        "process on the same machine (it shares the CPU with the server).",
        "",
        f"Search model: {res['model']['source']}. "
        + (
            "Aligned here in a few epochs only to have one: the numbers say nothing about "
            "search quality."
            if res["model"]["source"] == "aligned here"
            else ""
        ),
        "",
        f"**{res['requests']:,} requests, {res['rps']:.1f} req/s, {res['errors']} errors, "
        f"{res['lost_events']} lost events** ({res['events_acknowledged']} feedback events "
        f"acknowledged, {res['events_stored']} found in the SQLite file).",
        "",
        "| route | requests | errors | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for route in ROUTES:
        lines.append(
            f"| {route} | {res['per_route'][route]['requests']} | "
            f"{res['per_route'][route]['errors']} | {res['p50_ms'][route]:.1f} | "
            f"{res['p99_ms'][route]:.1f} |"
        )
    target = res["p99_ms"]["text_search"]
    lines += [
        "",
        f"Targets: zero errors ({'met' if res['errors'] == 0 else 'MISSED'}), zero lost events "
        f"({'met' if res['lost_events'] == 0 else 'MISSED'}), p99 of text search < 150 ms "
        f"({'met' if target < 150 else 'MISSED'}: {target:.1f} ms).",
        "",
        f"Server start-up (load models, catalogue into the store): {res['startup_s']:.1f} s. "
        f"Server worker threads: {cfg['server_threads']}; one torch / FAISS thread per query; "
        f"unfiltered text and similar-item searches batched (max_batch={cfg['max_batch']}).",
    ]
    if "unbatched" in res:
        base = res["unbatched"]
        lines += [
            "",
            "Same load against the same server with batching off (`max_batch=1`, the previous "
            f"design), run right after: {base['requests']:,} requests, {base['rps']:.1f} req/s, "
            f"{base['errors']} errors, {base['lost_events']} lost events; text search p50 "
            f"{base['p50_ms']['text_search']:.1f} ms / p99 {base['p99_ms']['text_search']:.1f} ms."
            f" Throughput with batching: **{res['rps_vs_unbatched']:.2f}x**.",
        ]
    if res["error_samples"]:
        lines += ["", "First errors:", "", *[f"- `{e}`" for e in res["error_samples"]]]
    lines += ["", "```", *[f"{k}: {v}" for k, v in res["provenance"].items()], "```"]
    return "\n".join(lines)


def serve_and_load(
    args: argparse.Namespace, model: Path, index: Path, csv: Path, work: Path, max_batch: int
) -> dict[str, Any]:
    """Start a fresh server (empty store), put the load on it, count what it stored."""
    db = work / "serve.db"
    for stale in work.glob("serve.db*"):
        stale.unlink()
    proc, url = start_server(args, model, index, csv, db, max_batch)
    try:
        startup = wait_ready(proc, url)
        print(f"server up in {startup:.1f} s; {args.clients} clients x {args.duration} s ...")
        load = Load(csv, args.seed)
        raw = asyncio.run(run_load(url, load, args.clients, args.duration))
        time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    stored = stored_events(db)
    lat = raw["latencies"]
    requests = sum(len(v) for v in lat.values())
    return {
        "requests": requests,
        "errors": sum(raw["errors"].values()),
        "lost_events": raw["acknowledged"] - stored,
        "rps": requests / raw["elapsed"],
        "p50_ms": {r: float(np.percentile(v, 50)) if v else float("nan") for r, v in lat.items()},
        "p99_ms": {r: float(np.percentile(v, 99)) if v else float("nan") for r, v in lat.items()},
        "per_route": {r: {"requests": len(lat[r]), "errors": raw["errors"][r]} for r in ROUTES},
        "events_acknowledged": raw["acknowledged"],
        "events_stored": stored,
        "startup_s": startup,
        "error_samples": raw["error_samples"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, help="an aligned search model (default: align one)")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--epochs", type=int, default=2, help="epochs when aligning a model here")
    ap.add_argument("--train-rows", type=int, default=6000, help="train rows when aligning")
    ap.add_argument("--server-threads", type=int, default=4, help="server worker threads")
    ap.add_argument("--work", type=Path, default=ROOT / "runs" / "load_serve")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1,000 products, 10 s")
    ap.add_argument("--max-batch", type=int, default=32, help="server max_batch (batching)")
    ap.add_argument(
        "--no-baseline", action="store_true", help="skip the unbatched (max_batch=1) run"
    )
    ap.add_argument("--name", default="load_serve")
    args = ap.parse_args()
    if args.quick:
        args.duration = min(args.duration, 10.0)
        args.epochs, args.train_rows = 1, 800

    from mmshop.search import build_index

    source = data_file("fashion-small/products.csv")
    work = args.work / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    csv = quick_catalog(source, work, 1000, args.seed) if args.quick else source
    model_info: dict[str, Any]
    if args.model:
        model = args.model
        model_info = {"source": f"given ({model})"}
    else:
        model = work / "search"
        print(f"aligning a small search model ({args.epochs} epochs) ...", flush=True)
        model_info = {"source": "aligned here", **align_small(csv, model, args.epochs,
                                                              args.train_rows)}  # fmt: skip
    index = work / "index"
    from mmshop.data import Catalog

    print("indexing the catalogue ...", flush=True)
    t0 = time.perf_counter()
    cat = Catalog.open(csv, strict=False)
    build_index(model, cat, index, cache_dir=work / "cache", progress=False)
    model_info["index_seconds"] = round(time.perf_counter() - t0, 1)

    runs = {}
    for label, max_batch in (("batched", args.max_batch), ("unbatched", 1)):
        if label == "unbatched" and args.no_baseline:
            continue
        print(f"--- {label} server (max_batch={max_batch})", flush=True)
        runs[label] = serve_and_load(args, model, index, csv, work, max_batch)
    res: dict[str, Any] = {
        **runs["batched"],
        "model": model_info,
        "config": {
            "quick": args.quick,
            "products": len(cat),
            "clients": args.clients,
            "duration_s": args.duration,
            "mix": MIX,
            "index_embedding": "image",
            "server_threads": args.server_threads,
            "max_batch": args.max_batch,
        },
        "provenance": provenance(source),
    }
    if "unbatched" in runs:
        base = runs["unbatched"]
        res["unbatched"] = {k: base[k] for k in ("requests", "errors", "lost_events", "rps",
                                                 "p50_ms", "p99_ms")}  # fmt: skip
        res["rps_vs_unbatched"] = res["rps"] / base["rps"]
    write_results(args.name + ("_quick" if args.quick else ""), res, markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
