"""Helpers shared by the benchmark scripts: data location, provenance, result files."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MMSHOP_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "benchmarks" / "results"


def data_file(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        sys.exit(f"benchmark data not found: {path} (set MMSHOP_SHARED_DATA to the data folder)")
    return path


def provenance(data_path: Path) -> dict[str, Any]:
    """Versions of every input: data hash, package versions, git commit, machine."""
    import numpy
    import sklearn
    import torch

    import mmshop

    digest = hashlib.sha256(data_path.read_bytes()).hexdigest()[:16]
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = "?"
    return {
        "data": str(data_path.relative_to(SHARED.parent))
        if SHARED.parent in data_path.parents
        else str(data_path),
        "data_sha256_16": digest,
        "mmshop": mmshop.__version__,
        "git_commit": commit or "?",
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit_learn": sklearn.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def write_results(name: str, data: dict[str, Any], markdown: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown.rstrip() + "\n")
    print(f"wrote {RESULTS / name}.md and .json")
