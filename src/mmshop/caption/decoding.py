"""Greedy and beam-search decoding over a :class:`CaptionModel` (batched, no caching).

Titles are short, so each step re-runs the decoder over the whole prefix. The start, pad and
unknown tokens are never generated.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mmshop.caption.vocab import BOS, EOS, PAD, UNK

_BANNED = (PAD, BOS, UNK)


def _ban(logp: Tensor) -> Tensor:
    logp[:, list(_BANNED)] = float("-inf")
    return logp


def length_penalty(length: Tensor, alpha: float) -> Tensor:
    """GNMT length normalisation ``((5 + length) / 6) ** alpha``."""
    return ((5.0 + length.float()) / 6.0) ** alpha


@torch.inference_mode()
def greedy(model, memory: Tensor, max_len: int) -> list[list[int]]:
    """The most probable next word at every step, until the end token or ``max_len`` words."""
    b = memory.shape[0]
    seqs = torch.full((b, 1), BOS, dtype=torch.long, device=memory.device)
    done = torch.zeros(b, dtype=torch.bool, device=memory.device)
    for _ in range(max_len):
        nxt = _ban(model.step(memory, seqs)).argmax(dim=-1)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        seqs = torch.cat([seqs, nxt[:, None]], dim=1)
        done |= nxt.eq(EOS)
        if bool(done.all()):
            break
    return [_strip(row) for row in seqs[:, 1:].tolist()]


@torch.inference_mode()
def beam_search(
    model, memory: Tensor, beams: int, max_len: int, alpha: float = 0.6
) -> list[list[int]]:
    """Beam search keeping the ``beams`` best hypotheses by length-normalised log-probability.

    Finished hypotheses stay in the beam (extended only by padding, score frozen) and compete
    with live ones, so ``beams=1`` is exactly greedy decoding. Stops when every beam has ended
    or after ``max_len`` words; returns the best-scoring hypothesis of each image.
    """
    b, k = memory.shape[0], beams
    dev = memory.device
    mem = memory.repeat_interleave(k, dim=0)
    seqs = torch.full((b * k, 1), BOS, dtype=torch.long, device=dev)
    scores = torch.full((b, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first
    lengths = torch.zeros(b, k, dtype=torch.long, device=dev)
    finished = torch.zeros(b, k, dtype=torch.bool, device=dev)
    for _ in range(max_len):
        logp = _ban(model.step(mem, seqs)).view(b, k, -1)
        vocab = logp.shape[-1]
        cand = scores[..., None] + logp
        # a finished beam has one continuation: itself, padded, with its score unchanged
        frozen = torch.full_like(cand, float("-inf"))
        frozen[..., PAD] = scores
        cand = torch.where(finished[..., None], frozen, cand)
        cand_len = lengths + (~finished).long()
        ranked = cand / length_penalty(cand_len, alpha)[..., None]
        top = ranked.view(b, k * vocab).topk(k, dim=-1).indices
        src, token = top // vocab, top % vocab
        scores = cand.view(b, k * vocab).gather(1, top)
        lengths = cand_len.gather(1, src)
        finished = finished.gather(1, src) | token.eq(EOS) | scores.isneginf()
        rows = (src + torch.arange(b, device=dev)[:, None] * k).view(-1)
        seqs = torch.cat([seqs[rows], token.view(-1, 1)], dim=1)
        if bool(finished.all()):
            break
    final = scores / length_penalty(lengths.clamp(min=1), alpha)
    best = final.argmax(dim=-1) + torch.arange(b, device=dev) * k
    return [_strip(row) for row in seqs[best, 1:].tolist()]


def _strip(ids: list[int]) -> list[int]:
    """Word ids up to (not including) the end token."""
    out = []
    for i in ids:
        if i in (EOS, PAD):
            break
        out.append(i)
    return out
