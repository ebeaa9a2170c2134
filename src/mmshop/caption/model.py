"""CaptionModel: the engine's CompactCNN as image encoder, a small Transformer decoder on top.

The CNN's last feature map (``[C, h, w]``, 4x3 cells at 64x48 input) becomes ``h * w`` image
tokens; its pooled vector (the encoder's usual output) is prepended as a global token. Both are
projected to the decoder width and get learned position embeddings. The decoder cross-attends to
these tokens; the output layer shares its weights with the word embeddings.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mmshop.caption.config import CaptionConfig
from mmshop.caption.vocab import PAD
from mmshop.models.encoders.image_cnn import CompactCNN
from mmshop.models.spec import InputSpec


class CaptionModel(nn.Module):
    """``forward({"image", "tokens_in"}) -> {"logits": [B, L, V]}``; :meth:`encode` and
    :meth:`step` are the two halves used for decoding."""

    def __init__(self, config: CaptionConfig, vocab_size: int) -> None:
        super().__init__()
        c = config
        size = tuple(c.image.size)
        self.encoder = CompactCNN(InputSpec(image_size=size), width=c.cnn_width)
        with torch.no_grad():
            probe = self.encoder.eval().feature_map({"image": torch.zeros(1, 3, *size)})
        self.encoder.train()
        n_image_tokens = 1 + probe.shape[2] * probe.shape[3]
        self.project = nn.Sequential(nn.Linear(self.encoder.output_dim, c.dim), nn.LayerNorm(c.dim))
        self.memory_positions = nn.Parameter(torch.zeros(1, n_image_tokens, c.dim))
        self.embed = nn.Embedding(vocab_size, c.dim, padding_idx=PAD)
        self.positions = nn.Parameter(torch.zeros(1, c.max_len, c.dim))
        for p in (self.memory_positions, self.positions):
            nn.init.normal_(p, std=0.02)
        nn.init.normal_(self.embed.weight, std=c.dim**-0.5)
        with torch.no_grad():
            self.embed.weight[PAD].zero_()
        layer = nn.TransformerDecoderLayer(
            c.dim, c.heads, c.ff_mult * c.dim, c.dropout, batch_first=True, norm_first=True,
            activation="gelu",
        )  # fmt: skip
        self.decoder = nn.TransformerDecoder(layer, c.layers)
        self.norm = nn.LayerNorm(c.dim)
        self.out = nn.Linear(c.dim, vocab_size, bias=True)
        self.out.weight = self.embed.weight  # tied
        self.max_len = c.max_len
        self.n_image_tokens = n_image_tokens

    def encode(self, images: Tensor) -> Tensor:
        """Normalised images ``[B, 3, H, W]`` -> image tokens ``[B, 1 + h*w, dim]``."""
        fmap = self.encoder.feature_map({"image": images})
        pooled = fmap.mean(dim=(2, 3)).unsqueeze(1)
        tokens = torch.cat([pooled, fmap.flatten(2).transpose(1, 2)], dim=1)
        return self.project(tokens) + self.memory_positions

    def pooled(self, images: Tensor) -> Tensor:
        """The encoder's pooled image vector ``[B, 8 * cnn_width]`` (for nearest neighbours)."""
        return self.encoder.feature_map({"image": images}).mean(dim=(2, 3))

    def decode(self, memory: Tensor, tokens_in: Tensor) -> Tensor:
        """Logits ``[B, L, V]`` for every prefix of ``tokens_in`` (``[B, L]``, BOS first)."""
        length = tokens_in.shape[1]
        x = self.embed(tokens_in) + self.positions[:, :length]
        causal = torch.triu(
            torch.full((length, length), float("-inf"), device=x.device), diagonal=1
        )
        h = self.decoder(x, memory, tgt_mask=causal, tgt_is_causal=True)
        return self.out(self.norm(h))

    def step(self, memory: Tensor, tokens_in: Tensor) -> Tensor:
        """Next-word log-probabilities ``[B, V]`` after the prefix ``tokens_in``."""
        return torch.log_softmax(self.decode(memory, tokens_in)[:, -1].float(), dim=-1)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        memory = self.encode(batch["image"])
        return {"logits": self.decode(memory, batch["tokens_in"])}
