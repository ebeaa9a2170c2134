"""Vocabulary round trip; beam search vs greedy on a scripted model and on a real tiny model."""

from __future__ import annotations

import pytest
import torch

from mmshop.caption.config import CaptionConfig
from mmshop.caption.decoding import beam_search, greedy
from mmshop.caption.model import CaptionModel
from mmshop.caption.vocab import BOS, EOS, UNK, Vocabulary, detokenize, words
from mmshop.errors import ConfigError, DataError

A, B, C, D = 4, 5, 6, 7
VOCAB = 8


def test_vocabulary_build_encode_decode() -> None:
    vocab = Vocabulary.build(["Nike Men Black T-Shirt", "Puma men black shoes", "x"], min_count=2)
    assert vocab.tokens[4:] == ["black", "men"]  # frequency then alphabetical; x, nike dropped
    ids = vocab.encode("Men Black Socks, Pack", max_len=4)
    assert ids == [vocab.index["men"], vocab.index["black"], UNK, EOS]
    assert vocab.decode([*ids, 9, 9]) == "men black"
    assert Vocabulary.from_dict(vocab.to_dict()).tokens == vocab.tokens
    assert words("Men's T-Shirt (Pack of 2)") == ["men's", "t-shirt", "(", "pack", "of", "2", ")"]
    assert detokenize(["pack", "(", "2", ")", ",", "red"]) == "pack (2), red"
    with pytest.raises(DataError, match="min_count"):
        Vocabulary.build(["a b", "c d"], min_count=2)


class Scripted(torch.nn.Module):
    """Next-word probabilities fixed by the prefix: greedy takes A (0.6) then a four-way tie
    (0.25 each) -> total 0.15; the best sequence is B EOS (0.4)."""

    def step(self, memory: torch.Tensor, seqs: torch.Tensor) -> torch.Tensor:
        out = torch.full((len(seqs), VOCAB), 1e-9)
        for i, row in enumerate(seqs.tolist()):
            if row == [BOS]:
                out[i, A], out[i, B] = 0.6, 0.4
            elif row == [BOS, A]:
                out[i, [C, D, EOS]] = torch.tensor([0.26, 0.25, 0.24])
            else:
                out[i, EOS] = 1.0
        return out.log()


def test_beam_search_finds_the_more_probable_title_greedy_misses() -> None:
    model, memory = Scripted(), torch.zeros(2, 1, 1)
    assert greedy(model, memory, max_len=5) == [[A, C], [A, C]]
    assert beam_search(model, memory, beams=1, max_len=5, alpha=0.0) == [[A, C], [A, C]]
    assert beam_search(model, memory, beams=2, max_len=5, alpha=0.0) == [[B], [B]]
    # max_len cuts the title
    assert greedy(model, memory, max_len=1) == [[A], [A]]
    assert beam_search(model, memory, beams=3, max_len=1, alpha=0.0)[0] in ([A], [B])


def test_beam_of_one_equals_greedy_on_a_real_model() -> None:
    torch.manual_seed(0)
    cfg = CaptionConfig(dim=32, layers=1, heads=2, cnn_width=8, max_len=8)
    model = CaptionModel(cfg, vocab_size=30).eval()
    memory = model.encode(torch.randn(5, 3, *cfg.image.size))
    g = greedy(model, memory, cfg.max_len)
    assert beam_search(model, memory, 1, cfg.max_len, alpha=0.6) == g
    wide = beam_search(model, memory, 4, cfg.max_len, alpha=0.6)
    assert len(wide) == 5
    for seq in wide:  # never the start, pad or unknown token; at most max_len words
        assert len(seq) <= cfg.max_len and not {0, BOS, UNK, EOS} & set(seq)


def test_config_validates_itself() -> None:
    with pytest.raises(ConfigError, match="beams"):
        CaptionConfig(beams=0)
    with pytest.raises(ConfigError, match="divisible"):
        CaptionConfig(dim=30, heads=4)
    with pytest.raises(ConfigError, match="unknown config key"):
        CaptionConfig().replace({"no_such_key": 1})
    assert CaptionConfig.from_dict(CaptionConfig().to_dict()) == CaptionConfig()
