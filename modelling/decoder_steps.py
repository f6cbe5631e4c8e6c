"""mBART's decoder one token at a time over keys and values held outside Hugging Face's ``Cache``.

Two ways of holding the self-attention keys and values share the layer code here:

- :class:`~modelling.export_graphs.DecoderStepGraph` grows them by one step per call (the ONNX
  decoder graph);
- :class:`StaticCacheStep` writes them into buffers of a fixed length at a position held in a
  tensor, so every step has the same shapes and no host sync: the step a CUDA graph can capture
  (:mod:`modelling.cached_generation`).

Both run the layers of the Hugging Face mBART module they are given, with its own weights.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from transformers import MBartForConditionalGeneration

# self_attention(layer index, this step's keys, this step's values) -> the keys and values to attend
# over and their additive mask (None: all of them)
SelfKeysValues = Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """B×L×d -> B×heads×L×head_dim."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def cross_keys_values(mbart: MBartForConditionalGeneration, states: torch.Tensor) -> torch.Tensor:
    """Every decoder layer's cross-attention keys and values of encoder ``states``: layers×2×B×heads×S×head_dim."""
    per_layer = []
    for layer in mbart.get_decoder().layers:
        attention, heads = layer.encoder_attn, layer.encoder_attn.num_heads
        keys, values = attention.k_proj(states), attention.v_proj(states)
        per_layer.append(torch.stack([split_heads(keys, heads), split_heads(values, heads)]))
    return torch.stack(per_layer)


def _attend(attention: nn.Module, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask=None):
    """mBART attention from projected keys and values (B×heads×L×head_dim); ``mask`` is additive."""
    heads = attention.num_heads
    weights = (split_heads(attention.q_proj(query), heads) @ keys.transpose(2, 3)) * attention.scaling
    if mask is not None:
        weights = weights + mask
    out = (F.softmax(weights, dim=-1) @ values).transpose(1, 2).flatten(2)
    return attention.out_proj(out)


def additive_mask(valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """0 where ``valid``, the dtype's lowest value elsewhere."""
    return torch.where(valid, 0.0, torch.finfo(dtype).min).to(dtype)


def decoder_step(
    mbart: MBartForConditionalGeneration,
    hidden: torch.Tensor,
    cross: torch.Tensor,
    mask: torch.Tensor,
    self_attention: SelfKeysValues,
) -> torch.Tensor:
    """Next-token log-probabilities (B×vocab, fp32) of embedded tokens ``hidden`` (B×1×d).

    ``cross``: the cross-attention keys and values (:func:`cross_keys_values`), ``mask`` (B×S) marks
    the valid encoder positions.
    """
    decoder = mbart.get_decoder()
    hidden = decoder.layernorm_embedding(hidden)
    cross_mask = additive_mask(mask[:, None, None, :].bool(), hidden.dtype)
    for index, layer in enumerate(decoder.layers):
        attention, heads = layer.self_attn, layer.self_attn.num_heads
        x = layer.self_attn_layer_norm(hidden)
        keys, values, self_mask = self_attention(
            index, split_heads(attention.k_proj(x), heads), split_heads(attention.v_proj(x), heads)
        )
        hidden = hidden + _attend(attention, x, keys, values, self_mask)
        x = layer.encoder_attn_layer_norm(hidden)
        hidden = hidden + _attend(layer.encoder_attn, x, cross[index, 0], cross[index, 1], cross_mask)
        hidden = hidden + layer.fc2(layer.activation_fn(layer.fc1(layer.final_layer_norm(hidden))))
    logits = mbart.lm_head(decoder.layer_norm(hidden[:, -1])) + mbart.final_logits_bias
    return F.log_softmax(logits.float(), dim=-1)


class StaticCacheStep:
    """One decoder step over buffers of fixed shape: the inputs are tensors, never Python numbers.

    ``tokens`` (N), ``order`` (N: which beam of the step before each beam continues) and
    ``position`` (a 0-d tensor) are written by the caller before :meth:`__call__`; the
    self-attention keys and values live in ``keys_values`` (layers×2×N×heads×max_length×head_dim),
    reordered by ``order`` and then written at ``position`` by each call. The encoder side
    (``cross``, ``mask``) is set by :meth:`start`, padded to the buffers' source length.
    """

    def __init__(self, mbart: MBartForConditionalGeneration, cross: torch.Tensor, max_length: int) -> None:
        self.mbart = mbart
        layers, _, beams, heads, source, head_dim = cross.shape
        device = cross.device
        self.cross = torch.zeros_like(cross)
        self.mask = torch.zeros(beams, source, dtype=torch.long, device=device)
        self.keys_values = cross.new_zeros(layers, 2, beams, heads, max_length, head_dim)
        self.tokens = torch.zeros(beams, dtype=torch.long, device=device)
        self.order = torch.arange(beams, device=device)
        self.position = torch.zeros((), dtype=torch.long, device=device)
        self.steps = torch.arange(max_length, device=device)

    def start(self, cross: torch.Tensor, mask: torch.Tensor) -> None:
        """Take a new encoder side (cross keys and values up to this buffer's source length) and forget the past."""
        source = cross.shape[4]
        self.cross.zero_()
        self.cross[..., :source, :].copy_(cross)
        self.mask.zero_()
        self.mask[:, :source].copy_(mask)
        self.keys_values.zero_()

    def __call__(self) -> torch.Tensor:
        """Log-probabilities (N×vocab) of the next token after ``tokens`` at ``position``."""
        self.keys_values.copy_(self.keys_values.index_select(2, self.order))
        decoder = self.mbart.get_decoder()
        tokens = self.tokens[:, None]
        hidden = decoder.embed_tokens(tokens) + decoder.embed_positions(tokens, position_ids=self.position.view(1))
        self_mask = additive_mask(self.steps <= self.position, torch.float32)
        where = self.position.view(1)

        def write(index: int, keys: torch.Tensor, values: torch.Tensor):
            layer = self.keys_values[index]
            layer[0].index_copy_(2, where, keys.to(layer.dtype))
            layer[1].index_copy_(2, where, values.to(layer.dtype))
            return layer[0], layer[1], self_mask

        return decoder_step(self.mbart, hidden, self.cross, self.mask, write)
