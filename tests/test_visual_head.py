import pytest
import torch

from modelling.visual_head import MaskedBatchNorm, VisualHead, sinusoidal_positions, valid_mask


@pytest.mark.parametrize("variant", ["toolkit", "paper"])
def test_shapes(variant):
    head = VisualHead(input_dim=16, num_classes=7, hidden_dim=8, ff_dim=32, variant=variant)
    features, logits = head(torch.randn(3, 10, 16), torch.tensor([10, 6, 1]))
    assert features.shape == (3, 10, 8) and logits.shape == (3, 10, 7)
    assert features[1, 6:].abs().sum() == 0 and features[2, 1:].abs().sum() == 0


@pytest.mark.parametrize("variant", ["toolkit", "paper"])
def test_padded_batch_matches_unpadded_samples_on_valid_frames(variant):
    torch.manual_seed(0)
    head = VisualHead(input_dim=16, num_classes=7, hidden_dim=8, ff_dim=32, dropout=0.0, variant=variant).eval()
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


def test_the_paper_variant_is_the_papers_formula():
    """``LN_out(x + conv2(relu(conv1(LN_ff(x)))))`` with LayerNorm eps 1e-6, no dropout before the classifier."""
    torch.manual_seed(0)
    head = VisualHead(input_dim=16, num_classes=7, hidden_dim=8, ff_dim=32, variant="paper").eval()
    with torch.no_grad():
        for norm in (head.ff_norm, head.layer_norm, head.norm):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.normal_()
    features, lengths = torch.randn(1, 6, 16), torch.tensor([6])
    x = torch.relu(head.norm(head.projection(features), torch.ones(1, 6, dtype=torch.bool)))
    x = x + sinusoidal_positions(6, 8)
    inner = torch.nn.functional.layer_norm(x, (8,), head.ff_norm.weight, head.ff_norm.bias, eps=1e-6)
    block = head.conv2(torch.relu(head.conv1(inner.transpose(1, 2)))).transpose(1, 2)
    expected = torch.nn.functional.layer_norm(x + block, (8,), head.layer_norm.weight, head.layer_norm.bias, eps=1e-6)
    got, logits = head(features, lengths)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(logits, head.classifier(expected))
    assert VisualHead(16, 7, 8, 32).ff_norm is None and VisualHead(16, 7, 8, 32).layer_norm.eps == 1e-5
    with pytest.raises(ValueError, match="variant 'other' is not one of"):
        VisualHead(16, 7, variant="other")


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


class IndexedBatchNorm(torch.nn.BatchNorm1d):
    """The masked norm as it was: BatchNorm1d on the valid frames picked by boolean indexing."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        normed = super().forward(x[mask])
        out = normed.new_zeros(x.shape)
        out[mask] = normed
        return out


def test_masked_norm_equals_batch_norm_on_the_valid_frames_in_outputs_gradients_and_statistics():
    torch.manual_seed(0)
    new, old = MaskedBatchNorm(6, momentum=0.3), IndexedBatchNorm(6, momentum=0.3)
    for norm in (new, old):
        torch.nn.init.normal_(norm.weight)
        torch.nn.init.normal_(norm.bias)
    old.load_state_dict(new.state_dict())
    mask = valid_mask(torch.tensor([9, 4, 1]), 9)
    for _ in range(2):  # two training steps: the running statistics move twice
        x = (torch.randn(3, 9, 6) * 3 + 1).masked_fill(~mask[..., None], 1e4)
        outputs = []
        for norm in (new, old):
            inputs = x.clone().requires_grad_()
            out = norm.train()(inputs, mask)
            (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
            outputs.append((out, inputs.grad, norm.weight.grad, norm.bias.grad))
        for ours, theirs in zip(*outputs, strict=True):
            torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
        new.zero_grad(), old.zero_grad()
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(new, name), getattr(old, name), atol=1e-5, rtol=1e-5)
    x = torch.randn(3, 9, 6)
    torch.testing.assert_close(new.eval()(x, mask), old.eval()(x, mask), atol=1e-5, rtol=1e-5)


def test_masked_norm_has_no_data_dependent_shape_so_the_head_exports_as_one_graph():
    """Boolean indexing made the valid-frame count a host value every step; export refuses such a graph."""
    mask = valid_mask(torch.tensor([10, 6, 2]), 10)
    with pytest.raises(Exception, match="data-dependent"):
        torch.export.export(IndexedBatchNorm(8).train(), (torch.randn(3, 10, 8), mask))
    head = VisualHead(input_dim=16, num_classes=7, hidden_dim=8, ff_dim=32).train()
    exported = torch.export.export(head, (torch.randn(3, 10, 16), torch.tensor([10, 6, 2])))
    assert "index_put" not in str(exported.graph) and "nonzero" not in str(exported.graph)


def test_masked_norm_keeps_the_autocast_dtype():
    norm = MaskedBatchNorm(4).train()
    x, mask = torch.randn(2, 5, 4).bfloat16(), valid_mask(torch.tensor([5, 3]), 5)
    out = norm(x, mask)
    assert out.dtype == torch.bfloat16 and out[1, 3:].abs().sum() == 0


def test_a_head_trains_along_the_same_loss_curve_with_either_masked_norm():
    """Twenty CTC steps on fixed random features: the curve of the masked-sum norm is the indexed one's."""
    from modelling.recognition import ctc_loss

    curves = []
    for norm in (MaskedBatchNorm, IndexedBatchNorm):
        torch.manual_seed(0)
        head = VisualHead(input_dim=16, num_classes=7, hidden_dim=8, ff_dim=32, dropout=0.0)
        head.norm = norm(8)
        optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
        generator = torch.Generator().manual_seed(1)
        features, lengths = torch.randn(4, 12, 16, generator=generator), torch.tensor([12, 9, 7, 5])
        targets = [[1, 2, 3], [4, 5], [6, 1], [2]]
        curve = []
        for _ in range(20):
            optimizer.zero_grad()
            _, logits = head(features, lengths)
            loss = ctc_loss(logits.log_softmax(-1), lengths, targets).loss
            loss.backward()
            optimizer.step()
            curve.append(loss.item())
        curves.append(curve)
    assert curves[0][-1] < 0.5 * curves[0][0]  # it learns
    assert curves[0] == pytest.approx(curves[1], rel=1e-4)
