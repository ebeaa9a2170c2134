"""The fit network: latent "true sizes" for customers and items plus learned embeddings.

In the spirit of Misra, Wan and McAuley (RecSys 2018): a customer has a latent true size
``t_c`` (a per-customer offset plus a linear read-out of the body encoding, so a new customer
still gets one from their body alone) and an item in a size has ``t_i`` (item offset + category
offset + a monotone function of the size label). The gap ``s = t_i - t_c`` drives an ordinal
(cumulative-logit) model over small < fit < large. A second path fuses the body encoding
(the engine's tabular MLP encoder), customer and item embeddings with an engine fusion and adds
a correction to the ordinal log-probabilities, so effects the 1-D gap cannot express are learned
too. Ids hidden by ``user_dropout`` / ``item_dropout`` train the cold-start rows (id 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Importing the modules registers the "mlp" encoder and the "concat" fusion.
from mmshop.models.encoders import tabular_mlp as _tabular_mlp  # noqa: F401
from mmshop.models.fusion import concat as _concat  # noqa: F401
from mmshop.models.spec import InputSpec
from mmshop.registry import ENCODERS, FUSIONS


class FitNet(nn.Module):
    """Batch (``user``, ``item``, ``tabular_cat``, ``tabular_num``, ``size``) -> fit logits.

    Output classes are ordered small, fit, large (see :data:`mmshop.fit.records.FIT_LABELS`).
    """

    def __init__(
        self,
        spec: InputSpec,
        n_users: int,
        n_items: int,
        dim: int = 16,
        body_dim: int = 32,
        dropout: float = 0.1,
        user_dropout: float = 0.0,
        item_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.user_dropout = float(user_dropout)
        self.item_dropout = float(item_dropout)
        self.body = ENCODERS.build("mlp", spec, dim=body_dim, dropout=dropout)
        self.user_embedding = nn.Embedding(n_users, dim)
        self.item_embedding = nn.Embedding(n_items, dim)
        nn.init.normal_(self.user_embedding.weight, std=0.01)
        nn.init.normal_(self.item_embedding.weight, std=0.01)
        # Latent true sizes (scalars).
        self.user_size = nn.Embedding(n_users, 1)
        self.item_size = nn.Embedding(n_items, 1)
        self.item_slope = nn.Embedding(n_items, 1)
        n_categories = spec.cardinalities[0] if spec.cardinalities else 1
        self.category_size = nn.Embedding(n_categories, 1)
        # How forgiving an item is: widens or narrows its "fit" band.
        self.item_spread = nn.Embedding(n_items, 1)
        self.category_spread = nn.Embedding(n_categories, 1)
        for emb in (
            self.user_size,
            self.item_size,
            self.item_slope,
            self.category_size,
            self.item_spread,
            self.category_spread,
        ):
            nn.init.zeros_(emb.weight)
        self.size_slope = nn.Parameter(torch.tensor(1.0))
        self.body_size = nn.Linear(body_dim, 1)
        self.threshold_low = nn.Parameter(torch.tensor(-1.5))
        self.threshold_gap = nn.Parameter(torch.tensor(1.5))
        # Fusion path.
        self.fusion = FUSIONS.build(
            "concat", {"body": body_dim, "customer": dim, "item": dim}, dim=body_dim
        )
        self.head = nn.Sequential(
            nn.Linear(self.fusion.output_dim + 2, body_dim), nn.GELU(), nn.Linear(body_dim, 3)
        )
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def _hide(self, ids: torch.Tensor, p: float) -> torch.Tensor:
        if not self.training or p <= 0:
            return ids
        return torch.where(torch.rand(ids.shape, device=ids.device) < p, 0, ids)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        user = self._hide(batch["user"].long(), self.user_dropout)
        item = self._hide(batch["item"].long(), self.item_dropout)
        size = batch["size"].float()
        body = self.body(batch)
        category = batch["tabular_cat"][:, 0] if batch["tabular_cat"].shape[1] else user * 0
        t_user = self.user_size(user).squeeze(1) + self.body_size(body).squeeze(1)
        slope = F.softplus(self.size_slope + self.item_slope(item).squeeze(1))
        t_item = (
            self.item_size(item).squeeze(1) + self.category_size(category).squeeze(1) + slope * size
        )
        gap = t_item - t_user
        spread = self.item_spread(item).squeeze(1) + self.category_spread(category).squeeze(1)
        width = F.softplus(self.threshold_gap + spread)
        low = self.threshold_low - width / 2
        high = self.threshold_low + width / 2
        p_small = torch.sigmoid(low - gap)
        p_upto_fit = torch.sigmoid(high - gap)
        probs = torch.stack([p_small, p_upto_fit - p_small, 1 - p_upto_fit], dim=1)
        ordinal = torch.log(probs.clamp(min=1e-6))
        features = {
            "body": body,
            "customer": self.user_embedding(user),
            "item": self.item_embedding(item),
        }
        fused = self.fusion(features)
        logits = ordinal + self.head(torch.cat([fused, size[:, None], gap[:, None]], dim=1))
        return {
            "logits": {"fit": logits},
            "embedding": fused,
            "features": features,
            "true_size": {"customer": t_user, "item": t_item},
        }
