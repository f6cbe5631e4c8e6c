"""The translator's config sections: ``model`` (the mBART architecture or a pretrained folder) and ``generation``."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import in_range, one_of, positive, setting


@dataclass
class ModelConfig:
    """The mBART translator: a local pretrained directory or an architecture built from scratch."""

    pretrained: str | None = setting(None, must_exist=True, architecture=True)
    d_model: int = positive(256, architecture=True)
    encoder_layers: int = positive(3, architecture=True)
    decoder_layers: int = positive(3, architecture=True)
    attention_heads: int = positive(4, architecture=True)
    ffn_dim: int = positive(1024, architecture=True)
    dropout: float = in_range(0.1, low=0, high=0.99)
    attention_dropout: float = in_range(0.1, low=0, high=0.99)
    activation_dropout: float = in_range(0.0, low=0, high=0.99)
    max_position_embeddings: int = positive(256, architecture=True)
    label_smoothing: float = in_range(0.1, low=0, high=0.99)
    # embedding: gloss and end embeddings by mBART's embedding scale, mapped visual features unscaled;
    # paper: every encoder input by sqrt(d_model), as the paper's code (modelling/translation.py)
    input_scale: str = one_of("embedding", ("embedding", "paper"), architecture=True)

    def __post_init__(self) -> None:
        if self.d_model % self.attention_heads:
            raise ValueError(f"d_model ({self.d_model}) is not a multiple of attention_heads ({self.attention_heads})")


@dataclass
class GenerationConfig:
    """Beam search settings used by validation and prediction."""

    num_beams: int = positive(4)
    length_penalty: float = 1.0
    max_length: int = in_range(100, low=2)
    batch_size: int = positive(64)
    # static_cache: this toolkit's beam search over a fixed-size key/value cache (the same token ids
    # as generate(), CUDA graphs on a GPU); transformers: Hugging Face generate(); auto: static_cache
    # on CUDA, generate() elsewhere (faster on the CPU, where a step is bound by arithmetic, not launches)
    decoding: str = one_of("auto", ("auto", "static_cache", "transformers"))
    cuda_graphs: bool = True  # static_cache on CUDA: replay each decoder step as a CUDA graph
    # true: a beam search ends when num_beams hypotheses are done (this toolkit's default); false: as
    # Hugging Face's default and the paper's code, it goes on while a better one can still come
    early_stopping: bool = True
    # true: a sentence ending "x." is written "x ." as the tokenised references are (the paper's code
    # does this for German targets before scoring)
    split_final_stop: bool = False
