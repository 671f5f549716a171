"""The generic file source: the canonical layout from a CSV or Parquet file on disk.

Files are read in chunks (pyarrow's streaming CSV reader, Parquet row batches), so a file of
millions of rows never sits in memory whole: each chunk is normalized and handed to the store,
which groups rows by month. Text columns arrive dictionary-encoded, so every check and
conversion runs once per distinct value.

Bad rows (a value that is not a finite number, an empty key cell, a control character, a month
that does not exist) follow the source's ``bad_rows`` policy: ``refuse`` (the default) rejects
the whole file with the rows and reasons, storing nothing; ``skip`` stores the rest and reports
the rejected rows (log, ``status``, the exit code of ``run --once``). Refusing is the default
because a partial month can fake a move: a dropped partner row shifts every other partner's share.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from monitor.config.sources import FileOptions
from monitor.errors import SourceError
from monitor.model import COLUMNS, MAX_REJECTED_DETAILS, Normalized, normalize_chunk
from monitor.sources._common import resolve_path
from monitor.sources.base import FetchResult, ObservationStream, Source

log = logging.getLogger(__name__)

BLOCK_BYTES = 32 * 2**20  # CSV bytes per chunk (about half a million canonical rows)
# Arrow's streaming CSV reader parses about 32 blocks ahead of its consumer: read small blocks
# (8 MB held ahead, not 1 GB) and hand them on joined into chunks of BLOCK_BYTES.
READ_BLOCK_BYTES = 4 * 2**20
BATCH_ROWS = 500_000  # Parquet rows per chunk
_TEXT = pa.dictionary(pa.int32(), pa.string())
_TEXT_COLUMNS = [c for c in COLUMNS if c != "value"]


class _NotNumbers(Exception):
    """The fast CSV path met a value that is not a number."""


class CanonicalFile:
    """A canonical CSV or Parquet file, read chunk by chunk."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        source: str | None = None,
        what: str = "file",
        encoding: str | None = None,
        fallback_source: str | None = None,
        block_bytes: int = BLOCK_BYTES,
        read_bytes: int = READ_BLOCK_BYTES,
        batch_rows: int = BATCH_ROWS,
    ) -> None:
        """``source`` names every row's source; without it the file's ``source`` column does,
        or ``fallback_source`` when the file has none."""
        self.path = Path(path)
        self.source = source
        self.fallback_source = fallback_source
        self.block_bytes = block_bytes
        self.read_bytes = read_bytes
        self.batch_rows = batch_rows
        self.name = source or str(self.path)
        self.what = what
        self.encoding = encoding
        self.parquet = self.path.suffix.lower() in {".parquet", ".pq"}

    def row_label(self, row: int) -> str:
        """Where a data row is: a line for CSV (the header is line 1), a row for Parquet."""
        return f"row {row}" if self.parquet else f"line {row + 1}"

    def row_number(self, row: int) -> int:
        """A data row as the number an editor shows: its line for CSV, the row for Parquet."""
        return row if self.parquet else row + 1

    def stream(self, *, bad_rows: str = "refuse", hint: str = "") -> ObservationStream:
        """The file as an ``ObservationStream`` (read lazily, once): bad rows refused or skipped
        per ``bad_rows``, ``hint`` added to a refusal."""
        return ObservationStream(
            self.chunks,
            source=self.name,
            where=str(self.path),
            bad_rows=bad_rows,
            row_label=self.row_label,
            row_number=self.row_number,
            hint=hint,
        )

    def chunks(self) -> Iterator[Normalized]:
        """The file in chunks of rows, each normalized (bounded memory)."""
        row = 1
        with self._errors():
            for batch in self._batches():
                frame = frame_of(batch)
                yield normalize_chunk(frame, source=self.source, first_row=row, duplicates=False)
                row += len(frame)

    def whole(self) -> Normalized:
        """The whole file normalized: its chunks' dictionaries are unified first, so every
        check runs once per distinct value of the file and the chunks concatenate without a
        union of categories (a backtest reads everything anyway)."""
        with self._errors():
            columns = self._whole_columns()
            if not columns:
                empty = pa.table({c: pa.array([], pa.string()) for c in self._columns()})
                return normalize_chunk(frame_of(empty), source=self.source)
            text = {n: c for n, c in columns.items() if isinstance(c, tuple)}
            plain = {n: c for n, c in columns.items() if not isinstance(c, tuple)}
            del columns
            dtypes = {name: pd.CategoricalDtype(cats) for name, (_, cats) in text.items()}
            memo: dict[Any, Any] = {}
            parts, n = [], len(next(iter(text.values()))[0]) if text else 0
            for start in range(0, n, self.batch_rows):
                stop = min(start + self.batch_rows, n)
                frame = pd.DataFrame(
                    {
                        **{
                            name: pd.Categorical.from_codes(
                                codes[start:stop], dtype=dtypes[name], validate=False
                            )
                            for name, (codes, _) in text.items()
                        },
                        **{
                            name: array.slice(start, stop - start).to_pandas()
                            for name, array in plain.items()
                        },
                    }
                )
                parts.append(
                    normalize_chunk(
                        frame,
                        source=self.source,
                        first_row=start + 1,
                        duplicates=False,
                        memo=memo,
                    )
                )
        rejected = [r for part in parts for r in part.rejected][:MAX_REJECTED_DETAILS]
        return Normalized(
            pd.concat([part.frame for part in parts], ignore_index=True),
            rejected,
            sum(part.rejected_rows for part in parts),
        )

    def _whole_columns(self) -> dict[str, tuple[np.ndarray, pd.Index] | pa.Array]:
        """Every column of the file: text as (codes, distinct values), others as one array.
        Parquet is read a column at a time (peak memory one column, not the file)."""
        if self.parquet:
            schema = self._parquet_schema()
            self._check_types(schema)
            names = [c for c in COLUMNS if c in schema.names]
            if self.source is None and "source" not in names:
                self.source = self.fallback_source
            if not pq.ParquetFile(self.path).metadata.num_rows:
                return {}
            out: dict[str, tuple[np.ndarray, pd.Index] | pa.Array] = {}
            for name in names:
                if name == "value":
                    out[name] = pq.read_table(self.path, columns=[name]).column(0).combine_chunks()
                    continue
                out[name] = self._parquet_text(name)
            return out
        try:
            batches = list(self._batches(fallback=False))
        except _NotNumbers:  # values as text throughout, so each bad row is named
            batches = list(self._batches(value_type=pa.string()))
        if not batches:
            return {}
        table = pa.Table.from_batches(batches)
        del batches
        return {
            name: _text_column(column)
            if pa.types.is_dictionary(column.type)
            else column.combine_chunks()
            for name, column in zip(table.schema.names, table.columns, strict=True)
        }

    def _parquet_text(self, name: str) -> tuple[np.ndarray, pd.Index]:
        """A text column as (codes, distinct values): through the file's dictionaries, unless
        its first row group shows a column of mostly distinct values (a million partners),
        which is read as plain text and encoded once."""
        file = pq.ParquetFile(self.path, read_dictionary=[name])
        probe = file.read_row_group(0, columns=[name]).column(0)
        if sum(len(c.dictionary) for c in probe.chunks) > max(len(probe) // 4, 1 << 16):
            return _encoded(pq.read_table(self.path, columns=[name]).column(0))
        column = pq.read_table(self.path, columns=[name], read_dictionary=[name]).column(0)
        return _unified(column)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError:
            raise SourceError(self.name, f"{self.what} not found: {self.path}") from None
        except OSError as exc:
            raise SourceError(
                self.name, f"cannot read {self.path}: {exc.strerror or exc}"
            ) from None
        except ValueError as exc:  # a missing column: the file is not in the canonical layout
            raise SourceError(self.name, f"{self.path}: {exc}", retryable=False) from None

    def _columns(self) -> list[str]:
        if self.parquet:
            return [c for c in COLUMNS if c in self._parquet_schema().names]
        return [c for c in COLUMNS if c in self._header(self._encoding())]

    def _batches(
        self, *, fallback: bool = True, value_type: pa.DataType | None = None
    ) -> Iterator[pa.RecordBatch]:
        if self.parquet:
            yield from self._parquet()
        elif value_type is not None:
            encoding = self._encoding()
            columns = [c for c in COLUMNS if c in self._header(encoding)]
            yield from self._csv_batches(encoding, columns, value_type)
        else:
            yield from self._csv(fallback=fallback)

    # -- CSV ---------------------------------------------------------------------------------
    def _csv(self, *, fallback: bool = True) -> Iterator[pa.RecordBatch]:
        encoding = self._encoding()
        header = self._header(encoding)
        columns = [c for c in COLUMNS if c in header]
        done = 0  # rows handed on so far
        try:
            # Values parsed as numbers by the reader itself: the fast path for clean files.
            for batch in self._csv_batches(encoding, columns, pa.float64()):
                yield batch
                done += batch.num_rows
            return
        except _NotNumbers:
            if not fallback:
                raise
        # A value that is not a number: read on from the same row with values as text, so
        # normalize_chunk names each bad row.
        seen = 0
        for batch in self._csv_batches(encoding, columns, pa.string()):
            if seen + batch.num_rows <= done:
                seen += batch.num_rows
                continue
            if seen < done:
                batch = batch.slice(done - seen)
                seen = done
            yield batch
            seen += batch.num_rows
            done = seen

    def _csv_batches(
        self, encoding: str, columns: list[str], value_type: pa.DataType
    ) -> Iterator[pa.RecordBatch]:
        read_block = min(self.block_bytes, self.read_bytes)
        per_chunk = max(1, -(-self.block_bytes // read_block))
        options = {
            "read_options": pacsv.ReadOptions(block_size=read_block, encoding=encoding),
            "convert_options": pacsv.ConvertOptions(
                column_types={c: (value_type if c == "value" else _TEXT) for c in columns},
                include_columns=columns,
                # Only an empty cell is missing ("NA" is Namibia), as pandas keep_default_na=False.
                null_values=[""],
                strings_can_be_null=True,
            ),
        }
        numeric = pa.types.is_floating(value_type)
        reader = None
        pending: list[pa.RecordBatch] = []
        while True:
            try:
                # open_csv reads the first block already: its errors are the blocks' errors.
                if reader is None:
                    reader = pacsv.open_csv(self.path, **options)
                batch = reader.read_next_batch()
            except StopIteration:
                if pending:
                    yield _joined(pending)
                return
            except pa.ArrowInvalid as exc:
                if numeric and "conversion error" in str(exc):
                    raise _NotNumbers from None
                message = self._csv_error(exc, encoding)
                raise SourceError(self.name, message, retryable=False) from None
            # "nan" and "NaN" parse as NaN: text that is not a figure, to be reported.
            if numeric and pc.any(pc.is_nan(batch.column("value"))).as_py():
                raise _NotNumbers
            # Only whole chunks leave: after _NotNumbers the text pass starts at the first row
            # not yet handed on, and the rows held here are read again.
            pending.append(batch)
            if len(pending) == per_chunk:
                yield _joined(pending)
                pending = []

    def _encoding(self) -> str:
        """The configured encoding; else a byte-order mark's; else UTF-8 when the start of the
        file is UTF-8; else the best guess of charset_normalizer (GB18030 for GACC downloads,
        cp1252 for spreadsheets saved on Windows), logged so the user can pin it."""
        if self.encoding:
            return self.encoding
        with self.path.open("rb") as f:
            head = f.read(1 << 20)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
            return "utf-8"
        except UnicodeDecodeError:
            pass
        from charset_normalizer import from_bytes

        best = from_bytes(head, cp_isolation=["gb18030", "cp1252", "utf_16"]).best()
        if best is None:
            raise SourceError(self.name, self._undecodable("utf-8"), retryable=False)
        log.warning(
            "%s: not UTF-8; reading it as %s (set encoding: on the source to choose)",
            self.path,
            best.encoding,
        )
        return best.encoding

    def _header(self, encoding: str) -> list[str]:
        with self.path.open("r", encoding=encoding, newline="") as f:
            try:
                first = next(csv.reader(f), [])
            except UnicodeDecodeError:
                raise SourceError(self.name, self._undecodable(encoding), retryable=False) from None
        header = [h.strip().lstrip("\ufeff") for h in first]
        if self.source is None and "source" not in header:
            self.source = self.fallback_source
        required = [c for c in COLUMNS if c != "unit" and not (c == "source" and self.source)]
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(f"missing column(s): {', '.join(missing)}")
        return header

    def _csv_error(self, exc: pa.ArrowInvalid, encoding: str) -> str:
        text = str(exc).splitlines()[0]
        if "invalid UTF8" in text or "UTF8" in text:
            return self._undecodable(encoding)
        return f"{self.path}: not a readable CSV file: {text}"

    def _undecodable(self, encoding: str) -> str:
        """Where the first byte that ``encoding`` cannot decode is (line and column)."""
        decoder = codecs.getincrementaldecoder(encoding)()
        line, column, offset = 1, 1, 0
        with self.path.open("rb") as f:
            while chunk := f.read(1 << 20):
                try:
                    text = decoder.decode(chunk, final=False)
                except UnicodeDecodeError as exc:
                    good = decoder.decode(chunk[: exc.start], final=True) if exc.start else ""
                    line += good.count("\n")
                    column = (len(good) - good.rfind("\n")) if "\n" in good else column + len(good)
                    byte = chunk[exc.start]
                    return (
                        f"{self.path}:{line}:{column}: byte 0x{byte:02x} is not valid "
                        f"{encoding} (set encoding: on the source, e.g. gb18030 or cp1252)"
                    )
                offset += len(chunk)
                line += text.count("\n")
                column = (len(text) - text.rfind("\n")) if "\n" in text else column + len(text)
        return f"{self.path}: not valid {encoding} text"

    # -- Parquet -----------------------------------------------------------------------------
    def _parquet_schema(self) -> pa.Schema:
        try:
            return pq.read_schema(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise SourceError(
                self.name, f"{self.path}: not a readable Parquet file: {exc}", retryable=False
            ) from None

    def _parquet(self) -> Iterator[pa.RecordBatch]:
        schema = self._parquet_schema()
        self._check_types(schema)
        columns = [c for c in COLUMNS if c in schema.names]
        if self.source is None and "source" not in columns:
            self.source = self.fallback_source
        # Text columns arrive dictionary-encoded: codes and distinct values, no string per row.
        file = pq.ParquetFile(
            self.path, read_dictionary=[c for c in _TEXT_COLUMNS if c in schema.names]
        )
        yield from file.iter_batches(batch_size=self.batch_rows, columns=columns)

    def _check_types(self, schema: pa.Schema) -> None:
        """Parquet keeps types: codes must be text (an integer commodity has lost 0301's
        zero), values numbers (a boolean is not a figure)."""
        for name in schema.names:
            if name not in COLUMNS:
                continue
            kind = schema.field(name).type
            base = kind.value_type if pa.types.is_dictionary(kind) else kind
            text = pa.types.is_string(base) or pa.types.is_large_string(base)
            if name == "value":
                ok = text or pa.types.is_integer(base) or pa.types.is_floating(base)
                ok = ok or pa.types.is_decimal(base)
                wanted = "numbers"
            elif name == "period":
                ok = text or pa.types.is_temporal(base) or pa.types.is_integer(base)
                wanted = "months (text YYYY-MM, dates or timestamps)"
            else:
                ok = text
                wanted = "text (codes keep their leading zeros only as text)"
            if not ok:
                raise SourceError(
                    self.name,
                    f"{self.path}: column {name} is {kind} in the Parquet file; "
                    f"it must hold {wanted}",
                    retryable=False,
                )


def _text_column(column: pa.ChunkedArray) -> tuple[np.ndarray, pd.Index]:
    """(codes, distinct values) of a dictionary column read in chunks. Where the chunks'
    dictionaries are nearly as long as the chunks (a million partners), merging them costs more
    than encoding the text once: then the column is decoded and encoded in one pass."""
    if sum(len(c.dictionary) for c in column.chunks) <= max(len(column) // 4, 1 << 16):
        return _unified(column)
    return _encoded(pa.chunked_array([c.dictionary.take(c.indices) for c in column.chunks]))


def _encoded(text: pa.ChunkedArray) -> tuple[np.ndarray, pd.Index]:
    encoded = pc.dictionary_encode(text.combine_chunks())
    size = len(encoded.dictionary)
    dtype = np.int8 if size < 127 else np.int16 if size < 32_767 else np.int32
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(dtype)
    return codes, pd.Index(encoded.dictionary, dtype="str")


def _unified(column: pa.ChunkedArray) -> tuple[np.ndarray, pd.Index]:
    """One set of codes and distinct values for a dictionary column read in chunks, each with
    its own dictionary: the dictionaries are encoded together once (their sizes, not the
    rows), and each chunk's codes mapped through the result. Codes use the narrowest integer."""
    chunks = [c for c in column.chunks if len(c)]
    if not chunks:
        return np.empty(0, np.int8), pd.Index([], dtype="str")
    together = pc.dictionary_encode(pa.concat_arrays([c.dictionary for c in chunks]))
    mapping = together.indices.to_numpy(zero_copy_only=False)
    size = len(together.dictionary)
    dtype = np.int8 if size < 127 else np.int16 if size < 32_767 else np.int32
    out = np.empty(sum(len(c) for c in chunks), dtype=dtype)
    at = offset = 0
    for chunk in chunks:
        local = np.append(mapping[offset : offset + len(chunk.dictionary)], -1).astype(dtype)
        indices = pc.fill_null(chunk.indices, -1).to_numpy(zero_copy_only=False)
        out[at : at + len(chunk)] = local[indices]
        at += len(chunk)
        offset += len(chunk.dictionary)
    return out, pd.Index(together.dictionary, dtype="str")


def frame_of(
    data: pa.RecordBatch | pa.Table, dtypes: dict[str, pd.CategoricalDtype] | None = None
) -> pd.DataFrame:
    """A batch as a pandas frame; dictionary columns become categoricals straight from their
    codes and distinct values (pyarrow's own conversion validates and copies them again, which
    costs seconds when a column has a million distinct partners). ``dtypes``: the categorical
    dtype of a column whose dictionary is known to be that dtype's categories (unified)."""
    out: dict[str, Any] = {}
    for name in data.schema.names:
        column = data.column(name)
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type):
            codes = pc.fill_null(column.indices, -1).to_numpy(zero_copy_only=False)
            dtype = (dtypes or {}).get(name) or pd.CategoricalDtype(
                pd.Index(column.dictionary, dtype="str")
            )
            out[name] = pd.Categorical.from_codes(codes, dtype=dtype, validate=False)
        else:
            out[name] = column.to_pandas()
    return pd.DataFrame(out)


def read_canonical(
    path: str | os.PathLike[str],
    *,
    source: str | None = None,
    what: str = "file",
    encoding: str | None = None,
) -> pd.DataFrame:
    """A whole canonical file as text columns sorted by key (for small files: the replay
    dataset, previews). Any bad row refuses the file with a SourceError naming it."""
    stream = CanonicalFile(path, source=source, what=what, encoding=encoding).stream()
    return stream.frame()


class FileSource(Source):
    """A canonical CSV or Parquet file on disk, read again only when its content changed (size
    and modification time first, then SHA-256)."""

    type: ClassVar[str] = "file"
    Options = FileOptions
    options: FileOptions

    def fetch(self) -> FetchResult:
        path = resolve_path(self.name, self.options.path, self.base_dir)
        try:
            stat = path.stat()
            # The quick check of make and rsync: a file whose size and modification time are
            # those recorded is not read at all (a 3 GB file would take seconds to hash).
            seen = (stat.st_size, stat.st_mtime_ns)
            if self.cursor.get("sha256") and self.cursor.get("stat") == list(seen):
                return self._unchanged(path, self.cursor)
            digest = _file_digest(path)
        except FileNotFoundError:
            raise SourceError(self.name, f"file not found: {path}") from None
        except OSError as exc:
            raise SourceError(self.name, f"cannot read {path}: {exc.strerror}") from None
        cursor = {"sha256": digest, "stat": list(seen)}
        if digest == self.cursor.get("sha256"):  # touched, not changed
            return self._unchanged(path, cursor)
        file = CanonicalFile(path, source=self.name, encoding=self.options.encoding)
        return FetchResult(
            observations=pd.DataFrame(),
            stream=file.stream(
                bad_rows=self.options.bad_rows,
                hint=" (nothing stored; with bad_rows: skip the other rows would be)",
            ),
            cursor=cursor,
            description=str(path),
        )

    @staticmethod
    def _unchanged(path: Path, cursor: dict[str, Any]) -> FetchResult:
        return FetchResult(
            observations=pd.DataFrame(), cursor=cursor, unchanged=True, description=str(path)
        )


def _file_digest(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


__all__ = ["CanonicalFile", "FileSource", "read_canonical"]


def _joined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """One record batch of consecutive ones (their text dictionaries unified)."""
    if len(batches) == 1:
        return batches[0]
    table = pa.Table.from_batches(batches).unify_dictionaries().combine_chunks()
    return table.to_batches()[0]
