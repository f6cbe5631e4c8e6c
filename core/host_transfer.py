"""Host tensors to the device without making the host wait for the device.

A copy from pageable host memory to a GPU first waits for all the work queued on the device, and
a synchronous copy waits for its own end: either stalls the host inside a training step. Copies
here come from pinned memory and are asynchronous. Lengths stay on the host in the networks'
outputs, where CTC and decoding read them, so no step reads a length back from the device.
"""

from __future__ import annotations

import torch


def to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``tensor`` on ``device``: from the host through pinned memory, asynchronously."""
    if tensor.device.type == "cpu" and torch.device(device).type == "cuda" and not tensor.is_pinned():
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)
