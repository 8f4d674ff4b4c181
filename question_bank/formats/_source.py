"""Reading an uploaded file's bytes with a size limit (shared by the xlsx and csv readers)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, Any, Union

from question_bank.messages import Problem, make_problem

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]


def load_source(source: Any, max_bytes: int) -> tuple[bytes | Path | None, list[Problem]]:
    """Return the file as ``bytes`` (or a ``Path`` for files on disk) after the size check.

    ``source``: a path, ``bytes``-like, or a binary file object (read up to ``max_bytes + 1`` bytes).
    Over the limit: ``(None, [file_too_large])``. A missing path raises ``FileNotFoundError``.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        size = len(data)
        result: bytes | Path = data
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        size = path.stat().st_size
        result = path
    elif hasattr(source, "read"):
        data = source.read(max_bytes + 1)
        if isinstance(data, str):
            raise TypeError("open the file in binary mode ('rb')")
        size = len(data)
        result = data
    else:
        raise TypeError(f"expected a path, bytes or a binary file object, got {type(source).__name__}")
    if size > max_bytes:
        return None, [make_problem("file", "file_too_large", size=size, max=max_bytes)]
    return result, []


def as_binary_file(src: bytes | Path) -> IO[bytes] | Path:
    """``bytes`` → ``BytesIO``; a ``Path`` stays a path."""
    return io.BytesIO(src) if isinstance(src, bytes) else src
