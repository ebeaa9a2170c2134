"""Screenshots of the shop page for the README: starts `mmshop serve` on the demo models
(``make demo`` first), searches in headless Debian Chromium and saves ``docs/img/serve.png``
(results, with the "Recommended for you" strip), ``docs/img/serve_product.png`` (a product
page) and ``docs/img/serve_fit.png`` (the fit advisor's answer on that product).

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


def search(page, query: str) -> None:
    page.fill("#q", query)
    page.press("#q", "Enter")
    page.wait_for_function(
        "q => document.querySelector('#summary').textContent.includes(q)", arg=query
    )


def fit_product(url: str, query: str) -> str:
    """The first search result for ``query`` that is clothing (the fit advisor's products)."""
    hits = httpx.get(f"{url}/v1/search", params={"q": query, "k": 50}).json()["results"]
    clothes = [h for h in hits if h["fields"].get("masterCategory", "Apparel") == "Apparel"]
    return (clothes or hits)[0]["id"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--query", default="black casual shoes")
    ap.add_argument("--out", type=Path, default=Path("docs/img/serve.png"))
    ap.add_argument("--product-out", type=Path, default=Path("docs/img/serve_product.png"))
    ap.add_argument("--fit-out", type=Path, default=Path("docs/img/serve_fit.png"))
    ap.add_argument("--body", default="170,62,30", help="height cm, weight kg, age")
    ap.add_argument("--history-query", default="white running shoes")
    ap.add_argument("--fit-query", default="navy blue tshirt")
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
            # browse a little first, so "Recommended for you" has a history to explain
            search(page, args.history_query)
            page.click("#grid .card >> nth=1")
            page.wait_for_selector("#product h1")
            page.click(".brand")
            search(page, args.query)
            page.wait_for_selector("#recs-strip .card")
            page.wait_for_load_state("networkidle")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            page.click("#grid .card >> nth=0")
            page.wait_for_selector("#similar .card")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(args.product_out))
            page.set_viewport_size({"width": 1280, "height": 1200})
            page.goto(f"{url}/#/product/{fit_product(url, args.fit_query)}")
            page.wait_for_selector("#product h1")
            if page.locator("#fit-form").count():
                body = args.body.split(",")
                for name, value in zip(("height", "weight", "age"), body, strict=True):
                    page.fill(f"#fit-{name}", value)
                page.click("#fit-form button[type=submit]")
                page.wait_for_selector("#fit-size")
                page.evaluate("() => window.scrollTo(0, 0)")
                page.locator("#product").screenshot(path=str(args.fit_out))
                print(f"saved {args.fit_out}")
            browser.close()
        print(f"saved {args.out} and {args.product_out}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
