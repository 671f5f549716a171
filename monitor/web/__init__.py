"""The web console: alerts, series with every vintage, releases, silences, outbox and sources.

Read-only pages are plain server-rendered HTML; the few writes (add or expire a silence,
re-send a failed message) need a signed-in token holder and a CSRF token, and each is recorded
with who and when. See docs/console.md.

Only ``options`` and ``queries`` are imported by the rest of the program (config checks, the
public address of message links, the ``alerts`` command): they need nothing beyond the core
dependencies.
The app itself (``app``, ``server``) needs the ``web`` extra (Flask, Flask-WTF, waitress).
"""
