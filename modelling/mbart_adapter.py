"""The one module that reads inside Hugging Face's mBART; the rest of the toolkit uses its public API.

The toolkit's own decoder steps (the static-cache beam search, the ONNX decoder graph) and the
inputs it embeds itself (gloss embeddings, Sign2Text's end tokens) need what
``MBartForConditionalGeneration`` computes inside its forward pass. Here that is computed from the
model's config and weights, addressed by their state-dict names (``model.decoder.layers.N.self_attn
.q_proj``, ...: the layout every published mBART checkpoint has), never by calling the forward of a
private transformers module, whose signature may change in any release. The contract:

- token embeddings are the shared table's rows times √d_model where ``config.scale_embedding``
  (else 1); the model scales its own token ids, never ``inputs_embeds``;
- learned positions: row ``position + 2`` of ``embed_positions`` (mBART's offset of 2);
- the decoder: ``layernorm_embedding`` of tokens plus positions, then pre-norm layers
  (self-attention, cross-attention over the encoder states, a feed-forward block with
  ``config.activation_function``; attention scores scaled by head_dim^-0.5), the final
  ``layer_norm``, then ``lm_head`` plus ``final_logits_bias``;
- teacher forcing: the labels shifted right, the last non-pad label (the language code) first.

``tests/test_mbart_adapter.py`` holds each point to the model's own forward pass and to
``generate()``: when a transformers release changes mBART, that test names what changed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from transformers import MBartConfig, MBartForConditionalGeneration
from transformers.activations import get_activation

POSITION_OFFSET = 2

# self_attention(layer index, this step's keys, this step's values) -> the keys and values to attend
# over and their additive mask (None: all of them)
SelfKeysValues = Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]


def embed_scale(config: MBartConfig) -> float:
    """The factor mBART applies to the embeddings of its own token ids."""
    return math.sqrt(config.d_model) if config.scale_embedding else 1.0


def shift_tokens_right(labels: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Teacher-forcing decoder inputs: ``labels`` (B×L, padded with ``pad_id``) one step later, the last
    non-pad label of each row (mBART's target language code) first."""
    last = (labels.ne(pad_id).sum(dim=1, keepdim=True) - 1).clamp(min=0)
    return torch.cat([labels.gather(1, last), labels[:, :-1]], dim=1)


def decoder_inputs(mbart: MBartForConditionalGeneration, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Scaled token embeddings plus learned position embeddings (B×L×d) of ``tokens`` (B×L) at
    ``positions`` (L, counted from 0), before ``layernorm_embedding``."""
    decoder = mbart.get_decoder()
    embedded = F.embedding(tokens, decoder.embed_tokens.weight) * embed_scale(mbart.config)
    return embedded + F.embedding(positions + POSITION_OFFSET, decoder.embed_positions.weight)


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """B×L×d -> B×heads×L×head_dim."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def cross_keys_values(mbart: MBartForConditionalGeneration, states: torch.Tensor) -> torch.Tensor:
    """Every decoder layer's cross-attention keys and values of encoder ``states``: layers×2×B×heads×S×head_dim."""
    heads = mbart.config.decoder_attention_heads
    per_layer = []
    for layer in mbart.get_decoder().layers:
        attention = layer.encoder_attn
        keys, values = attention.k_proj(states), attention.v_proj(states)
        per_layer.append(torch.stack([split_heads(keys, heads), split_heads(values, heads)]))
    return torch.stack(per_layer)


def additive_mask(valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """0 where ``valid``, the dtype's lowest value elsewhere."""
    return torch.where(valid, 0.0, torch.finfo(dtype).min).to(dtype)


def _attend(attention: nn.Module, heads: int, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask):
    """mBART attention from projected keys and values (B×heads×L×head_dim); ``mask`` is additive."""
    scores = (split_heads(attention.q_proj(query), heads) @ keys.transpose(2, 3)) * keys.shape[-1] ** -0.5
    if mask is not None:
        scores = scores + mask
    return attention.out_proj((F.softmax(scores, dim=-1) @ values).transpose(1, 2).flatten(2))


def decoder_step(
    mbart: MBartForConditionalGeneration,
    hidden: torch.Tensor,
    cross: torch.Tensor,
    mask: torch.Tensor,
    self_attention: SelfKeysValues,
) -> torch.Tensor:
    """Next-token log-probabilities (B×vocab, fp32) after the last of ``hidden`` (:func:`decoder_inputs`, B×L×d).

    ``cross``: the cross-attention keys and values (:func:`cross_keys_values`), ``mask`` (B×S) marks
    the valid encoder positions; ``self_attention`` gives each layer the keys and values to attend to.
    """
    config, decoder = mbart.config, mbart.get_decoder()
    heads, activation = config.decoder_attention_heads, get_activation(config.activation_function)
    hidden = decoder.layernorm_embedding(hidden)
    cross_mask = additive_mask(mask[:, None, None, :].bool(), hidden.dtype)
    for index, layer in enumerate(decoder.layers):
        attention = layer.self_attn
        x = layer.self_attn_layer_norm(hidden)
        keys, values, self_mask = self_attention(
            index, split_heads(attention.k_proj(x), heads), split_heads(attention.v_proj(x), heads)
        )
        hidden = hidden + _attend(attention, heads, x, keys, values, self_mask)
        x = layer.encoder_attn_layer_norm(hidden)
        hidden = hidden + _attend(layer.encoder_attn, heads, x, cross[index, 0], cross[index, 1], cross_mask)
        hidden = hidden + layer.fc2(activation(layer.fc1(layer.final_layer_norm(hidden))))
    logits = mbart.lm_head(decoder.layer_norm(hidden[:, -1])) + mbart.final_logits_bias
    return F.log_softmax(logits.float(), dim=-1)
