"""The file channel never replaces a file: a re-send adds nothing, anything else is kept."""

from __future__ import annotations

from monitor.notify.file import FileChannel
from tests.notify.realdata import digest, july_notices, notice


def _names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_resend_of_the_same_message_adds_no_file(frame, templates, tmp_path) -> None:
    """Sending one message twice (a crash before the outbox recorded it) leaves one of each."""
    ch = FileChannel("outbox", {"path": str(tmp_path)}, templates=templates)
    msg = ch.render(digest(july_notices(frame)))
    ch.send(msg)
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    ch.send(msg)
    assert _names(tmp_path) == ["magnets-r7-default-new.eml", "magnets-r7-default-new.json"]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first


def test_a_users_file_with_the_same_name_is_kept(frame, templates, tmp_path) -> None:
    """A file the channel did not write, under the name it wants, is left as it was."""
    (tmp_path / "magnets-r7-default-new.json").write_text("my notes\n")
    ch = FileChannel("outbox", {"path": str(tmp_path), "format": "slack"}, templates=templates)
    ch.send(ch.render(digest(july_notices(frame))))
    assert (tmp_path / "magnets-r7-default-new.json").read_text() == "my notes\n"
    assert _names(tmp_path) == ["magnets-r7-default-new.1.json", "magnets-r7-default-new.json"]
    assert "1,116 t" in (tmp_path / "magnets-r7-default-new.1.json").read_text()


def test_an_earlier_message_with_the_same_key_is_kept(frame, templates, tmp_path) -> None:
    """A new state store numbers releases from 1 again: its message does not replace the
    earlier store's message of the same release number (email and Slack alike)."""
    ch = FileChannel("outbox", {"path": str(tmp_path)}, templates=templates)
    ch.send(ch.render(digest([notice(frame, "DE", "2025-07")])))
    earlier = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    ch.send(ch.render(digest([notice(frame, "US", "2025-07")])))
    assert {name: (tmp_path / name).read_bytes() for name in earlier} == earlier
    assert _names(tmp_path) == [
        "magnets-r7-default-new.1.eml",
        "magnets-r7-default-new.1.json",
        "magnets-r7-default-new.eml",
        "magnets-r7-default-new.json",
    ]
    assert "United States" in (tmp_path / "magnets-r7-default-new.1.json").read_text()


def test_no_temporary_file_is_left_behind(frame, templates, tmp_path) -> None:
    """The temporary file a message is written through is removed after it is linked."""
    ch = FileChannel("outbox", {"path": str(tmp_path)}, templates=templates)
    ch.send(ch.render(digest(july_notices(frame))))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
