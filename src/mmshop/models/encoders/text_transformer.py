"""A small Transformer text encoder over ids from the catalogue-trained tokenizer."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from mmshop.errors import ConfigError
from mmshop.models.spec import InputSpec
from mmshop.registry import ENCODERS


@ENCODERS.register("transformer")
class CompactTextTransformer(nn.Module):
    """Token + position embeddings, a few pre-norm Transformer layers, masked mean pooling."""

    modality = "text"

    def __init__(
        self,
        spec: InputSpec,
        dim: int = 128,
        layers: int = 2,
        heads: int = 4,
        ff_mult: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if spec.vocab_size is None or spec.max_length is None:
            raise ConfigError("text encoder needs a text column (vocab_size/max_length unset)")
        if dim % heads:
            raise ConfigError(f"text encoder dim ({dim}) must be divisible by heads ({heads})")
        self.tokens = nn.Embedding(spec.vocab_size, dim, padding_idx=0)
        self.positions = nn.Parameter(torch.zeros(1, spec.max_length, dim))
        nn.init.normal_(self.positions, std=0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, dim * ff_mult, dropout, batch_first=True, norm_first=True, activation="gelu"
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.output_dim = dim

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        ids = batch["text"]
        # drop trailing columns that are padding in every row: same result, less work
        used = ids.ne(0).any(dim=0).nonzero()
        if len(used) and int(used[-1]) + 1 < ids.shape[1]:
            ids = ids[:, : int(used[-1]) + 1]
        pad = ids.eq(0)
        # a row with no tokens would make attention NaN: let it attend to position 0 (masked
        # out again by the model when the row's text is marked missing)
        pad[:, 0] &= ~pad.all(dim=1)
        x = self.tokens(ids) + self.positions[:, : ids.shape[1]]
        x = self.norm(self.encoder(x, src_key_padding_mask=pad))
        keep = (~pad).unsqueeze(-1).to(x.dtype)
        return (x * keep).sum(1) / keep.sum(1).clamp(min=1.0)
