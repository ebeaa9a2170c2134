"""Validation issues, the report that collects them, and the per-image check."""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from mmshop.utils.io import atomic_write_text

ERROR = "error"
WARNING = "warning"

# Short issue codes; ``counts_by_reason`` groups by these.
IMAGE_MISSING = "image missing"
IMAGE_NOT_FOUND = "image not found"
IMAGE_OUTSIDE_ROOT = "image outside root"
IMAGE_URL = "image is a URL"
NOT_AN_IMAGE = "not an image"
IMAGE_TRUNCATED = "truncated image"
IMAGE_TOO_LARGE = "image too large"
EMPTY_TEXT = "empty text"
DUPLICATE_ID = "duplicate id"
MISSING_ID = "missing id"
WRONG_TYPE = "wrong type"
MISSING_LABEL = "missing label"
BAD_SPLIT = "bad split"

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass
class Issue:
    """One problem found in one row: ``error`` quarantines the row, ``warning`` blanks the field."""

    row_id: str
    column: str | None
    reason: str
    severity: str = ERROR
    code: str = ""

    def __post_init__(self) -> None:
        if self.severity not in (ERROR, WARNING):
            raise ValueError(f"severity must be 'error' or 'warning', got {self.severity!r}")
        if not self.code:
            self.code = self.reason


class ValidationReport:
    """Everything validation found: issues, how many rows were read and how many were kept."""

    def __init__(
        self, issues: Iterable[Issue] = (), n_rows: int = 0, n_kept: int | None = None
    ) -> None:
        self.issues: list[Issue] = list(issues)
        self.n_rows = n_rows
        self.n_kept = n_rows if n_kept is None else n_kept

    def add(
        self,
        row_id: str,
        column: str | None,
        reason: str,
        severity: str = ERROR,
        code: str = "",
    ) -> Issue:
        """Record one issue and return it."""
        issue = Issue(str(row_id), column, reason, severity, code)
        self.issues.append(issue)
        return issue

    def extend(self, other: ValidationReport | Iterable[Issue]) -> None:
        """Append the issues of another report (or any iterable of issues)."""
        items = other.issues if isinstance(other, ValidationReport) else other
        self.issues.extend(items)

    def copy(self) -> ValidationReport:
        return ValidationReport(list(self.issues), self.n_rows, self.n_kept)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == WARNING]

    @property
    def n_quarantined(self) -> int:
        return self.n_rows - self.n_kept

    def quarantined_ids(self) -> list[str]:
        """Ids of quarantined rows, first-seen order, each once."""
        return list(dict.fromkeys(i.row_id for i in self.errors))

    def counts_by_reason(self) -> dict[str, int]:
        """Number of issues per short reason code, most frequent first."""
        return dict(Counter(i.code for i in self.issues).most_common())

    def summary(self) -> str:
        """One human-readable paragraph."""
        text = f"Checked {self.n_rows} row(s): kept {self.n_kept}, quarantined {self.n_quarantined}"
        errors = Counter(i.code for i in self.errors).most_common()
        if errors:
            text += " (" + ", ".join(f"{n} {code}" for code, n in errors) + ")"
        warns = Counter(i.code for i in self.warnings).most_common()
        if warns:
            parts = ", ".join(f"{n} {code}" for code, n in warns)
            text += f"; {len(self.warnings)} field(s) blanked with a warning ({parts})"
        if not self.issues:
            text += "; no problems found"
        return text + "."

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "n_kept": self.n_kept,
            "n_quarantined": self.n_quarantined,
            "counts_by_reason": self.counts_by_reason(),
            "quarantined_ids": self.quarantined_ids(),
            "summary": self.summary(),
            "issues": [asdict(i) for i in self.issues],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        issues = [Issue(**item) for item in data.get("issues", [])]
        return cls(issues, int(data.get("n_rows", 0)), int(data.get("n_kept", 0)))

    def write(self, path: str | Path) -> None:
        """Write the report as JSON at ``path`` and the issues as CSV beside it (same stem)."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False))
        atomic_write_text(self.csv_path(path), self.to_csv())

    @staticmethod
    def csv_path(path: str | Path) -> Path:
        """Where :meth:`write` puts the CSV for a report written at ``path``."""
        path = Path(path)
        out = path.with_suffix(".csv")
        return out if out != path else path.with_name(path.stem + ".issues.csv")

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["row_id", "column", "reason", "severity"])
        for i in self.issues:
            writer.writerow([i.row_id, i.column or "", i.reason, i.severity])
        return buf.getvalue()

    def __repr__(self) -> str:
        n_issues = len(self.issues)
        return f"ValidationReport(n_rows={self.n_rows}, n_kept={self.n_kept}, issues={n_issues})"


@dataclass
class ImageCheck:
    """Outcome of checking one image cell: a resolved path, or a code + reason it is unusable."""

    path: Path | None
    code: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.path is not None and not self.code


def resolve_image(value: str, root: Path) -> ImageCheck:
    """Resolve an image cell against ``root`` (already resolved), refusing escapes and URLs."""
    if _URL.match(value):
        return ImageCheck(None, IMAGE_URL, f"image '{value}' is a URL; download images first")
    candidate = Path(value)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:
        return ImageCheck(None, NOT_AN_IMAGE, f"image path '{value}' cannot be resolved: {exc}")
    if not resolved.is_relative_to(root):
        return ImageCheck(
            None, IMAGE_OUTSIDE_ROOT, f"image path '{value}' is outside the image folder {root}"
        )
    return ImageCheck(resolved)


def check_image(value: str, root: Path, max_pixels: int, open_file: bool = True) -> ImageCheck:
    """Check that ``value`` names a readable, complete, not-too-large image inside ``root``."""
    result = resolve_image(value, root)
    if not result.ok or not open_file:
        return result
    path = result.path
    assert path is not None
    if not path.is_file():
        return ImageCheck(None, IMAGE_NOT_FOUND, f"image file not found: {value}")
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > max_pixels:
                return _too_large(value, width, height, max_pixels)
            img.load()
    except Image.DecompressionBombError as exc:
        return ImageCheck(None, IMAGE_TOO_LARGE, f"image '{value}' is too large: {exc}")
    except UnidentifiedImageError:
        return ImageCheck(None, NOT_AN_IMAGE, f"'{value}' is not an image or is corrupt")
    except (OSError, SyntaxError, ValueError) as exc:
        return ImageCheck(None, IMAGE_TRUNCATED, f"image '{value}' is truncated or corrupt: {exc}")
    return result


def _too_large(value: str, width: int, height: int, max_pixels: int) -> ImageCheck:
    reason = (
        f"image '{value}' is {width}x{height} = {width * height} pixels, more than "
        f"max_image_pixels={max_pixels} (possible decompression bomb)"
    )
    return ImageCheck(None, IMAGE_TOO_LARGE, reason)


def check_images(
    values: Sequence[str],
    root: Path,
    max_pixels: int,
    open_files: bool = True,
    workers: int = 4,
    progress_threshold: int = 1000,
) -> list[ImageCheck]:
    """Check many image cells, in a small thread pool, with a progress bar for large batches."""
    job = functools.partial(check_image, root=root, max_pixels=max_pixels, open_file=open_files)
    if not open_files or len(values) < 64:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return [job(v) for v in values]
    from tqdm.auto import tqdm

    quiet = True if len(values) <= progress_threshold else None  # None: hide when not a TTY
    bar = tqdm(total=len(values), desc="checking images", unit="img", disable=quiet)
    results: list[ImageCheck] = []
    with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=workers) as pool:
        # Our own pixel limit applies; PIL's softer warning would only be noise here.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        for res in pool.map(job, values, chunksize=64):
            results.append(res)
            bar.update(1)
    bar.close()
    return results
