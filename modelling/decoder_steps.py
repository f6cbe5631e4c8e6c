"""mBART's decoder one token at a time over keys and values held outside Hugging Face's ``Cache``.

Two ways of holding the self-attention keys and values share one decoder step
(:func:`modelling.mbart_adapter.decoder_step`):

- :class:`~modelling.export_graphs.DecoderStepGraph` grows them by one step per call (the ONNX
  decoder graph);
- :class:`StaticCacheStep` writes them into buffers of a fixed length at a position held in a
  tensor, so every step has the same shapes and no host sync: the step a CUDA graph can capture
  (:mod:`modelling.cached_generation`).

Both run the layers of the Hugging Face mBART module they are given, with its own weights.
"""

from __future__ import annotations

import torch
from transformers import MBartForConditionalGeneration

from modelling.mbart_adapter import additive_mask, decoder_inputs, decoder_step


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
        hidden = decoder_inputs(self.mbart, self.tokens[:, None], self.position.view(1))
        self_mask = additive_mask(self.steps <= self.position, torch.float32)
        where = self.position.view(1)

        def write(index: int, keys: torch.Tensor, values: torch.Tensor):
            layer = self.keys_values[index]
            layer[0].index_copy_(2, where, keys.to(layer.dtype))
            layer[1].index_copy_(2, where, values.to(layer.dtype))
            return layer[0], layer[1], self_mask

        return decoder_step(self.mbart, hidden, self.cross, self.mask, write)
