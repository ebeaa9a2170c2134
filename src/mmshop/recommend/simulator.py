"""A seeded shopper simulator on a real catalogue, so recommendation quality can be measured
against a known truth.

Model (all draws from ``numpy.random.default_rng(seed)``):

- every item has a latent appeal ``a_i ~ Normal(0, appeal_sd)`` (some products are simply
  more popular);
- every shopper has tastes over the values of each attribute column (default ``baseColour``,
  ``articleType``, ``usage``): ``theta ~ Dirichlet(concentration)`` over the values, restricted
  to ``values_per_taste`` values drawn in proportion to how common they are, so a shopper likes
  a few colours, a few kinds of article and one or two usages;
- the utility of item ``i`` for shopper ``u`` is
  ``sum over columns of log(theta_u[value_i] + floor) + a_i``;
- a shopper makes ``sessions`` sessions; in each, ``views`` items are viewed, drawn without
  replacement with probability ``softmax(utility / temperature)``; with probability
  ``purchase_rate`` the viewed item with the highest utility plus Gumbel noise is purchased.

The events are returned in time order as a DataFrame ``user_id, item_id, event_type, session,
step``. :func:`leave_last_session_out` holds out each shopper's last session with a purchase:
the history is everything before it and the truth is the purchased item.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mmshop.errors import ConfigError, DataError


@dataclass
class SimulatorConfig:
    """Knobs of the shopper simulator (see the module docstring)."""

    shoppers: int = 2000
    sessions: tuple[int, int] = (3, 7)
    views: tuple[int, int] = (3, 8)
    purchase_rate: float = 0.7
    temperature: float = 1.0
    appeal_sd: float = 1.0
    concentration: float = 0.5
    values_per_taste: int = 3
    floor: float = 1e-3
    columns: list[str] = field(default_factory=lambda: ["baseColour", "articleType", "usage"])
    seed: int = 0

    def __post_init__(self) -> None:
        if self.shoppers < 1:
            raise ConfigError(f"shoppers must be >= 1, got {self.shoppers}")
        for name in ("sessions", "views"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi:
                raise ConfigError(f"{name} must be (low, high) with 1 <= low <= high")
        if not 0.0 < self.purchase_rate <= 1.0:
            raise ConfigError(f"purchase_rate must be in (0, 1], got {self.purchase_rate}")
        if self.temperature <= 0 or self.concentration <= 0 or self.values_per_taste < 1:
            raise ConfigError("temperature, concentration and values_per_taste must be > 0")


def simulate_shoppers(catalogue: pd.DataFrame, config: SimulatorConfig) -> pd.DataFrame:
    """Events of ``config.shoppers`` simulated shoppers on ``catalogue`` (needs an ``id``)."""
    missing = [c for c in ["id", *config.columns] if c not in catalogue.columns]
    if missing:
        raise DataError(f"simulator: catalogue lacks column(s) {missing}")
    rng = np.random.default_rng(config.seed)
    n = len(catalogue)
    appeal = rng.normal(0.0, config.appeal_sd, n)
    coded = []
    for col in config.columns:
        codes, uniques = pd.factorize(catalogue[col].astype(str), use_na_sentinel=False)
        freq = np.bincount(codes, minlength=len(uniques)).astype(np.float64)
        coded.append((codes, freq / freq.sum()))
    ids = catalogue["id"].astype(str).to_numpy()
    rows: list[tuple[str, str, str, int, int]] = []
    for u in range(config.shoppers):
        utility = appeal.copy()
        for codes, freq in coded:
            k = min(config.values_per_taste, len(freq))
            liked = rng.choice(len(freq), size=k, replace=False, p=freq)
            theta = np.zeros(len(freq))
            theta[liked] = rng.dirichlet(np.full(k, config.concentration))
            utility += np.log(theta[codes] + config.floor)
        logits = utility / config.temperature
        p = np.exp(logits - logits.max())
        p /= p.sum()
        user = f"s{u}"
        step = 0
        for session in range(int(rng.integers(config.sessions[0], config.sessions[1] + 1))):
            n_views = int(rng.integers(config.views[0], config.views[1] + 1))
            viewed = rng.choice(n, size=min(n_views, n), replace=False, p=p)
            for item in viewed:
                rows.append((user, ids[item], "view", session, step))
                step += 1
            if rng.random() < config.purchase_rate:
                noisy = utility[viewed] + rng.gumbel(size=len(viewed))
                bought = viewed[int(np.argmax(noisy))]
                rows.append((user, ids[bought], "purchase", session, step))
                step += 1
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "session", "step"])


def leave_last_session_out(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(history, truth)``: per shopper with a purchase after some history, the last session
    with a purchase is held out (``truth``: user_id, item_id); ``history`` is what came before.

    Shoppers without a purchase, or whose first session is the last one with a purchase, only
    contribute history.
    """
    buys = events[events["event_type"] == "purchase"]
    last = buys.groupby("user_id")["session"].max()
    session_of = events["user_id"].map(last)
    held = (events["session"] >= session_of) & session_of.notna()
    truth = buys[buys["session"] == buys["user_id"].map(last)]
    truth = truth[truth["session"] > 0].drop_duplicates("user_id", keep="last")
    history = events[~(events["user_id"].isin(truth["user_id"]) & held)]
    return history.reset_index(drop=True), truth[["user_id", "item_id"]].reset_index(drop=True)
