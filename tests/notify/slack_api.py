"""A local Slack Web API that keeps state like Slack does: messages get a ``ts`` in a channel,
files get an upload URL and an id, and ``files.completeUploadExternal`` only shares files whose
bytes arrived (exactly as many as announced) into a thread that exists.

Every call is recorded in ``calls`` (method name, or ``upload``) in arrival order; ``fail``
scripts answers per method: an HTTP status (``500``) or a Slack error (``"missing_scope"``),
each used once. On 127.0.0.1, port from the OS.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from monitor.notify.blockkit import check_payload


@dataclass
class File:
    id: str
    filename: str
    length: int
    data: bytes | None = None
    shared_in: tuple[str, str] | None = None  # (channel id, thread ts)
    title: str = ""
    upload_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Message:
    channel: str
    ts: str
    body: dict[str, Any]


class SlackApiPeer:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[str] = []
        self.messages: list[Message] = []
        self.files: dict[str, File] = {}
        self.fail: dict[str, list[int | str]] = {}
        self.problems: list[str] = []  # protocol violations seen (a test asserts none)
        self._lock = threading.Lock()
        self._next = 0
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = peer._handle(self.path, dict(self.headers.items()), body)
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                ctype = "text/plain" if isinstance(answer, bytes) else "application/json"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def start(self) -> SlackApiPeer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> SlackApiPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the API --------------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self._next += 1
        return f"{prefix}{self._next:08d}"

    def _handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any] | bytes]:
        with self._lock:
            if path.startswith("/upload/"):
                self.calls.append("upload")
                return self._upload(path.rsplit("/", 1)[1], headers, body)
            method = path.removeprefix("/api/")
            self.calls.append(method)
            scripted = self.fail.get(method)
            if scripted:
                outcome = scripted.pop(0)
                if isinstance(outcome, int):
                    return outcome, {"ok": False, "error": "scripted_http_failure"}
                return 200, {"ok": False, "error": outcome}
            if headers.get("Authorization") != f"Bearer {self.token}":
                return 200, {"ok": False, "error": "invalid_auth"}
            if method == "chat.postMessage":
                return self._post_message(json.loads(body))
            if method == "files.getUploadURLExternal":
                return self._get_upload_url(headers, body)
            if method == "files.completeUploadExternal":
                return self._complete(json.loads(body))
            return 404, {"ok": False, "error": "unknown_method"}

    def _post_message(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.problems.extend(check_payload(body))
        name = str(body.get("channel", ""))
        # Slack answers with the channel's id whatever the caller named it by.
        channel = name if name.startswith("C") else "C" + name.strip("#").upper()[:8]
        message = Message(channel, f"1700000000.{len(self.messages) + 1:06d}", body)
        self.messages.append(message)
        return 200, {"ok": True, "channel": channel, "ts": message.ts}

    def _get_upload_url(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if "application/x-www-form-urlencoded" not in headers.get("Content-Type", ""):
            self.problems.append("files.getUploadURLExternal: not a form")
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        try:
            length = int(form.get("length", ""))
        except ValueError:
            return 200, {"ok": False, "error": "invalid_arguments"}
        if not form.get("filename") or length <= 0:
            return 200, {"ok": False, "error": "missing_argument"}
        file = File(self._id("F"), form["filename"], length)
        self.files[file.id] = file
        return 200, {"ok": True, "upload_url": f"{self.url}/upload/{file.id}", "file_id": file.id}

    def _upload(self, file_id: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        file = self.files.get(file_id)
        if file is None:
            return 404, b"unknown upload"
        head = f"Content-Type: {headers.get('Content-Type', '')}\r\n\r\n".encode()
        parsed = BytesParser(policy=default_policy).parsebytes(head + body)
        data = body
        if parsed.is_multipart():
            parts = [
                p
                for p in parsed.iter_parts()
                if p.get_param("name", header="content-disposition") == "filename"
            ]
            if not parts:
                return 400, b"no filename part"
            data = parts[0].get_payload(decode=True) or b""
        if len(data) != file.length:
            self.problems.append(f"upload {file_id}: {len(data)} bytes, announced {file.length}")
            return 400, b"length mismatch"
        file.data = data
        file.upload_headers = headers
        return 200, f"OK - {len(data)}".encode()

    def _complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        channel, ts = body.get("channel_id"), body.get("thread_ts")
        if not any(m.channel == channel and m.ts == ts for m in self.messages):
            return 200, {"ok": False, "error": "invalid_thread_ts"}
        shared = []
        for item in body.get("files") or []:
            file = self.files.get(str(item.get("id")))
            if file is None or file.data is None or file.shared_in is not None:
                return 200, {"ok": False, "error": "file_not_found"}
            shared.append((file, str(item.get("title") or file.filename)))
        if not shared:
            return 200, {"ok": False, "error": "invalid_arguments"}
        for file, title in shared:
            file.shared_in, file.title = (str(channel), str(ts)), title
        return 200, {"ok": True, "files": [{"id": f.id, "title": t} for f, t in shared]}

    def shared(self) -> list[File]:
        return [f for f in self.files.values() if f.shared_in is not None]
