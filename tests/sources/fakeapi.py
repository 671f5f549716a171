"""A local fake of the trade APIs on 127.0.0.1 that replays their real formats and faults.

Routes map a path to a queue of ``Reply``s (the last one repeats) or to a function of the
request. Every request is recorded (path, query, headers) so tests can assert what was sent.
Faults: any status (500, 429/403 with Retry-After, 204), ``delay`` (the client's read timeout
fires), HTML instead of JSON, and ``truncate`` (a body cut short, Content-Length honest about
the cut so the client sees a complete but malformed body). With ``keep_alive`` the server speaks
HTTP/1.1 and leaves each connection open until the client closes it (``open_connections``).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
COMTRADE_SAMPLE = FIXTURES / "comtrade" / "comtrade_get_C_A_HS_reporter156_2010.json"


@dataclass
class Reply:
    status: int = 200
    body: Any = b""  # bytes, str, or JSON-able (dict/list)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (timeouts)
    truncate: int | None = None  # send only the first N bytes of the body

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            data = self.body
        elif isinstance(self.body, str):
            data = self.body.encode()
        else:
            data = json.dumps(self.body).encode()
        return data[: self.truncate] if self.truncate is not None else data


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_query: str = ""


Handler = Callable[[Seen], Reply]


class FakeApi:
    def __init__(self, *, keep_alive: bool = False) -> None:
        self.routes: dict[str, list[Reply] | Handler] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self.open_connections = 0
        self._connections = threading.Condition()
        api = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def setup(self) -> None:
                super().setup()
                with api._connections:
                    api.open_connections += 1

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    with api._connections:
                        api.open_connections -= 1
                        api._connections.notify_all()

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                seen = Seen(
                    parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    {k: v for k, v in self.headers.items()},
                    parts.query,
                )
                reply = api._reply(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.payload() if reply.status not in (204, 304) else b""
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, path: str, *replies: Reply | Handler) -> None:
        if len(replies) == 1 and callable(replies[0]):
            self.routes[path] = replies[0]
        else:
            self.routes[path] = list(replies)  # type: ignore[arg-type]

    def calls(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def wait_all_closed(self, timeout: float = 5.0) -> bool:
        """True once no client connection is open; False if one still is after ``timeout``."""
        with self._connections:
            return self._connections.wait_for(lambda: self.open_connections == 0, timeout)

    def _reply(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            target = self.routes.get(seen.path)
            if target is None:
                return Reply(
                    404, "<html><body>Not Found</body></html>", {"Content-Type": "text/html"}
                )
            if callable(target):
                return target(seen)
            return target.pop(0) if len(target) > 1 else target[0]

    def __enter__(self) -> FakeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- real formats -----------------------------------------------------------------------------


def comtrade_template() -> dict[str, Any]:
    """The first record of the real recorded Comtrade response (all 47 fields)."""
    return json.loads(COMTRADE_SAMPLE.read_text())["data"][0]


def comtrade_record(
    period: str,
    partner_iso: str,
    partner_code: int,
    *,
    flow: str = "X",
    cmd: str = "850511",
    value: float,
    net_kg: float | None,
    **overrides: Any,
) -> dict[str, Any]:
    """A monthly record in the real field layout: the sample with period/partner/figures set."""
    rec = copy.deepcopy(comtrade_template())
    rec.update(
        {
            "freqCode": "M",
            "period": period,
            "refYear": int(period[:4]),
            "refMonth": int(period[4:]),
            "refPeriodId": int(period + "01"),
            "partnerCode": partner_code,
            "partnerISO": partner_iso,
            "flowCode": flow,
            "flowDesc": {"X": "Export", "M": "Import"}.get(flow, flow),
            "cmdCode": cmd,
            "aggrLevel": len(cmd),
            "isLeaf": True,
            "qtyUnitCode": 8,
            "qtyUnitAbbr": "kg",
            "qty": net_kg,
            "netWgt": net_kg,
            "primaryValue": value,
            "fobvalue": value,
            "cifvalue": None,
        }
    )
    rec.update(overrides)
    return rec


def comtrade_envelope(records: list[dict[str, Any]], count: int | None = None) -> dict[str, Any]:
    return {
        "elapsedTime": "0.01 secs",
        "count": len(records) if count is None else count,
        "data": records,
        "error": "",
    }


def comtrade_da(marks: dict[str, str], reporter: int = 156) -> dict[str, Any]:
    """A getDa answer: one availability record per period with its checksum."""
    data = [
        {
            "datasetCode": int(f"{reporter}{p}"),
            "typeCode": "C",
            "freqCode": "M",
            "period": p,
            "reporterCode": reporter,
            "reporterISO": "CHN",
            "reporterDesc": "China",
            "classificationCode": "H6",
            "classificationSearchCode": "HS",
            "isOriginalClassification": True,
            "totalRecords": 123456,
            "datasetChecksum": mark,
            "firstReleased": "2025-08-20T00:00:00",
            "lastReleased": "2025-08-20T00:00:00",
        }
        for p, mark in marks.items()
    ]
    return {"elapsedTime": "0.01 secs", "count": len(data), "data": data, "error": ""}


def census_body(rows: list[dict[str, str]], header: list[str]) -> list[list[str]]:
    """Census's array of arrays: the header row, then rows, every value a string."""
    return [header] + [[str(r[h]) for h in header] for r in rows]


EUROSTAT_HEADER = (
    "DATAFLOW,LAST UPDATE,freq,reporter,partner,product,flow,indicators,TIME_PERIOD,OBS_VALUE"
)


def eurostat_csv(rows: list[tuple[str, str, str, str, str, str, str]]) -> str:
    """SDMX-CSV of DS-045409: rows of (reporter, partner, product, flow, indicator, period,
    value)."""
    lines = [EUROSTAT_HEADER]
    for reporter, partner, product, flow, indicator, period, value in rows:
        lines.append(
            f"ESTAT:DS-045409(1.0),15/08/25 11:00:00,M,{reporter},{partner},{product},"
            f"{flow},{indicator},{period},{value}"
        )
    return "\n".join(lines) + "\n"
