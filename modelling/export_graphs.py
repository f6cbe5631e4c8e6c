"""The Sign2Text network as three graphs with plain tensor inputs and outputs, for ONNX export.

- :class:`RecognitionGraph`: the encoder's input (S3D: videos B×3×T×H×W) and lengths -> gloss
  log-probabilities, what the VL mapper reads (the gloss features, or the gloss probabilities for
  the ``gloss_probabilities`` mapper; the output keeps the name ``gloss_features``) and feature
  counts (the encoder, then the visual head);
- :class:`EncoderGraph`: those features and counts -> the decoder's cross-attention keys and values
  of the encoder states, and their mask (VL mapper, the ``</s> lang`` end embeddings, mBART's
  encoder, each decoder layer's cross-attention projections);
- :class:`DecoderStepGraph`: one decoder step: the last token of each beam, the cross-attention keys
  and values, and the self-attention keys and values of the steps before (``past``:
  layers×2×B×heads×t×head_dim) -> next-token log-probabilities and ``past`` grown by this step. It
  runs the decoder layers of the Hugging Face mBART module it is given, with their own weights
  (:mod:`modelling.mbart_adapter`), and holds the past as one tensor instead of a ``Cache`` object.
  ``tests/test_export_graphs.py`` holds it to the full decoder's log-probabilities and to
  ``generate()``'s token ids.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import MBartForConditionalGeneration

from modelling.mbart_adapter import cross_keys_values, decoder_inputs, decoder_step
from modelling.recognition import SignToGloss
from modelling.sign_to_text import SignToText, mapper_input


class RecognitionGraph(nn.Module):
    """The encoder and the visual head, the encoder in its export mode (S3D: block 1 whole, no time chunks).

    ``mapper``: the VL mapper whose input the graph gives beside the log-probabilities (the gloss
    features if none).
    """

    def __init__(self, encoder: nn.Module, recognition: SignToGloss, mapper: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder, self.recognition = encoder, recognition
        self.reads = mapper.reads if mapper is not None else "gloss_features"

    def forward(self, videos: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``videos``: the encoder's input (the graph's input keeps the name of the video translator's)."""
        with self.encoder.exporting():
            features, feature_lengths = self.encoder(videos, lengths)
        output = self.recognition.recognise(features, feature_lengths)
        return output.log_probs, mapper_input(self.reads, output), output.lengths


class EncoderGraph(nn.Module):
    """Gloss features -> the decoder's cross-attention keys and values (:func:`cross_keys_values`) and mask.

    The keys and values are computed once here, not at every decoding step.
    """

    def __init__(self, network: SignToText) -> None:
        super().__init__()
        self.network = network

    def forward(self, gloss_features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embeds, mask = self.network.encoder_inputs(gloss_features, lengths)
        mbart = self.network.translator.mbart
        states = mbart.get_encoder()(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        return cross_keys_values(mbart, states), mask


class DecoderStepGraph(nn.Module):
    """One step of mBART's decoder over explicit self-attention keys and values (see the module docstring)."""

    def __init__(self, mbart: MBartForConditionalGeneration) -> None:
        super().__init__()
        self.mbart = mbart

    def forward(
        self, tokens: torch.Tensor, cross: torch.Tensor, mask: torch.Tensor, past: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        start = past.shape[4]
        hidden = decoder_inputs(self.mbart, tokens, torch.arange(start, start + tokens.shape[1], device=tokens.device))
        grown = []

        def grow(index: int, keys: torch.Tensor, values: torch.Tensor):
            keys, values = torch.cat([past[index, 0], keys], dim=2), torch.cat([past[index, 1], values], dim=2)
            grown.append(torch.stack([keys, values]))
            return keys, values, None

        return decoder_step(self.mbart, hidden, cross, mask, grow), torch.stack(grown)

    def empty_past(self, batch: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The ``past`` of the first step: no earlier step."""
        config = self.mbart.config
        head_dim = config.d_model // config.decoder_attention_heads
        return torch.zeros(config.decoder_layers, 2, batch, config.decoder_attention_heads, 0, head_dim, dtype=dtype)
