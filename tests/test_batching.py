import random

import pytest

from dataset.batching import BucketBatchSampler

LENGTHS = [random.Random(0).randrange(1, 40) for _ in range(103)]


def test_training_batches_cover_every_sample_once_per_epoch():
    sampler = BucketBatchSampler(LENGTHS, batch_size=8, shuffle=True, seed=1)
    indices = [i for b in sampler for i in b]
    assert sorted(indices) == list(range(len(LENGTHS)))
    assert all(len(b) <= 8 for b in sampler)


def test_batches_group_similar_lengths():
    sampler = BucketBatchSampler(LENGTHS, batch_size=8, shuffle=True, seed=1, bucket_size=100)
    spread = sum(max(LENGTHS[i] for i in b) - min(LENGTHS[i] for i in b) for b in sampler) / len(sampler)
    assert spread < 5  # random batches of 8 would spread about 30


def test_order_depends_on_seed_and_epoch_only():
    a, b = (BucketBatchSampler(LENGTHS, 8, shuffle=True, seed=1) for _ in range(2))
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


@pytest.mark.parametrize("shuffle", [True, False])
def test_ranks_get_disjoint_equal_shares(shuffle):
    shards = [list(BucketBatchSampler(LENGTHS, 8, shuffle=shuffle, seed=2, rank=r, world_size=3)) for r in range(3)]
    if shuffle:
        assert len({len(s) for s in shards}) == 1
    covered = [i for shard in shards for b in shard for i in b]
    assert set(covered) == set(range(len(LENGTHS)))
    if not shuffle:
        assert sorted(covered) == list(range(len(LENGTHS)))


def test_resume_starts_inside_the_epoch():
    sampler = BucketBatchSampler(LENGTHS, 8, shuffle=True, seed=4)
    sampler.set_epoch(3)
    full = list(sampler)
    sampler.set_epoch(3, start_batch=5)
    assert list(sampler) == full[5:]
    assert len(sampler) == len(full)


@pytest.mark.parametrize(
    ("size", "batch_size", "bucket_size", "world_size"), [(103, 8, 3, 1), (103, 8, 50, 3), (7, 8, 2, 2)]
)
@pytest.mark.parametrize("shuffle", [True, False])
def test_length_matches_the_batches(size, batch_size, bucket_size, world_size, shuffle):
    lengths = LENGTHS[:size]
    for rank in range(world_size):
        sampler = BucketBatchSampler(lengths, batch_size, shuffle, 0, rank, world_size, bucket_size)
        assert len(sampler) == len(list(sampler))
