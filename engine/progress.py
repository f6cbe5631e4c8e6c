"""Progress of long work: a tqdm bar on a terminal, plain lines in files and CI logs.

Off a terminal a bar's carriage returns and cursor movements turn a log into debris; there each
refresh (the first, every 30 seconds, and the last) becomes one ordinary line instead, and a passing
bar (``leave=False``) shows only once it has lasted 30 seconds.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm import tqdm

PLAIN_INTERVAL_S = 30.0
_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\r")


class PlainLines:
    """A stream for tqdm that writes each refresh as one line, without carriage returns or escape codes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.encoding = getattr(stream, "encoding", "utf-8")

    def write(self, text: str) -> None:
        line = _CONTROL.sub("", text).strip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(iterable: Iterable | None = None, *, desc: str, enabled: bool = True, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, desc=desc, **kwargs)``: a live bar on a terminal, else a plain line every 30 s."""
    if sys.stderr.isatty():
        return tqdm(iterable, desc=desc, disable=not enabled, dynamic_ncols=True, **kwargs)
    plain = {
        "file": PlainLines(sys.stderr),
        "mininterval": PLAIN_INTERVAL_S,
        "maxinterval": PLAIN_INTERVAL_S,  # tqdm's monitor would otherwise refresh every 10 s
        "ascii": True,
        "ncols": 100,
    }
    if not kwargs.get("leave", True):  # a passing bar is shown only once it has lasted a while
        plain["delay"] = PLAIN_INTERVAL_S
    return tqdm(iterable, desc=desc, disable=not enabled, **plain, **kwargs)
