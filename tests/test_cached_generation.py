"""Static-cache generation against ``generate()``, eagerly and along the CUDA-graph path (simulated on the CPU)."""

from __future__ import annotations

import dataclasses
import logging

import pytest
import torch

from modelling import cached_generation
from modelling.cached_generation import SOURCE_BUCKET, CachedGeneration
from modelling.translation import decoder_for
from modelling.translator_config import GenerationConfig
from tests.conftest import encoder_states, hf_generate, varied_translator


class EagerGraph:
    """What :class:`cached_generation.GraphedStep` does on a GPU, minus the graph: holds one step, runs it."""

    captured = 0

    def __init__(self, step, pool) -> None:
        self.step = step
        EagerGraph.captured += 1

    def __call__(self) -> torch.Tensor:
        return self.step()


@pytest.fixture
def simulated_graphs(monkeypatch):
    """Run CachedGeneration's CUDA-graph path (buffers padded, kept and reused per shape) on the CPU."""
    monkeypatch.setattr(cached_generation, "GraphedStep", EagerGraph)
    monkeypatch.setattr(cached_generation.torch.cuda, "graph_pool_handle", lambda: ("pool",))
    on_cuda = CachedGeneration._uses_graphs
    uses_graphs = staticmethod(lambda device, rows, config: on_cuda(torch.device("cuda"), rows, config))
    monkeypatch.setattr(CachedGeneration, "_uses_graphs", uses_graphs)
    EagerGraph.captured = 0


def config(beams: int, length_penalty: float = 1.0) -> GenerationConfig:
    return GenerationConfig(num_beams=beams, length_penalty=length_penalty, max_length=9)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("beams", "length_penalty"), [(1, 1.0), (4, 1.0), (3, 0.6), (4, 2.0)])
@torch.no_grad()
def test_static_cache_generation_gives_generates_token_ids(seed, beams, length_penalty):
    translator = varied_translator(seed, decoder_layers=2)
    embeds, mask, states = encoder_states(translator, seed, [6, 2, 4])
    expected = hf_generate(translator, embeds, mask, beams, length_penalty)
    found = CachedGeneration(translator.mbart)(states, mask, 5, config(beams, length_penalty))
    assert torch.equal(found, expected)


@pytest.mark.parametrize("beams", [1, 3])
@torch.no_grad()
def test_without_a_forced_end_token_the_limit_is_cut_as_generate_cuts_it(beams):
    translator = varied_translator(2, decoder_layers=2)
    translator.mbart.generation_config.forced_eos_token_id = None
    embeds, mask, states = encoder_states(translator, 2, [6, 2, 4])
    expected = hf_generate(translator, embeds, mask, beams, max_length=4)
    found = CachedGeneration(translator.mbart)(states, mask, 5, GenerationConfig(num_beams=beams, max_length=4))
    assert torch.equal(found, expected)
    assert (found[:, -1] != 2).any()  # some sentence stops at the limit without </s>


@torch.no_grad()
def test_the_translator_decodes_the_same_both_ways():
    translator = varied_translator(1, decoder_layers=2)
    embeds, mask, _ = encoder_states(translator, 1, [6, 2, 4])
    cached = translator.generate(embeds, mask, dataclasses.replace(config(4), decoding="static_cache"))
    transformers = translator.generate(embeds, mask, dataclasses.replace(config(4), decoding="transformers"))
    assert torch.equal(cached, transformers) and cached.shape[0] == 3


def test_auto_decoding_is_the_static_cache_on_cuda_and_generate_elsewhere():
    assert decoder_for("auto", torch.device("cuda", 0)) == "static_cache"
    assert decoder_for("auto", torch.device("cpu")) == "transformers"
    assert decoder_for("static_cache", torch.device("cpu")) == "static_cache"
    assert decoder_for("transformers", torch.device("cuda")) == "transformers"


@torch.no_grad()
def test_without_early_stopping_the_translator_runs_generate_without_it():
    """``generation.early_stopping: false`` (the paper's code): Hugging Face generate() as its default."""
    translator = varied_translator(1, decoder_layers=2)
    embeds, mask, _ = encoder_states(translator, 1, [6, 2, 4])
    settings = GenerationConfig(num_beams=4, max_length=9, decoding="transformers", early_stopping=False)
    found = translator.generate(embeds, mask, settings)
    expected = translator.mbart.generate(
        inputs_embeds=embeds,
        attention_mask=mask,
        decoder_start_token_id=5,
        num_beams=4,
        max_length=9,
        do_sample=False,
        early_stopping=False,
    )
    assert torch.equal(found, expected)
    cached = translator.generate(embeds, mask, dataclasses.replace(settings, decoding="static_cache"))
    assert torch.equal(cached, expected)  # the static cache's beam search stops as generate() does


@torch.no_grad()
def test_the_translator_follows_the_automatic_choice_and_logs_it_once(monkeypatch):
    translator = varied_translator(1, decoder_layers=2)
    embeds, mask, _ = encoder_states(translator, 1, [6, 2, 4])
    calls = []
    monkeypatch.setattr(translator, "_cached_generation", lambda *args: calls.append("static_cache"))
    generate = translator.mbart.generate
    monkeypatch.setattr(translator.mbart, "generate", lambda **kw: calls.append("transformers") or generate(**kw))
    assert GenerationConfig().decoding == "auto"
    messages, run_logger = [], logging.getLogger("slt")  # the run's logger, as train.log hears it
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: messages.append(record.getMessage())
    monkeypatch.setattr(run_logger, "level", logging.INFO)
    run_logger.addHandler(handler)
    try:
        for _ in range(2):
            translator.generate(embeds, mask, config(4))
    finally:
        run_logger.removeHandler(handler)
    assert calls == ["transformers", "transformers"]
    assert messages == ["generation.decoding auto: transformers on cpu"]


@torch.no_grad()
def test_the_graph_path_reuses_one_padded_step_per_shape(simulated_graphs):
    translator = varied_translator(2, decoder_layers=2)
    generation = CachedGeneration(translator.mbart)
    requests = [[6, 2, 4], [3, 5, 1], [6, 2, 4], [SOURCE_BUCKET + 3, 2, 4]]
    for seed, lengths in enumerate(requests):
        embeds, mask, states = encoder_states(translator, seed, lengths)
        assert torch.equal(generation(states, mask, 5, config(4)), hf_generate(translator, embeds, mask, 4))
    assert EagerGraph.captured == 2  # sources up to 32 share one step; 35 needs a 64-long one
    assert [key[1] for key in generation.graphs] == [SOURCE_BUCKET, 2 * SOURCE_BUCKET]
    embeds, mask, states = encoder_states(translator, 0, [6, 2, 4])
    generation(states, mask, 5, dataclasses.replace(config(4), cuda_graphs=False))
    assert EagerGraph.captured == 2


@torch.no_grad()
def test_batches_of_more_beams_than_graph_rows_decode_eagerly(simulated_graphs):
    translator = varied_translator(5)
    generation = CachedGeneration(translator.mbart)
    embeds, mask, states = encoder_states(translator, 5, [4] * (cached_generation.GRAPH_ROWS // 4 + 1))
    assert torch.equal(generation(states, mask, 5, config(4)), hf_generate(translator, embeds, mask, 4))
    assert EagerGraph.captured == 0 and not generation.graphs


@torch.no_grad()
def test_graphs_are_dropped_when_the_weights_move(simulated_graphs):
    translator = varied_translator(3)
    generation = CachedGeneration(translator.mbart)
    _, mask, states = encoder_states(translator, 3, [6, 2, 4])
    generation(states, mask, 5, config(4))
    translator.mbart.to(torch.float64).to(torch.float32)  # new storage for every weight
    generation(states, mask, 5, config(4))
    assert EagerGraph.captured == 2 and len(generation.graphs) == 1


@torch.no_grad()
def test_at_most_max_graphs_are_kept(simulated_graphs, monkeypatch):
    monkeypatch.setattr(cached_generation, "MAX_GRAPHS", 2)
    translator = varied_translator(4)
    generation = CachedGeneration(translator.mbart)
    for batch in (1, 2, 3):
        _, mask, states = encoder_states(translator, 4, [3] * batch)
        generation(states, mask, 5, config(2))
    assert [key[0] for key in generation.graphs] == [4, 6]  # beams × batch of the two most recent


@pytest.mark.parametrize("seed", range(4))
@torch.no_grad()
def test_bf16_autocast_decodes_as_generate_does(seed):
    translator = varied_translator(seed, decoder_layers=2)
    embeds, mask, _ = encoder_states(translator, seed, [6, 2, 4])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = hf_generate(translator, embeds, mask, 4)
        found = translator.generate(embeds, mask, config(4))
    assert torch.equal(found, expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: captures and replays real CUDA graphs")
@pytest.mark.parametrize("autocast", [False, True])
@torch.no_grad()
def test_cuda_graphs_decode_as_generate_does(autocast):
    for seed in range(3):
        translator = varied_translator(seed, decoder_layers=2).cuda()
        generation = CachedGeneration(translator.mbart)
        for lengths in ([6, 2, 4], [3, 5, 1]):
            embeds, mask, _ = encoder_states(translator, seed, lengths)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                states = translator.mbart.get_encoder()(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
                expected = hf_generate(translator, embeds, mask, 4)
                found = generation(states, mask, 5, config(4))
            assert torch.equal(found, expected)
        assert all(isinstance(graph, cached_generation.GraphedStep) for graph in generation.graphs.values())
