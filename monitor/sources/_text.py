"""Decode downloaded text files whose encoding nobody declared.

Publishers' downloads come as UTF-8 (with or without a byte-order mark), UTF-16 (Excel's
"Unicode text") or, from China's customs platform, GB18030/GBK. ``decode`` picks the encoding
from the byte-order mark, the NUL pattern of UTF-16, or the first of the candidate encodings that
decodes the whole file strictly; when none does it says where each one failed, as line and
column, so a user can find the byte in an editor.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

# Tried in this order when there is no byte-order mark: strict UTF-8 almost never accepts text
# in another encoding, GB18030 accepts nearly any byte sequence, so it must come second.
DEFAULT_ENCODINGS = ("utf-8", "gb18030")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True)
class Failure:
    """Where one encoding stopped: 1-based line and column (in characters) and the bad bytes."""

    encoding: str
    line: int
    column: int
    bytes: bytes

    def __str__(self) -> str:
        shown = " ".join(f"0x{b:02x}" for b in self.bytes[:4])
        return f"not {self.encoding} (line {self.line}, column {self.column}: byte {shown})"


class UndecodableError(ValueError):
    """No candidate encoding reads the whole file; ``failures`` says where each one stopped."""

    def __init__(self, failures: list[Failure]) -> None:
        self.failures = failures
        first = failures[0]
        self.line, self.column = first.line, first.column
        super().__init__("undecodable text: " + "; ".join(str(f) for f in failures))


def decode(data: bytes, encodings: tuple[str, ...] = DEFAULT_ENCODINGS) -> tuple[str, str]:
    """The text and the name of the encoding that read it (``UndecodableError`` if none)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _strict(data[len(bom) :], encoding), encoding
    utf16 = _utf16_without_bom(data)
    if utf16:
        return _strict(data, utf16), utf16
    failures = []
    for encoding in encodings:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            failures.append(_failure(data, encoding, exc))
    raise UndecodableError(failures)


def _strict(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UndecodableError([_failure(data, encoding, exc)]) from None


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text of mostly ASCII characters has a NUL in every other byte."""
    sample = data[:4096]
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) // 4  # at least half of the characters must show the pattern
    if odd > half and even == 0:
        return "utf-16-le"
    if even > half and odd == 0:
        return "utf-16-be"
    return None


def _failure(data: bytes, encoding: str, exc: UnicodeDecodeError) -> Failure:
    """Line and column of the first undecodable byte, counting characters, not bytes."""
    # Everything before the failing byte decodes: count lines and columns in that text.
    before = data[: exc.start].decode(encoding, errors="replace")
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return Failure(encoding, line, column, data[exc.start : max(exc.end, exc.start + 1)])
