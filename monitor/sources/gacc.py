"""GACC (China customs): a drop folder of query-platform downloads, optionally fed from a URL.

GACC has no usable API (web firewall, CAPTCHA), so users save the platform's CSV/Excel results
into ``path``. Each poll reads the files not ingested yet (by content hash, kept in the cursor),
sums the customs regimes, and hands the canonical rows to the pipeline. After the pipeline
committed them, ``on_committed`` moves the files to ``<path>/done/``. A malformed file is moved to
``<path>/rejected/`` at once with ``<name>.error.txt`` beside it; nothing of it is stored and the
good files of the same poll still ingest.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from monitor.config.sources import GaccOptions, SourceOptions
from monitor.errors import SourceError
from monitor.model import empty_observations
from monitor.sources._common import HttpClient, canonical, resolve_path, sha256
from monitor.sources._gacc_parse import GaccFormatError, parse
from monitor.sources.base import FetchResult, Source

log = logging.getLogger("monitor.sources.gacc")

SUFFIXES = (".csv", ".xlsx", ".xlsm")
MAX_REMEMBERED = 2000  # content hashes kept in the cursor (oldest forgotten first)
_FLOW_WORDS = {"export": ("export", "出口"), "import": ("import", "进口")}


@dataclass
class _Input:
    name: str
    data: bytes
    path: Path | None  # None for a body fetched from ``url``


class GaccSource(Source):
    """China's customs figures from a drop folder of GACC downloads (and ``url``, if set): each
    new file once, then moved to ``done/`` after the commit (``archive``), or to ``rejected/``
    at once if malformed."""

    type = "gacc"
    Options = GaccOptions
    options: GaccOptions

    #: ``sources check`` turns this on: read and parse, but move nothing.
    dry_run: bool = False

    def __init__(self, name: str, options: SourceOptions | Mapping[str, Any], **kw: Any) -> None:
        super().__init__(name, options, **kw)
        self._client: HttpClient | None = None
        self._url_validators: dict[str, Any] = {}

    # -- inputs ---------------------------------------------------------------------------

    def _folder(self) -> Path:
        folder = resolve_path(self.name, self.options.path, self.base_dir)
        if not folder.is_dir():
            raise SourceError(self.name, f"drop folder {folder} does not exist", retryable=False)
        return folder

    def _inputs(self, folder: Path) -> list[_Input]:
        files = sorted(
            (
                p
                for p in folder.iterdir()
                if p.is_file()
                and p.suffix.lower() in SUFFIXES
                and not p.name.startswith((".", "~$"))
            ),
            key=lambda p: (p.stat().st_mtime, p.name),
        )
        inputs = []
        for p in files:
            try:
                inputs.append(_Input(p.name, p.read_bytes(), p))
            except OSError as exc:
                raise SourceError(self.name, f"cannot read {p}: {exc.strerror}") from None
        url = self.options.url
        if url:
            fetched = self._fetch_url(url)
            if fetched is not None:
                inputs.append(fetched)
        return inputs

    def _fetch_url(self, url: str) -> _Input | None:
        if self._client is None:
            self._client = HttpClient(self.name, self.options, self.clock, self.session)
            self.session = self._client.session  # so that close() closes it
        headers = {}
        if self.cursor.get("url_etag"):
            headers["If-None-Match"] = self.cursor["url_etag"]
        if self.cursor.get("url_last_modified"):
            headers["If-Modified-Since"] = self.cursor["url_last_modified"]
        resp = self._client.get(url, headers=headers, ok=(200, 304))
        self._url_validators = {
            "url_etag": resp.headers.get("ETag"),
            "url_last_modified": resp.headers.get("Last-Modified"),
        }
        if resp.status_code == 304:
            return None
        name = Path(urlsplit(url).path).name or "download.csv"
        if not name.lower().endswith(SUFFIXES):
            name += ".csv"
        return _Input(name, resp.content, None)

    # -- fetch ----------------------------------------------------------------------------

    def _flow(self, name: str) -> str:
        flow = self.options.flow
        if flow:
            return flow
        lowered = name.lower()
        found = [f for f, words in _FLOW_WORDS.items() if any(w in lowered for w in words)]
        if len(found) != 1:
            raise GaccFormatError(
                "cannot tell export from import: set the source's `flow` "
                "option or put 'export'/'import' in the file name"
            )
        return found[0]

    def fetch(self) -> FetchResult:
        folder = self._folder()
        self._url_validators = {}
        ingested: dict[str, str] = dict(self.cursor.get("ingested", {}))
        frames: list[pd.DataFrame] = []
        accepted: list[_Input] = []
        already: list[_Input] = []
        rejected: list[str] = []
        reasons: dict[str, int] = {}
        for item in self._inputs(folder):
            digest = sha256(item.data)
            if digest in ingested:
                already.append(item)
                continue
            try:
                parsed = parse(item.name, item.data, flow=self._flow(item.name))
            except GaccFormatError as exc:
                rejected.append(item.name)
                reasons[f"file {item.name}: {exc}"] = 1
                self._reject(folder, item, str(exc))
                continue
            log.info(
                "source %r: %s (%s): %d regime rows -> %d observations",
                self.name,
                item.name,
                parsed.encoding,
                parsed.regime_rows,
                len(parsed.rows),
            )
            frames.append(parsed.rows)
            accepted.append(item)
            ingested[digest] = item.name
        cursor = {k: v for k, v in self.cursor.items() if not k.startswith("url_")}
        cursor.update({k: v for k, v in self._url_validators.items() if v})
        cursor["ingested"] = dict(list(ingested.items())[-MAX_REMEMBERED:])
        on_committed = self._archiver(folder, accepted + already)
        if not frames:
            if already and not self.dry_run:
                on_committed()  # files seen before (e.g. crash before the move): tidy up
            return FetchResult(
                empty_observations(),
                cursor,
                unchanged=True,
                description=self._describe(folder, accepted, already, rejected),
                rejected=reasons,
            )
        # A later file (newer mtime) for the same month supersedes an earlier one in this poll.
        combined = pd.concat(frames, ignore_index=True).drop_duplicates(
            ["period", "reporter", "partner", "commodity", "flow", "measure"], keep="last"
        )
        try:
            observations = canonical(combined, source=self.name)
        except ValueError as exc:  # pragma: no cover - parse() already validated every field
            raise SourceError(self.name, f"{folder}: {exc}", retryable=False) from None
        return FetchResult(
            observations,
            cursor,
            unchanged=False,
            description=self._describe(folder, accepted, already, rejected),
            on_committed=on_committed,
            rejected=reasons,
        )

    # -- moving files ---------------------------------------------------------------------

    def _describe(
        self, folder: Path, accepted: list[_Input], already: list[_Input], rejected: list[str]
    ) -> str:
        parts = [f"{folder}: {len(accepted)} new file(s)"]
        if accepted:
            parts.append(", ".join(i.name for i in accepted))
        if already:
            parts.append(f"{len(already)} already ingested")
        if rejected:
            parts.append(f"{len(rejected)} rejected ({', '.join(rejected)})")
        return "; ".join(parts)

    def _archiver(self, folder: Path, items: list[_Input]) -> Callable[[], None]:
        def archive() -> None:
            if self.dry_run or not self.options.archive:
                return
            done = folder / "done"
            for item in items:
                if item.path is None or not item.path.exists():
                    continue
                # A download saved under the same name since the poll read it is not the file
                # that was ingested: leave it for the next poll.
                if sha256(item.path.read_bytes()) != sha256(item.data):
                    log.warning(
                        "source %r: %s changed since it was read; left for the next poll",
                        self.name,
                        item.name,
                    )
                    continue
                done.mkdir(exist_ok=True)
                _move_no_replace(item.path, done, item.name)

        return archive

    def _reject(self, folder: Path, item: _Input, message: str) -> None:
        log.error("source %r: rejected %s: %s", self.name, item.name, message)
        if self.dry_run:
            return
        rejected = folder / "rejected"
        rejected.mkdir(exist_ok=True)
        if item.path is not None:
            target = _move_no_replace(item.path, rejected, item.name)
        else:
            target = _create_no_replace(rejected, item.name, item.data)
        _create_no_replace(
            rejected, target.name + ".error.txt", f"{item.name}: {message}\n".encode()
        )


def _candidates(folder: Path, name: str) -> Iterator[Path]:
    """``name`` in ``folder``, then suffixed .1, .2 ...: never an earlier file's place."""
    yield folder / name
    n = 1
    while True:
        yield folder / f"{Path(name).stem}.{n}{Path(name).suffix}"
        n += 1


def _move_no_replace(source: Path, folder: Path, name: str) -> Path:
    """Move ``source`` into ``folder`` under the first free name, atomically: a hard link fails
    rather than replace a file that appeared meanwhile (where links are not possible, an
    exclusive create and copy). The source is removed only once its new name holds it."""
    for target in _candidates(folder, name):
        try:
            os.link(source, target)
        except FileExistsError:
            continue
        except OSError:  # no hard links here (another file system, some mounts)
            if not _write_new(target, source.read_bytes()):
                continue
        source.unlink()
        return target
    raise AssertionError("unreachable")  # pragma: no cover - _candidates never ends


def _create_no_replace(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` to a new file in ``folder`` under the first free name."""
    for target in _candidates(folder, name):
        if _write_new(target, data):
            return target
    raise AssertionError("unreachable")  # pragma: no cover - _candidates never ends


def _write_new(target: Path, data: bytes) -> bool:
    """Create ``target`` holding ``data``; False if the name is taken. A write that fails
    half-way removes the part it wrote (the file is ours: it did not exist a moment ago)."""
    try:
        out = target.open("xb")
    except FileExistsError:
        return False
    try:
        with out:
            out.write(data)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return True
