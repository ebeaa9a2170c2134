"""Screenshot of the shop page for the README: starts `mmshop serve` on the demo models
(``make demo`` first), searches in headless Debian Chromium and saves ``docs/img/serve.png``.

    python scripts/screenshot_serve.py [--query "black casual shoes"] [--out docs/img/serve.png]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--query", default="black casual shoes")
    ap.add_argument("--out", type=Path, default=Path("docs/img/serve.png"))
    ap.add_argument("--product-out", type=Path, default=Path("docs/img/serve_product.png"))
    ap.add_argument("--serve-arg", action="append", default=[], help="extra `mmshop serve` args")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db = Path(tempfile.mkdtemp(prefix="mmshop-shot-")) / "serve.db"
    exe = Path(sys.executable).with_name("mmshop")
    cmd = [str(exe), "serve", "--port", str(port), "--db", str(db), *args.serve_arg]
    proc = subprocess.Popen(cmd)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                sys.exit("mmshop serve exited; run `make demo` first")
            try:
                if httpx.get(url + "/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                sys.exit("mmshop serve did not start within 120 s")
            time.sleep(0.5)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(url + "/")
            page.fill("#q", args.query)
            page.press("#q", "Enter")
            page.wait_for_function(
                "q => document.querySelector('#summary').textContent.includes(q)", arg=args.query
            )
            page.wait_for_load_state("networkidle")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            page.click("#grid .card >> nth=0")
            page.wait_for_selector("#similar .card")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(args.product_out))
            browser.close()
        print(f"saved {args.out} and {args.product_out}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
