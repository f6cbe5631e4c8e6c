"""Beam search over mBART's decoder with a static key/value cache; on a GPU, each step replays a CUDA graph.

``generate()`` spends most of a GPU step launching small kernels from Python: hundreds per step
for a 12-layer decoder with beam 4. :class:`CachedGeneration` runs :func:`~modelling.beam_search.beam_search`
(the same token ids as ``generate()``) over a :class:`~modelling.decoder_steps.StaticCacheStep`,
whose shapes never change within a search. On CUDA the step is captured once per shape in a CUDA
graph (:class:`GraphedStep`) and replayed: one launch per step. Encoder lengths are padded up to a
multiple of :data:`SOURCE_BUCKET` there, so one graph serves clips of many lengths; the
:data:`MAX_GRAPHS` most recently used graphs are kept, and their temporaries share one memory pool
(a graph's buffers live outside it, and graphs never run at once). Graphs are for batches of at most
:data:`GRAPH_ROWS` beams (serving and translating a few videos, where launches are the cost); larger
batches (validation, prediction), like the CPU, run the same step eagerly, so the buffers the graphs
keep stay small.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from contextlib import AbstractContextManager

import torch
from transformers import MBartForConditionalGeneration

from modelling.beam_search import beam_search
from modelling.decoder_steps import StaticCacheStep
from modelling.mbart_adapter import cross_keys_values
from modelling.translator_config import GenerationConfig

SOURCE_BUCKET = 32
MAX_GRAPHS = 8
GRAPH_ROWS = 32  # beams × batch
LOG = logging.getLogger(__name__)


def _capture_autocast(device_type: str) -> AbstractContextManager:
    """The caller's autocast, without its weight-cast cache: a graph must cast the weights it reads each time."""
    return torch.autocast(
        device_type,
        dtype=torch.get_autocast_dtype(device_type),
        enabled=torch.is_autocast_enabled(device_type),
        cache_enabled=False,
    )


class GraphedStep:
    """A :class:`StaticCacheStep` captured in a CUDA graph: calling it replays the graph.

    It is warmed up on a side stream first, as CUDA graph capture requires; the warm-up only writes
    the buffers that :meth:`StaticCacheStep.start` resets.
    """

    def __init__(self, step: StaticCacheStep, pool: tuple) -> None:
        self.step = step
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), _capture_autocast("cuda"):
            for _ in range(2):
                step()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, pool=pool, capture_error_mode="thread_local"), _capture_autocast("cuda"):
            self.log_probs = step()

    def __call__(self) -> torch.Tensor:
        self.graph.replay()
        return self.log_probs


class CachedGeneration:
    """Token ids of encoder states by beam search over the static-cache decoder step of ``mbart``."""

    def __init__(self, mbart: MBartForConditionalGeneration) -> None:
        self.mbart = mbart
        self.graphs: OrderedDict[tuple, GraphedStep | None] = OrderedDict()  # None: capture failed
        self.weights: tuple[int, ...] = ()  # where the graphs read the weights
        self.pool: tuple | None = None  # the graphs' shared memory pool

    @torch.no_grad()
    def __call__(
        self, states: torch.Tensor, mask: torch.Tensor, start_id: int, config: GenerationConfig
    ) -> torch.Tensor:
        """Token ids (B×length, starting with ``start_id``) for encoder ``states`` (B×S×d) and ``mask`` (B×S)."""
        beams, device = config.num_beams, states.device
        cross = cross_keys_values(self.mbart, states).repeat_interleave(beams, 2)  # projected once per video
        mask = mask.repeat_interleave(beams, 0)
        run = self._graphed(cross, config.max_length) if self._uses_graphs(device, len(mask), config) else None
        step = run.step if run is not None else StaticCacheStep(self.mbart, cross, config.max_length)
        step.start(cross, mask)
        identity = torch.arange(len(mask), device=device)
        position = iter(range(config.max_length))

        def next_log_probs(tokens: torch.Tensor, order: torch.Tensor | None) -> torch.Tensor:
            step.tokens.copy_(tokens)
            step.order.copy_(identity if order is None else order)
            step.position.fill_(next(position))
            return run() if run is not None else step()

        config_ids = self.mbart.config
        return beam_search(
            next_log_probs,
            len(states),
            beams,
            start_id,
            config_ids.eos_token_id,
            config_ids.pad_token_id,
            config.max_length,
            config.length_penalty,
            device,
            forced_last_id=self.mbart.generation_config.forced_eos_token_id,  # as generate() reads it
            early_stopping=config.early_stopping,
        )

    @staticmethod
    def _uses_graphs(device: torch.device, rows: int, config: GenerationConfig) -> bool:
        return config.cuda_graphs and device.type == "cuda" and rows <= GRAPH_ROWS

    def _graphed(self, cross: torch.Tensor, max_length: int) -> GraphedStep | None:
        """The graph for this shape (captured now if new), or None where capture failed (steps then run eagerly)."""
        weights = tuple(t.data_ptr() for t in (*self.mbart.parameters(), *self.mbart.buffers()))
        if weights != self.weights:  # moved or converted since the graphs were captured
            self.graphs.clear()
            self.weights = weights
        source = -(-cross.shape[4] // SOURCE_BUCKET) * SOURCE_BUCKET
        autocast = (torch.is_autocast_enabled("cuda"), torch.get_autocast_dtype("cuda"))
        key = (cross.shape[2], source, max_length, cross.dtype, cross.device, autocast)
        if key in self.graphs:
            self.graphs.move_to_end(key)
            return self.graphs[key]
        padded = cross.new_zeros(*cross.shape[:4], source, cross.shape[5])
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        try:
            graphed = GraphedStep(StaticCacheStep(self.mbart, padded, max_length), self.pool)
        except RuntimeError as error:
            LOG.warning("CUDA graph capture of the decoder step failed (%s); this shape decodes without graphs", error)
            graphed = None
        self.graphs[key] = graphed
        if len(self.graphs) > MAX_GRAPHS:
            self.graphs.popitem(last=False)
        return graphed
