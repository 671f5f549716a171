"""The canonical file reader: chunks, bad rows, encodings and Parquet types, located exactly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from monitor.errors import SourceError
from monitor.resources import default_dataset
from monitor.sources.base import RejectedRowsError
from monitor.sources.file import CanonicalFile, read_canonical

HEADER = "period,reporter,partner,commodity,flow,measure,value,unit"


def csv(path: Path, rows: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode(encoding))
    return path


def row(partner: str, value: str, period: str = "2025-01", unit: str = "kg") -> str:
    return f"{period},CN,{partner},85051110,export,net_weight_kg,{value},{unit}"


def read(path: Path, **kwargs) -> pd.DataFrame:
    return pd.concat(list(CanonicalFile(path, source="s", **kwargs).stream()), ignore_index=True)


def test_the_bundled_dataset_reads_as_before(tmp_path: Path) -> None:
    """The magnet CSV (tonnes) reads to the same canonical rows in chunks of any size."""
    whole = read_canonical(default_dataset(), source="magnets")
    small = CanonicalFile(default_dataset(), source="magnets", block_bytes=256).stream()
    assert len(whole) == 30
    assert (
        pd.concat(list(small)).astype(str).sort_values(list(whole.columns)).to_numpy().tolist()
        == whole.astype(str).sort_values(list(whole.columns)).to_numpy().tolist()
    )


@pytest.mark.parametrize("block_bytes", [120, 4096])
def test_a_bad_value_is_named_by_its_line_in_any_chunk(tmp_path: Path, block_bytes: int) -> None:
    """Text in the value column refuses the file naming its line, wherever the chunks fall."""
    rows = [row(f"P{i}", str(i)) for i in range(40)]
    rows[33] = row("P33", "n/a")
    path = csv(tmp_path / "x.csv", rows)
    with pytest.raises(RejectedRowsError) as caught:
        read(path, block_bytes=block_bytes)
    assert caught.value.located == [(35, "column value: not a number: 'n/a'")]
    assert "x.csv: line 35, column value: not a number: 'n/a'" in str(caught.value)


def test_chunks_joined_from_small_reads_keep_every_row_once(tmp_path: Path) -> None:
    """Chunks of several read blocks, a bad value in a later one (the text pass starts again
    from the first row not handed on): every good row once, the bad one named by its line."""
    rows = [row(f"P{i}", str(i)) for i in range(60)]
    rows[47] = row("P47", "n/a")
    path = csv(tmp_path / "x.csv", rows)
    stream = CanonicalFile(path, source="s", block_bytes=600, read_bytes=120).stream(
        bad_rows="skip"
    )
    frame = pd.concat(list(stream), ignore_index=True)
    assert sorted(frame.partner.astype(str)) == sorted(f"P{i}" for i in range(60) if i != 47)
    assert [r.split(": ", 1)[1] for r in stream.rejected] == [
        "line 49, column value: not a number: 'n/a'"
    ]


def test_nan_and_infinite_values_are_refused(tmp_path: Path) -> None:
    """'nan' and 'inf' are not figures: each is named, none is stored as a value."""
    path = csv(tmp_path / "x.csv", [row("A", "1"), row("B", "nan"), row("C", "inf")])
    with pytest.raises(RejectedRowsError) as caught:
        read(path)
    assert [line for line, _ in caught.value.located] == [3, 4]
    assert "not a finite number" in caught.value.located[1][1]


def test_skip_policy_keeps_the_good_rows_and_counts_the_bad(tmp_path: Path) -> None:
    """bad_rows: skip stores the other rows and reports the skipped ones with their lines."""
    path = csv(tmp_path / "x.csv", [row("A", "1"), row("B", "x"), row("C", "3"), row("", "4")])
    stream = CanonicalFile(path, source="s").stream(bad_rows="skip")
    frame = pd.concat(list(stream))
    assert sorted(frame.partner.astype(str)) == ["A", "C"]
    assert stream.rejected_rows == 2
    assert [r.split(": ", 1)[1] for r in stream.rejected] == [
        "line 3, column value: not a number: 'x'",
        "line 5, column partner: empty",
    ]


def test_an_empty_value_is_no_observation(tmp_path: Path) -> None:
    """An empty value cell is a month not published: dropped without a word."""
    frame = read(csv(tmp_path / "x.csv", [row("A", "1"), row("B", "")]))
    assert frame.partner.astype(str).tolist() == ["A"]


def test_a_control_character_in_a_code_is_refused(tmp_path: Path) -> None:
    """A NUL byte inside a partner code is a broken file, refused on its line."""
    path = csv(tmp_path / "x.csv", [row("A", "1"), row("U\x00S", "2")])
    with pytest.raises(RejectedRowsError, match="line 3, column partner: control character"):
        read(path)


@pytest.mark.parametrize("encoding", ["gb18030", "utf-16", "cp1252", "utf-8-sig"])
def test_common_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    """GB18030 (GACC downloads), UTF-16, cp1252 and UTF-8 with a BOM read without options."""
    unit = {"gb18030": "千克", "cp1252": "kg²", "utf-16": "千克", "utf-8-sig": "千克"}[encoding]
    rows = [row(f"P{i}", str(i), unit=unit) for i in range(30)]
    path = csv(tmp_path / "x.csv", [r.replace("net_weight_kg", "quantity") for r in rows], encoding)
    frame = read(path)
    assert len(frame) == 30 and set(frame.unit.astype(str)) == {unit}


def test_an_undecodable_byte_is_located(tmp_path: Path) -> None:
    """With encoding: utf-8 pinned, a Latin-1 byte is named by line and column."""
    path = tmp_path / "x.csv"
    path.write_bytes(
        (HEADER + "\n" + row("A", "1") + "\n" + row("B", "2") + "\n")
        .encode()
        .replace(b",B,", b",\xe9,")
    )
    with pytest.raises(SourceError, match=r"x.csv:3:12: byte 0xe9 is not valid utf-8"):
        read(path, encoding="utf-8")


def parquet(path: Path, **columns: pa.Array) -> Path:
    base = {
        "period": pa.array(["2025-01"]),
        "reporter": pa.array(["CN"]),
        "partner": pa.array(["US"]),
        "commodity": pa.array(["0301"]),
        "flow": pa.array(["export"]),
        "measure": pa.array(["net_weight_kg"]),
        "value": pa.array([1.5]),
        "unit": pa.array(["kg"]),
    }
    base.update(columns)
    pq.write_table(pa.table(base), path)
    return path


@pytest.mark.parametrize(
    ("column", "array", "says"),
    [
        ("value", pa.array([True]), "column value is bool"),
        ("commodity", pa.array([301], pa.int64()), "column commodity is int64"),
        ("partner", pa.array([["BR"]]), "column partner is list<"),
    ],
)
def test_parquet_columns_of_the_wrong_type_are_refused(
    tmp_path: Path, column: str, array: pa.Array, says: str
) -> None:
    """Parquet keeps types: a boolean value, an integer code or a list is refused by name."""
    path = parquet(tmp_path / "x.parquet", **{column: array})
    with pytest.raises(SourceError, match=says):
        read(path)


def test_parquet_codes_keep_their_leading_zeros(tmp_path: Path) -> None:
    """A text commodity 0301 stays 0301 through the Parquet reader."""
    frame = read(parquet(tmp_path / "x.parquet"))
    assert frame.commodity.astype(str).tolist() == ["0301"]


def test_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    """Same size and modification time as recorded: unchanged without reading the file (the
    quick check of make and rsync); a touched file with the same bytes is unchanged too; new
    bytes with a new time are read."""
    import os

    from monitor.sources.file import FileSource

    path = csv(tmp_path / "x.csv", [row("A", "1")])
    first = FileSource("s", {"path": str(path)}).fetch()
    list(first.chunks())
    size, mtime = first.cursor["stat"]
    csv(path, [row("A", "7")])  # other bytes, same length...
    os.utime(path, ns=(mtime, mtime))  # ...and the recorded time: only a read would notice
    assert path.stat().st_size == size
    assert FileSource("s", {"path": str(path)}, cursor=first.cursor).fetch().unchanged
    csv(path, [row("A", "1")])
    os.utime(path, ns=(1, 1))
    touched = FileSource("s", {"path": str(path)}, cursor=first.cursor).fetch()
    assert touched.unchanged and touched.cursor["stat"] != first.cursor["stat"]
    csv(path, [row("A", "2")])
    changed = FileSource("s", {"path": str(path)}, cursor=touched.cursor).fetch()
    assert not changed.unchanged
