"""Tiny randomly initialised Hugging Face checkpoints written with ``save_pretrained``.

Each family the pretrained encoders support gets a folder like a real checkpoint (config,
safetensors weights, tokenizer files, preprocessor config), small enough to train in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers import CATEGORIES, COLOURS, STYLES

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
HIDDEN = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2)
IMAGE = dict(image_size=32, patch_size=8, num_channels=3)


def vocabulary() -> list[str]:
    """Specials, characters (word-initial and ``##``), then the tiny catalogue's words."""
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789")
    words = [*COLOURS, *STYLES, *CATEGORIES, "model", "product"]
    return SPECIALS + chars + [f"##{c}" for c in chars] + words


def _wordpiece(pad_last: bool):
    """A BERT-style WordPiece tokenizer; ``pad_last`` gives padding a non-zero id (like CLIP)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = vocabulary()
    if pad_last:  # (keeping EOS off id 2, which CLIP treats as a legacy config)
        head = ["[UNK]", "[MASK]", "[CLS]", "[SEP]"]
        vocab = head + [t for t in vocab if t not in (*head, "[PAD]")] + ["[PAD]"]
    ids = {t: i for i, t in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    return tok, ids


def _fast_tokenizer(directory: Path, pad_last: bool) -> dict[str, int]:
    from transformers import PreTrainedTokenizerFast

    tok, ids = _wordpiece(pad_last)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        bos_token="[CLS]",
        eos_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    fast.save_pretrained(str(directory))
    return ids


def _bert_tokenizer(directory: Path) -> None:
    from transformers import BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(vocabulary()) + "\n", encoding="utf-8")
    BertTokenizer(str(vocab_file), model_max_length=64).save_pretrained(str(directory))


def _image_processor(name: str, directory: Path, **kwargs) -> None:
    import transformers

    cls = getattr(transformers, f"{name}Pil", None) or getattr(transformers, name)
    cls(**kwargs).save_pretrained(str(directory))


def make_bert(directory: Path, seed: int = 0) -> Path:
    """BertModel + BertTokenizer (vocab.txt), like bert-base / MiniLM / Chinese BERT."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocabulary()), max_position_embeddings=64, **HIDDEN)
    BertModel(config).save_pretrained(str(directory))
    _bert_tokenizer(directory)
    return directory


def make_sentence_transformers(directory: Path) -> Path:
    """A sentence-transformers folder: the BERT files plus modules.json, CLS pooling, Normalize."""
    make_bert(directory, seed=1)
    kinds = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    modules = [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate(kinds)
    ]
    (directory / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    (directory / "1_Pooling").mkdir(exist_ok=True)
    pooling = {
        "word_embedding_dimension": HIDDEN["hidden_size"],
        "pooling_mode_cls_token": True,
        "pooling_mode_mean_tokens": False,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    (directory / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    (directory / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 24, "do_lower_case": False}), encoding="utf-8"
    )
    return directory


def make_clip(directory: Path) -> Path:
    """CLIPModel whose tokenizer pads with a non-zero id, + a CLIP image processor config."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(2)
    ids = _fast_tokenizer(directory, pad_last=True)
    text = dict(
        vocab_size=len(ids), max_position_embeddings=64, bos_token_id=ids["[CLS]"],
        eos_token_id=ids["[SEP]"], pad_token_id=ids["[PAD]"], **HIDDEN,
    )  # fmt: skip
    config = CLIPConfig(text_config=text, vision_config={**HIDDEN, **IMAGE}, projection_dim=24)
    CLIPModel(config).save_pretrained(str(directory))
    _image_processor(
        "CLIPImageProcessor", directory,
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
    )  # fmt: skip
    return directory


def make_siglip(directory: Path) -> Path:
    """SiglipModel (last-token pooling, fixed-length text) + a SigLIP image processor config."""
    import torch
    from transformers import SiglipConfig, SiglipModel

    torch.manual_seed(3)
    ids = _fast_tokenizer(directory, pad_last=True)
    text = dict(
        vocab_size=len(ids), max_position_embeddings=64, pad_token_id=ids["[PAD]"], **HIDDEN
    )
    SiglipModel(SiglipConfig(text_config=text, vision_config={**HIDDEN, **IMAGE})).save_pretrained(
        str(directory)
    )
    _image_processor("SiglipImageProcessor", directory, size={"height": 32, "width": 32})
    return directory


def make_vit(directory: Path) -> Path:
    """ViTModel + ViT image processor config (32x32, mean/std 0.5)."""
    import torch
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(4)
    ViTModel(ViTConfig(**HIDDEN, **IMAGE)).save_pretrained(str(directory))
    _image_processor("ViTImageProcessor", directory, size={"height": 32, "width": 32})
    return directory


def make_chinese_clip(directory: Path) -> Path:
    """ChineseCLIPModel: a BERT text tower (vocab.txt tokenizer) and a CLIP vision tower."""
    import torch
    from transformers import ChineseCLIPConfig, ChineseCLIPModel

    torch.manual_seed(5)
    text = dict(vocab_size=len(vocabulary()), max_position_embeddings=64, **HIDDEN)
    config = ChineseCLIPConfig(
        text_config=text, vision_config={**HIDDEN, **IMAGE}, projection_dim=24
    )
    ChineseCLIPModel(config).save_pretrained(str(directory))
    _bert_tokenizer(directory)
    _image_processor(
        "ChineseCLIPImageProcessor", directory,
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
    )  # fmt: skip
    return directory


MAKERS = {
    "bert": make_bert,
    "sentence_transformers": make_sentence_transformers,
    "clip": make_clip,
    "siglip": make_siglip,
    "vit": make_vit,
    "chinese_clip": make_chinese_clip,
}
TEXT_FAMILIES = ("bert", "sentence_transformers", "clip", "siglip", "chinese_clip")
VISION_FAMILIES = ("vit", "clip", "siglip", "chinese_clip")


def make_all(root: Path) -> dict[str, Path]:
    """Write every family under ``root``; returns family -> folder."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    return {name: make(Path(root) / name) for name, make in MAKERS.items()}
