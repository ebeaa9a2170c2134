"""Benchmark: next-item recommendation, ours vs popularity vs implicit ALS, on two data sets.

``rtr``: RentTheRunway rentals (``rtr-fit/renttherunway.parquet``), one interaction per review,
in review-date order. Customers with >= 3 rentals: the last rental is held out (leave-last-out);
everything else is training history for every method. Ours replays the history in time order
through the online API and is asked at the moment of each held-out rental (it sees only earlier
events, and its popularity is "trending": recent rentals weigh more); the baselines are fitted
on the whole history (including later rentals of other customers), as usual for this protocol.
Items have only a category, so our item embeddings are the documented cheap fallback: category
one-hot + an SVD of the item x customer matrix of the training history
(:func:`mmshop.recommend.interaction_embeddings`).

``simulated``: the fashion-small catalogue (``fashion-small/products.csv``) with the seeded
shopper simulator of :mod:`mmshop.recommend.simulator` (shoppers with latent colour / article
type / usage tastes; sessions of views and purchases), so the truth is known. Each shopper's
last session with a purchase is held out; the purchased item is the truth. Our item embeddings:
the engine's ``MultimodalPredictor.embed`` when ``--predictor DIR`` is given, else the
attribute + title TF-IDF fallback (:func:`mmshop.recommend.attribute_embeddings`).

For every method, items the customer already purchased / rented are not recommended again.
Metrics: HR@10 (the held-out item is in the top 10) and NDCG@10 (1 / log2(rank + 1)).
The few weights of ours (popularity, attribute weights) and of ALS (factors, regularisation)
are picked on a validation hold-out (the second-to-last item) from grids of similar size.
``--quick`` uses a fifth of the RentTheRunway customers, 400 simulated shoppers on 4,000
products, and one fixed setting per method (no validation sweep).

    python benchmarks/recommend.py            # full run
    python benchmarks/recommend.py --quick    # smoke run on a subset (< 3 min)
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_file, provenance, write_results
from mmshop.recommend import (
    Recommender,
    SimulatorConfig,
    attribute_embeddings,
    combine,
    interaction_embeddings,
    leave_last_session_out,
    simulate_shoppers,
)
from mmshop.recommend.items import ItemCatalogue

SEED = 0
K = 10
EVENT_CONFIDENCE = {"view": 1.0, "purchase": 4.0}


def hr_ndcg(ranked: Sequence[Sequence[str]], truth: Sequence[str]) -> dict[str, float]:
    hits, gains = [], []
    for items, target in zip(ranked, truth, strict=True):
        rank = list(items[:K]).index(target) + 1 if target in items[:K] else 0
        hits.append(1.0 if rank else 0.0)
        gains.append(1.0 / math.log2(rank + 1) if rank else 0.0)
    return {"hr@10": round(float(np.mean(hits)), 4), "ndcg@10": round(float(np.mean(gains)), 4)}


# ------------------------------------------------------------------ methods
def popularity_ranker(history: pd.DataFrame) -> Callable[[str, set[str]], list[str]]:
    weights = history["event_type"].map(EVENT_CONFIDENCE).fillna(1.0)
    counts = weights.groupby(history["item_id"]).sum().sort_values(ascending=False, kind="stable")
    top = counts.index.astype(str).tolist()[: K + 500]

    def rank(user: str, exclude: set[str]) -> list[str]:
        return [i for i in top if i not in exclude][:K]

    return rank


def als_ranker(
    history: pd.DataFrame, factors: int, regularization: float, threads: int
) -> Callable[[str, set[str]], list[str]]:
    from implicit.als import AlternatingLeastSquares

    users = {u: i for i, u in enumerate(history["user_id"].astype(str).unique())}
    items_list = history["item_id"].astype(str).unique().tolist()
    items = {it: i for i, it in enumerate(items_list)}
    conf = history["event_type"].map(EVENT_CONFIDENCE).fillna(1.0).to_numpy(dtype=np.float32)
    matrix = sparse.csr_matrix(
        (
            conf,
            (
                history["user_id"].astype(str).map(users).to_numpy(),
                history["item_id"].astype(str).map(items).to_numpy(),
            ),
        ),
        shape=(len(users), len(items)),
    )
    model = AlternatingLeastSquares(
        factors=factors,
        regularization=regularization,
        iterations=15,
        random_state=SEED,
        num_threads=threads,
    )
    model.fit(matrix, show_progress=False)
    fallback = popularity_ranker(history)

    def rank(user: str, exclude: set[str]) -> list[str]:
        row = users.get(user)
        if row is None:
            return fallback(user, exclude)
        ids, _ = model.recommend(
            row, matrix[row], N=K + len(exclude), filter_already_liked_items=False
        )
        return [items_list[i] for i in ids if items_list[i] not in exclude][:K]

    return rank


def ours_ranker(
    items: ItemCatalogue,
    history: pd.DataFrame,
    overrides: dict[str, Any],
    truth: pd.DataFrame | None = None,
) -> Callable[[str, set[str]], list[str]]:
    """Replay the history through the online API (profiles and popularity are built exactly as
    a live shop builds them). With time stamps (a ``pos`` column in history and truth), each
    customer is asked at the moment of their held-out event, seeing only earlier events (of
    everyone) - stricter than the baselines, which are fitted on the whole history."""
    rec = Recommender(items, overrides=overrides)
    asked: dict[str, list[str]] = {}
    timed = truth is not None and "pos" in truth.columns and "pos" in history.columns
    stream = history.assign(ask=False)
    if timed:
        assert truth is not None
        stream = pd.concat([stream, truth.assign(event_type="ask", ask=True)])
        stream = stream.sort_values("pos", kind="stable")
    for user, item, event, ask in stream[["user_id", "item_id", "event_type", "ask"]].itertuples(
        index=False
    ):
        if ask:
            asked[str(user)] = [r.item_id for r in rec.recommend(str(user), k=K)]
        else:
            rec.record_event(str(user), str(item), str(event))

    def rank(user: str, exclude: set[str]) -> list[str]:
        if timed:
            return asked[user]
        return [r.item_id for r in rec.recommend(user, k=K)]

    return rank


def evaluate(
    rank: Callable[[str, set[str]], list[str]], truth: pd.DataFrame, history: pd.DataFrame
) -> dict[str, float]:
    users = set(truth["user_id"].astype(str))
    mine = history[(history["event_type"] == "purchase") & history["user_id"].isin(users)]
    bought: dict[str, set[str]] = {}
    for user, item in zip(mine["user_id"].astype(str), mine["item_id"].astype(str), strict=True):
        bought.setdefault(user, set()).add(item)
    ranked = [rank(u, bought.get(u, set())) for u in truth["user_id"].astype(str)]
    return hr_ndcg(ranked, truth["item_id"].astype(str).tolist())


def holdout_last(events: pd.DataFrame, min_items: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per customer with >= min_items events, the last is the truth; the rest is history."""
    counts = events.groupby("user_id")["item_id"].transform("size")
    is_last = events.groupby("user_id").cumcount(ascending=False) == 0
    held = is_last & (counts >= min_items)
    keep = [c for c in ("user_id", "item_id", "pos") if c in events.columns]
    return events[~held].reset_index(drop=True), events[held][keep].reset_index(drop=True)


def compare(
    name: str,
    items: ItemCatalogue,
    history: pd.DataFrame,
    truth: pd.DataFrame,
    ours_grid: list[dict[str, Any]],
    als_grid: list[tuple[int, float]],
    threads: int,
    split: Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]],
) -> dict[str, Any]:
    """Pick each method's settings on a validation hold-out, then score on the test truth.

    The validation hold-out applies ``split`` once more to the history (so it never sees the
    test items), scored on up to 1500 of the test customers."""
    val_history, val_truth = split(history)
    val_truth = val_truth[val_truth["user_id"].isin(set(truth["user_id"]))]
    val_truth = val_truth.iloc[: min(len(val_truth), 1500)]

    best_ours, best_score = ours_grid[0], -1.0
    for overrides in ours_grid if len(ours_grid) > 1 else []:
        score = evaluate(
            ours_ranker(items, val_history, overrides, val_truth), val_truth, val_history
        )
        print(name, "val ours", overrides, score, flush=True)
        if score["ndcg@10"] > best_score:
            best_ours, best_score = overrides, score["ndcg@10"]
    best_als, best_score = als_grid[0], -1.0
    for factors, reg in als_grid if len(als_grid) > 1 else []:
        score = evaluate(als_ranker(val_history, factors, reg, threads), val_truth, val_history)
        print(name, "val als", (factors, reg), score, flush=True)
        if score["ndcg@10"] > best_score:
            best_als, best_score = (factors, reg), score["ndcg@10"]

    out: dict[str, Any] = {}
    start = time.perf_counter()
    out["ours"] = evaluate(ours_ranker(items, history, best_ours, truth), truth, history)
    out["ours"]["settings"] = best_ours
    out["ours"]["seconds"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    out["als"] = evaluate(als_ranker(history, *best_als, threads), truth, history)
    out["als"]["settings"] = {"factors": best_als[0], "regularization": best_als[1]}
    out["als"]["seconds"] = round(time.perf_counter() - start, 1)
    out["popularity"] = evaluate(popularity_ranker(history), truth, history)
    out["rows"] = {"history": len(history), "test_users": len(truth), "items": len(items)}
    print(name, out, flush=True)
    return out


# --------------------------------------------------------------- data sets
def rtr(quick: bool, threads: int) -> dict[str, Any]:
    path = data_file("rtr-fit/renttherunway.parquet")
    df = pd.read_parquet(path, columns=["user_id", "item_id", "category", "review_date"])
    df = df.sort_values("review_date", kind="stable").reset_index(drop=True)
    events = pd.DataFrame(
        {
            "user_id": df["user_id"].astype(str),
            "item_id": df["item_id"].astype(str),
            "event_type": "purchase",
            "pos": np.arange(len(df)),
        }
    )
    if quick:  # a fifth of the customers, with all their rentals
        users = events["user_id"].unique()
        keep = np.random.default_rng(SEED).choice(users, size=len(users) // 5, replace=False)
        events = events[events["user_id"].isin(set(keep))].reset_index(drop=True)
    history, truth = holdout_last(events, 3)
    catalogue = df.drop_duplicates("item_id", keep="last")[["item_id", "category"]]
    catalogue = catalogue.assign(item_id=catalogue["item_id"].astype(str))
    base = attribute_embeddings(
        catalogue, id_column="item_id", columns=["category"], text_column=None
    )
    cf = interaction_embeddings(base.ids, history, dim=64, seed=SEED)
    items = combine(base, cf, weight=2.0)
    common = {"attribute_columns": ["category"], "exclude": ["purchase"]}
    # "trending" popularity: half-lives as a share of the history's events
    grid = [
        {**common, "popularity": p, "attributes": 0.0, "popularity_half_life": f * len(history)}
        for p in (1.0, 3.0)
        for f in (0.02, 0.1)
    ]
    als_grid = [(32, 0.01), (64, 0.05), (128, 0.1)]
    if quick:
        grid, als_grid = grid[3:4], als_grid[1:2]
    return compare(
        "rtr", items, history, truth, grid, als_grid, threads, lambda h: holdout_last(h, 3)
    )


def simulated(quick: bool, threads: int, predictor: str | None) -> dict[str, Any]:
    path = data_file("fashion-small/products.csv")
    products = pd.read_csv(path)
    products["id"] = products["id"].astype(str)
    if quick:
        products = products.sample(n=4000, random_state=SEED).reset_index(drop=True)
    config = SimulatorConfig(shoppers=400 if quick else 3000, seed=SEED)
    events = simulate_shoppers(products, config)
    history, truth = leave_last_session_out(events)
    columns = ["masterCategory", "subCategory", "articleType", "baseColour", "usage"]
    attrs = products[["id", *columns, "productDisplayName"]]
    if predictor:
        from mmshop.predictor import MultimodalPredictor
        from mmshop.recommend import from_predictor

        model = MultimodalPredictor.load(predictor)
        items = from_predictor(model, products, attributes=attrs.drop(columns=["id"]))
    else:
        items = attribute_embeddings(attrs, id_column="id", columns=columns)
    common = {"exclude": ["purchase"]}
    grid = [{**common, "popularity": p, "attributes": a} for p in (0.5, 1.0) for a in (1.0, 2.0)]
    als_grid = [(32, 0.01), (64, 0.05), (128, 0.1)]
    if quick:
        grid, als_grid = grid[2:3], als_grid[1:2]
    out = compare(
        "simulated", items, history, truth, grid, als_grid, threads, leave_last_session_out
    )
    out["simulator"] = {**config.__dict__, "events": len(events), "embeddings": items.source}
    return out


def markdown(res: dict[str, Any]) -> str:
    lines = [
        "# Next-item recommendation: ours vs popularity vs implicit ALS",
        "",
        f"Quick smoke run: {res['quick']}. Target: beat both baselines on both data sets.",
        "",
        "| data | method | HR@10 | NDCG@10 | settings |",
        "|---|---|---|---|---|",
    ]
    for data in ("rtr", "simulated"):
        for method in ("ours", "als", "popularity"):
            r = res[data][method]
            lines.append(
                f"| {data} | {method} | {r['hr@10']} | {r['ndcg@10']} | {r.get('settings', '')} |"
            )
    for data in ("rtr", "simulated"):
        lines.append(f"\n{data}: {res[data]['rows']}")
    source = res["simulated"].get("simulator", {}).get("embeddings")
    lines.append(
        f"\nsimulated item embeddings (ours): {source}"
        + (f" (`--predictor {res['predictor']}`)" if res.get("predictor") else "")
    )
    lines += ["", "Provenance:", "", "```", *(f"{k}: {v}" for k, v in res["provenance"].items())]
    lines.append("```")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="subset smoke run (not for results)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--predictor", help="saved MultimodalPredictor for fashion-small embeddings")
    ap.add_argument("--name", default="recommend")
    args = ap.parse_args()
    start = time.perf_counter()
    res: dict[str, Any] = {"quick": args.quick}
    res["rtr"] = rtr(args.quick, args.threads)
    res["predictor"] = args.predictor
    res["simulated"] = simulated(args.quick, args.threads, args.predictor)
    res["minutes"] = round((time.perf_counter() - start) / 60, 2)
    res["provenance"] = provenance(data_file("rtr-fit/renttherunway.parquet"))
    res["provenance"]["catalogue_sha256_16"] = provenance(data_file("fashion-small/products.csv"))[
        "data_sha256_16"
    ]
    write_results(args.name + ("_quick" if args.quick else ""), res, markdown(res))


if __name__ == "__main__":
    main()
