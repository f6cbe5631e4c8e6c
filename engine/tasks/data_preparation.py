"""Preparation steps the tasks share: the toy data set, reading a split, the gloss vocabulary."""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.config import Config
from core.errors import ToolkitError
from core.run_directory import RunDirectory
from core.vocabulary import GlossVocabulary
from dataset.annotations import PreparedSplit, prepare_samples, read_annotations
from dataset.gloss_text import EncodedSplit, encode_samples
from dataset.toy_keypoints import write_toy_keypoints
from dataset.toy_sign_language import generate_split, write_records, write_toy_dataset
from dataset.toy_sign_video import write_toy_videos
from dataset.video_reader import VideoSource
from engine.progress import progress_bar
from engine.run_logging import get_logger
from engine.task_protocol import InputSource

SPLITS = ("train", "dev", "test")


def ensure_synthetic_annotations(config: Config) -> bool:
    """Write the toy language's annotation files if the config asks for them and they are absent."""
    synthetic, data = config.data.synthetic, config.data
    if synthetic is None or all(Path(data.split_path(s)).is_file() for s in SPLITS):
        return False
    get_logger().info("generating the toy sign language (seed %d)", synthetic.seed)
    write_toy_dataset({s: data.split_path(s) for s in SPLITS}, synthetic.sizes(), synthetic.seed)
    return True


def ensure_synthetic_videos(config: Config, source: VideoSource) -> None:
    """Render the toy language as videos (and write its annotations) for splits not rendered yet.

    A split is done when its marker file names the same size, seed, image size and layout, so an
    interrupted or differently configured generation renders that split again. The marker also
    records the digest of the annotation file it wrote: an annotation file it did not write is never
    written over (:func:`check_training_data` says so before anything is written).
    """
    synthetic, data = config.data.synthetic, config.data
    if synthetic is None:
        return
    sizes = synthetic.sizes()
    for split in SPLITS:
        marker, annotations = _toy_video_marker(config, split), Path(data.split_path(split))
        recipe = f"{sizes[split]} samples, seed {synthetic.seed}, {synthetic.render_size} px, {source.layout}\n"
        if annotations.is_file() and marker.is_file() and marker.read_text() == recipe + _digest_line(annotations):
            continue
        _refuse_foreign_annotations(config, split)
        get_logger().info("rendering %d toy %s videos into %s", sizes[split], split, source.root)
        target = {"video_file" if source.layout == "file" else "frame_folder": _locator(source, split)}
        records = generate_split(split, sizes[split], synthetic.seed)
        progress = progress_bar(records, desc="render toy videos", leave=False)
        records = write_toy_videos(progress, synthetic.seed, synthetic.render_size, **target)
        write_records(records, annotations)
        marker.write_text(recipe + _digest_line(annotations))


def ensure_synthetic_keypoints(config: Config) -> None:
    """The toy language's annotations and its signer's keypoints (``data.keypoints.path``), where missing or stale.

    A split's keypoint file is written from that split's annotation file, with a marker beside it
    (``.<file>.recipe``: the seed, the frame size and the annotations' digest); a file the marker
    does not vouch for is written again, and one without a marker (not the generator's) is an error.
    """
    synthetic, data = config.data.synthetic, config.data
    if synthetic is None:
        return
    ensure_synthetic_annotations(config)
    for split in SPLITS:
        path, annotations = Path(data.keypoints.path.format(split=split)), Path(data.split_path(split))
        marker = path.with_name(f".{path.name}.recipe")
        recipe = f"seed {synthetic.seed}, {synthetic.render_size} px\n" + _digest_line(annotations)
        if path.is_file() and marker.is_file() and marker.read_text() == recipe:
            continue
        if path.is_file() and not marker.is_file():
            raise ToolkitError(
                f"data.keypoints.path: {path} exists but was not written by the toy signer (no {marker.name}): "
                "toy data is never written over an existing file"
            )
        records = read_annotations(annotations, data.format)
        get_logger().info("writing the toy signer's keypoints of %d %s samples to %s", len(records), split, path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [{"name": r.name, "signer": r.signer, "gloss": r.gloss} for r in records]
        write_toy_keypoints(rows, synthetic.seed, synthetic.render_size, path)
        marker.write_text(recipe)


def _toy_video_marker(config: Config, split: str) -> Path:
    return Path(config.data.video.root) / f".{split}.complete"


def _digest_line(path: Path) -> str:
    return f"annotations sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}\n"


def _refuse_foreign_annotations(config: Config, split: str) -> None:
    """Stop if the split's annotation file exists but is not the one the toy video generator wrote."""
    annotations, marker = Path(config.data.split_path(split)), _toy_video_marker(config, split)
    if not annotations.is_file():
        return
    record = marker.read_text() if marker.is_file() else ""
    ours = record.endswith(_digest_line(annotations)) or (record and "annotations sha256" not in record)  # or older
    if not ours:
        raise ToolkitError(
            f"data.{split}: {annotations} exists but was not written by the toy video generator "
            f"(no record of it in {marker}): toy data is never written over an existing file; "
            "move the file, or train on it with a config without data.synthetic"
        )


def _locator(source: VideoSource, split: str):
    return lambda name: source.root / source.location(split, name)


def read_split(config: Config, split: str) -> PreparedSplit:
    """The usable samples of ``split``; empty ones are counted and logged with their names."""
    data = config.data
    samples = read_annotations(data.split_path(split), data.format)
    prepared = prepare_samples(samples, data.level, data.lowercase_text, data.lowercase_glosses)
    if prepared.skipped:
        get_logger().warning(
            "%s: skipped %s (first: %s)", split, dict(prepared.skipped), ", ".join(prepared.skipped_names[:3])
        )
    return prepared


def check_training_data(config: Config, inputs: InputSource) -> None:
    """One clear error, before any file is written, when the train split leaves nothing to train on.

    ``inputs``: what the task reads; none of the train samples' inputs being there is an error.

    The toy data set is not checked before it exists: it is generated when the task prepares, never
    over an existing file. Its text-only form is written all at once, so only when none of its three
    files exists; its video form split by split, each only where no file is or the generator's own is.
    """
    data = config.data
    if data.synthetic is not None and data.video is None:
        _check_toy_annotations_all_or_none(config)
    if data.synthetic is not None and data.video is not None:
        for split in SPLITS:
            _refuse_foreign_annotations(config, split)
    if data.synthetic is not None and not Path(data.train).is_file():
        return
    samples = read_annotations(data.train, data.format)
    train = prepare_samples(samples, data.level, data.lowercase_text, data.lowercase_glosses)
    if not train.samples:
        raise ToolkitError(f"{data.train}: nothing to train on: every sample was skipped ({dict(train.skipped)})")
    if data.synthetic is None:
        inputs.check_training_inputs([sample.name for sample in train.samples])


def _check_toy_annotations_all_or_none(config: Config) -> None:
    existing = [split for split in SPLITS if Path(config.data.split_path(split)).is_file()]
    missing = [split for split in SPLITS if split not in existing]
    if existing and missing:
        raise ToolkitError(
            f"data.{missing[0]}: not found: {config.data.split_path(missing[0])}, while data.{existing[0]} exists: "
            "the toy data is generated only where none of its three files exists, never over an existing file"
        )


def encode_text_split(
    config: Config, split: str, vocab: GlossVocabulary, tokenizer
) -> tuple[PreparedSplit, EncodedSplit]:
    """The usable samples of ``split`` and their gloss/label ids; too-long ones dropped in train, else truncated."""
    data = config.data
    prepared = read_split(config, split)
    encoded = encode_samples(
        prepared.samples, vocab, tokenizer, data.max_gloss_length, data.max_text_length, drop_too_long=split == "train"
    )
    return prepared, encoded


def ensure_gloss_vocabulary(config: Config, run: RunDirectory, train: PreparedSplit) -> None:
    """Build the gloss vocabulary from the train split unless the config names one or it exists."""
    if config.tokenizer.gloss_vocab is not None or run.gloss_vocab.is_file():
        return
    run.root.mkdir(parents=True, exist_ok=True)
    vocab = GlossVocabulary.build([s.gloss for s in train.samples], config.data.src_lang)
    vocab.save(run.gloss_vocab)
    get_logger().info("gloss vocabulary: %d glosses from %s", len(vocab.glosses), config.data.train)


def load_gloss_vocabulary(config: Config, run: RunDirectory) -> GlossVocabulary:
    """The configured gloss vocabulary, or the one built in the run directory."""
    path = Path(config.tokenizer.gloss_vocab or run.gloss_vocab)
    if not path.is_file():
        raise FileNotFoundError(f"gloss vocabulary not found: {path} (train a model first)")
    return GlossVocabulary.load(path, config.data.src_lang)
