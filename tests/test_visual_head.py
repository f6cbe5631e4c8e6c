import torch

from modelling.visual_head import MaskedBatchNorm, VisualHead, sinusoidal_positions, valid_mask


def test_shapes():
    head = VisualHead(input_dim=16, num_classes=7, hidden_dim=8, ff_dim=32)
    features, logits = head(torch.randn(3, 10, 16), torch.tensor([10, 6, 1]))
    assert features.shape == (3, 10, 8) and logits.shape == (3, 10, 7)
    assert features[1, 6:].abs().sum() == 0 and features[2, 1:].abs().sum() == 0


def test_padded_batch_matches_unpadded_samples_on_valid_frames():
    torch.manual_seed(0)
    head = VisualHead(input_dim=16, num_classes=7, hidden_dim=8, ff_dim=32, dropout=0.0).eval()
    samples = [torch.randn(1, length, 16) for length in (9, 4, 6)]
    lengths = torch.tensor([9, 4, 6])
    batch = torch.zeros(3, 9, 16)
    for i, sample in enumerate(samples):
        batch[i, : sample.shape[1]] = sample[0]
        batch[i, sample.shape[1] :] = 100.0  # garbage in the padding must not leak
    batched_features, batched_logits = head(batch, lengths)
    for i, sample in enumerate(samples):
        features, logits = head(sample, lengths[i : i + 1])
        n = sample.shape[1]
        torch.testing.assert_close(batched_features[i, :n], features[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batched_logits[i, :n], logits[0], atol=1e-5, rtol=1e-5)


def test_batch_norm_statistics_come_from_valid_frames_only():
    norm = MaskedBatchNorm(2, momentum=1.0)
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [1000.0, 1000.0]]])
    out = norm(x, valid_mask(torch.tensor([2]), 3))
    torch.testing.assert_close(norm.running_mean, torch.tensor([2.0, 3.0]))
    torch.testing.assert_close(out[0, :2, 0], torch.tensor([-1.0, 1.0]), atol=1e-3, rtol=0)
    assert out[0, 2].abs().sum() == 0


def test_positions_are_the_transformer_sinusoids():
    table = sinusoidal_positions(5, 4)
    torch.testing.assert_close(
        table[3],
        torch.tensor(
            [
                torch.sin(torch.tensor(3.0)),
                torch.cos(torch.tensor(3.0)),
                torch.sin(torch.tensor(0.03)),
                torch.cos(torch.tensor(0.03)),
            ]
        ),
    )
