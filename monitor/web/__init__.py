"""The web console: alerts, series with every vintage, releases, silences, outbox and sources.

Read-only pages are plain server-rendered HTML; the few writes (add or expire a silence,
re-send a failed message) need a signed-in token holder and a CSRF token, and each is recorded
with who and when. See docs/console.md.

Only ``options``, ``queries`` and ``server.start_console`` are imported by the rest of the
program (``validate``, the ``alerts`` command, ``run``): they need nothing beyond the core
dependencies until the console is enabled.
The app itself (``app``, ``server``) needs the ``web`` extra (Flask, Flask-WTF, waitress).
"""
