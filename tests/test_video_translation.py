"""Videos -> glosses with their times and sentences, one at a time or as a batch (deployment/video_translation.py)."""

from __future__ import annotations

import pytest
import torch

from core.config import load_config
from core.run_directory import RunDirectory
from deployment.video_translation import GlossSpan, VideoTranslator, gloss_spans
from engine.distributed import setup_distributed

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def translators(speaking_s2t) -> dict[str, VideoTranslator]:
    config = load_config(str(RunDirectory(speaking_s2t).config), ["training.device=cpu", "training.precision=fp32"])
    context = setup_distributed("cpu", "fp32")
    return {
        mode: VideoTranslator.build(config, context, None, mode == "cascade", "test") for mode in ("joint", "cascade")
    }


def toy_videos(pipeline, count: int) -> list[str]:
    root, _ = pipeline
    return [str(root / "data" / "test" / f"toy-{i:05d}.mp4") for i in range(count)]


@pytest.mark.parametrize("mode", ["joint", "cascade"])
def test_a_batch_of_videos_of_differing_length_says_what_each_alone_does(translators, pipeline, mode):
    translator = translators[mode]
    decoded = [translator.read(path) for path in toy_videos(pipeline, 4)]
    assert len({len(video.frames) for video in decoded}) > 1  # the batch pads some of them
    together = translator.translate(decoded)
    for video, batched in zip(decoded, together, strict=True):
        (alone,) = translator.translate([video])
        assert (batched.glosses, batched.text) == (alone.glosses, alone.text)
        assert batched.probabilities["<blank>"] == pytest.approx(alone.probabilities["<blank>"], abs=2e-3)


def test_each_gloss_has_its_time_span_and_probability_curve(translators, pipeline):
    translator = translators["joint"]
    video = translator.read(toy_videos(pipeline, 1)[0])
    (result,) = translator.translate([video])
    assert result.duration == pytest.approx(video.available / 25)  # the toy videos are 25 fps
    assert result.spans and [span.gloss for span in result.spans] == result.glosses.split()
    ends = [0.0] + [span.end for span in result.spans]
    for span, previous_end in zip(result.spans, ends, strict=False):
        assert previous_end <= span.start < span.end <= result.duration + 1e-6 and 0 < span.score <= 1
    steps = len(result.times)
    assert result.times == pytest.approx([i * result.duration / steps for i in range(steps)], abs=1e-3)
    assert set(result.probabilities) == {"<blank>", *result.glosses.split()}
    assert all(len(curve) == steps for curve in result.probabilities.values())
    total = torch.tensor(list(result.probabilities.values())).sum(dim=0)
    assert bool((total <= 1.01).all())  # blank and glosses are parts of one distribution per step


def test_gloss_spans_are_the_aligned_steps_in_seconds_with_the_mean_probability():
    scores = torch.full((5, 8), -8.0)
    scores[torch.arange(5), torch.tensor([0, 5, 5, 0, 7])] = 0.0
    probabilities = scores.softmax(dim=-1)
    held = round(float(probabilities[1, 5]), 3)
    assert held > 0.99
    assert gloss_spans(probabilities, [5, 7], ["BOOK", "CAR"], 0.16) == [
        GlossSpan("BOOK", 0.16, 0.48, held),
        GlossSpan("CAR", 0.64, 0.8, held),
    ]
