"""The generic file source: the canonical layout from a CSV or Parquet file on disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from monitor.errors import Problem, SourceError
from monitor.model import normalize
from monitor.sources._common import resolve_path
from monitor.sources.base import FetchResult, Source


def read_canonical(
    path: str | os.PathLike[str], *, source: str | None = None, what: str = "file"
) -> pd.DataFrame:
    """Read a canonical CSV/Parquet file; ValueError/OSError become a SourceError naming it."""
    path = Path(path)
    name = source or str(path)
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            frame = pd.read_parquet(path)
            # Parquet keeps types; make codes strings so "85051110" and leading zeros survive.
            frame = frame.astype({c: "str" for c in frame.columns if c != "value"})
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise SourceError(name, f"{what} not found: {path}", retryable=True) from None
    except OSError as exc:
        raise SourceError(name, f"cannot read {path}: {exc.strerror or exc}") from None
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise SourceError(
            name, f"{path}: not a readable CSV/Parquet file: {exc}", retryable=False
        ) from None
    try:
        return normalize(frame, source=source)
    except ValueError as exc:
        raise SourceError(name, f"{path}: {exc}", retryable=False) from None


class FileSource(Source):
    type: ClassVar[str] = "file"
    OPTIONS: ClassVar[set[str]] = {"path"}
    REQUIRED: ClassVar[set[str]] = {"path"}

    @classmethod
    def check_options(cls, name: str, options: dict[str, Any], path: str) -> list[Problem]:
        problems = super().check_options(name, options, path)
        if "path" in options and not isinstance(options["path"], str):
            from monitor.config_checks import problem_at

            problems.append(
                problem_at(options, "path", path, f"source {name!r}: path must be a string")
            )
        return problems

    def fetch(self) -> FetchResult:
        path = resolve_path(self.name, self.options["path"], self.base_dir)
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            raise SourceError(self.name, f"file not found: {path}") from None
        except OSError as exc:
            raise SourceError(self.name, f"cannot read {path}: {exc.strerror}") from None
        if digest == self.cursor.get("sha256"):
            return FetchResult(
                observations=pd.DataFrame(),
                cursor=self.cursor,
                unchanged=True,
                description=str(path),
            )
        frame = read_canonical(path, source=self.name)
        return FetchResult(observations=frame, cursor={"sha256": digest}, description=str(path))
