"""The console as a Flask app: server-rendered pages, no script, every write signed and checked.

Reading needs no sign-in while the console listens on loopback (``require_login`` asks for one
anyway; off loopback it is forced). Writing needs a token from ``token_file``: a browser signs
in once (the name is kept in a signed, HttpOnly, SameSite=Strict session cookie) and every form
carries Flask-WTF's CSRF token; a script may instead send ``Authorization: Bearer <token>``,
which no other site can make a browser send, so it needs no CSRF token.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

import sqlalchemy as sa
from flask import Flask, Response, abort, flash, g, redirect, render_template, request, session
from flask_wtf.csrf import CSRFError, CSRFProtect

from monitor.errors import ConfigError, StoreError
from monitor.model import SERIES_KEY, month_to_period, period_to_month
from monitor.render import filters, links
from monitor.store import schema as s
from monitor.store.base import OUTBOX_FAILED, OUTBOX_PENDING, OUTBOX_SENT
from monitor.web import actions, queries
from monitor.web.backend import Backend
from monitor.web.options import TokenFile, Tokens, WebOptions

log = logging.getLogger(__name__)

PAGE_SIZE = 50
SERIES_MONTHS = 36  # months a series page shows by default
PREVIEW_ALERTS = 2000  # recorded alerts a silence preview is tried against

#: Sent with every response. No script runs on any page (``default-src 'none'`` covers
#: scripts); styles and images come from the console itself; no page can be framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def create_app(
    backend: Backend, options: WebOptions, tokens: Tokens | TokenFile | None = None
) -> Flask:
    """``tokens``: a TokenFile is re-read when it changes (a removed or changed token ends its
    sessions at the next request); fixed Tokens for tests; None: read-only."""
    app = Flask(__name__)
    source = tokens if tokens is not None else Tokens()
    secure = bool(options.public_url and options.public_url.startswith("https://"))
    app.config.update(
        # A fresh key per process: a restart signs everyone out, and no key is ever stored.
        SECRET_KEY=secrets.token_bytes(32),
        SESSION_COOKIE_NAME="customs_monitor_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=64 * 1024,  # forms only
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in ``_guard`` (bearer requests need none)
        WTF_CSRF_TIME_LIMIT=12 * 3600,
    )
    csrf = CSRFProtect(app)
    app.extensions["customs_monitor"] = {"backend": backend, "options": options, "tokens": source}
    _filters(app)

    def now() -> datetime:
        return backend.clock.now()

    # -- who is asking ---------------------------------------------------------------------
    @app.before_request
    def _guard() -> Any:
        g.tokens = tokens = source.current() if isinstance(source, TokenFile) else source
        g.user, g.bearer = None, False
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and tokens:
            g.user = tokens.who(header[7:].strip())
            g.bearer = g.user is not None
            if not g.bearer:
                abort(401)
        elif session.get("user") and tokens:
            name = str(session["user"])
            if session.get("fp") == tokens.fingerprint(name) and name in tokens.by_name:
                g.user = name
            else:  # the token was changed or removed since the sign-in
                session.clear()
        public = request.endpoint in ("login", "static")
        if options.login_for_reads and g.user is None and not public:
            if request.method == "GET":
                return redirect("/login?" + urlencode({"next": _local(request.full_path)}))
            abort(401)
        if request.method == "POST" and not tokens:
            abort(403, "writes are off: set daemon.web.token_file to allow them")
        if request.method == "POST" and not g.bearer:
            csrf.protect()
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.endpoint != "static":
            # Pages carry CSRF tokens and who is signed in: never kept by a shared cache.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "user": g.get("user"),
            "writes": bool(g.get("tokens")),
            "now": now(),
            "nav": NAV,
            "alert_path": links.alert_path,
            "key_text": links.key_text,
            "series_path": links.series_path,
            "request_path": request.path,
            "request_target": request.full_path.rstrip("?"),
        }

    def writer(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not g.tokens:
                abort(403, "writes are off: set daemon.web.token_file to allow them")
            if g.user is None:
                abort(401)
            return view(*args, **kwargs)

        return wrapped

    def actor() -> actions.Actor:
        return actions.Actor(who=str(g.user), remote=request.remote_addr)

    # -- errors ----------------------------------------------------------------------------
    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> tuple[str, int]:
        return page("error.html", title="Form expired", message=exc.description, code=400), 400

    @app.errorhandler(StoreError)
    def _store(exc: StoreError) -> tuple[str, int]:
        return page("error.html", title="State store unavailable", message=str(exc), code=503), 503

    @app.errorhandler(sa.exc.OperationalError)
    def _db(exc: sa.exc.OperationalError) -> tuple[str, int]:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0]
        message = f"state store: {reason}"
        return page("error.html", title="State store unavailable", message=message, code=503), 503

    for code, title in ((400, "Bad request"), (401, "Sign in needed"), (403, "Not allowed")):
        app.register_error_handler(code, _error_page(code, title))
    app.register_error_handler(404, _error_page(404, "Not found"))
    app.register_error_handler(413, _error_page(413, "Too large"))

    @app.errorhandler(500)
    def _bug(exc: Any) -> tuple[str, int]:
        # Logged with its traceback for whoever runs the daemon; the page says only that.
        message = "The console failed on this page; the daemon's log has the details."
        return page("error.html", title="Console error", message=message, code=500), 500

    # -- sign in ---------------------------------------------------------------------------
    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        target = _local(request.values.get("next") or "/alerts")
        tokens = g.tokens
        if not tokens:
            return page("login.html", title="Sign in", target=target, disabled=True)
        if request.method == "POST":
            name = tokens.who(request.form.get("token", ""))
            if name is None:
                log.warning("console: failed sign-in from %s", request.remote_addr)
                flash("That token is not valid.", "error")
                return page("login.html", title="Sign in", target=target), 401
            session.clear()
            session.permanent = True
            session["user"], session["fp"] = name, tokens.fingerprint(name)
            log.info("console: %s signed in from %s", name, request.remote_addr)
            return redirect(target)
        return page("login.html", title="Sign in", target=target)

    @app.post("/logout")
    def logout() -> Any:
        session.clear()
        return redirect("/alerts")

    # -- alerts ----------------------------------------------------------------------------
    @app.get("/")
    def index() -> Any:
        return redirect("/alerts")

    @app.get("/alerts")
    def alerts() -> Any:
        flt = _alert_filter(request.args)
        page_no = _int(request.args.get("page"), 1, minimum=1)
        records, total = queries.list_alerts(
            backend.store, flt, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
        )
        sent = queries.deliveries(backend.store, records)
        rule_ids = sorted({r.id for r in backend.rules} | ({flt.rule} if flt.rule else set()))
        return page(
            "alerts.html",
            title="Alerts",
            items=[_alert_item(backend, r, sent.get(r.key, [])) for r in records],
            total=total,
            flt=flt,
            page_no=page_no,
            pages=max(1, math.ceil(total / PAGE_SIZE)),
            rule_ids=rule_ids,
            sources=sorted(backend.config.sources),
            states=queries.STATES,
            severities=queries.SEVERITIES,
            query=flt.active(),
        )

    @app.get("/alerts/<path:key>")
    def alert(key: str) -> Any:
        record = queries.get_alert(backend.store, key)
        if record is None:
            abort(404, f"no alert {key!r} is recorded")
        sent = queries.deliveries(backend.store, [record], with_text=True)[record.key]
        return page(
            "alert.html",
            title=backend.templates.render_summary(record.alert),
            item=_alert_item(backend, record, sent),
            chart=_chart_spec(backend, record),
            deliveries=sent,
            silence_query=_silence_prefill(record),
        )

    @app.get("/charts/alert.png")
    def alert_chart() -> Any:
        record = queries.get_alert(backend.store, request.args.get("key", ""))
        if record is None:
            abort(404)
        spec = _chart_spec(backend, record)
        if spec is None:
            abort(404, "this alert has no figures to chart")
        from monitor.render.chart import chart_png

        png = chart_png(
            spec["history"],
            fired_period=record.alert.period,
            window=spec["window"],
            unit=spec["unit"],
            title=spec["title"],
        )
        return Response(png, mimetype="image/png")

    # -- series ----------------------------------------------------------------------------
    @app.get("/series")
    def series() -> Any:
        source, key = _series_args(backend)
        months = _int(request.args.get("months"), SERIES_MONTHS, minimum=1, maximum=600)
        histories, first, last = _series_months(backend, source, key, months)
        records = queries.alerts_of_series(backend.store, source, key)
        watching = _watching_rules(backend, key)
        fired: dict[str, list[queries.AlertRecord]] = {}
        for r in records:
            fired.setdefault(r.alert.rule_id, []).append(r)
        unit = histories[-1].current.unit if histories else ""
        return page(
            "series.html",
            title=_series_title(source, key),
            source=source,
            key=key,
            months=list(reversed(histories)),
            window=months,
            first=first,
            last=last,
            unit=unit,
            watching=watching,
            fired=fired,
            others={r.alert.rule_id for r in records} - {r.id for r in watching},
            chart_query=request.query_string.decode(),
        )

    @app.get("/charts/series.png")
    def series_chart() -> Any:
        from monitor.web.charts import vintage_chart_png

        source, key = _series_args(backend)
        months = _int(request.args.get("months"), SERIES_MONTHS, minimum=1, maximum=600)
        histories, _, _ = _series_months(backend, source, key, months)
        fired = {r.alert.period for r in queries.alerts_of_series(backend.store, source, key)}
        unit = histories[-1].current.unit if histories else ""
        png = vintage_chart_png(
            histories,
            alert_periods=frozenset(fired),
            unit=unit,
            title=f"{filters.commodity(key['commodity'])}, {key['reporter']} → {key['partner']}",
        )
        return Response(png, mimetype="image/png")

    # -- releases --------------------------------------------------------------------------
    @app.get("/releases")
    def releases() -> Any:
        source = request.args.get("source") or None
        page_no = _int(request.args.get("page"), 1, minimum=1)
        rows, total = queries.list_releases(
            backend.store, source=source, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
        )
        return page(
            "releases.html",
            title="Releases",
            releases=rows,
            total=total,
            source=source,
            sources=sorted(backend.config.sources),
            page_no=page_no,
            pages=max(1, math.ceil(total / PAGE_SIZE)),
        )

    @app.get("/releases/<int:release_id>")
    def release(release_id: int) -> Any:
        found = queries.get_release(backend.store, release_id)
        if found is None:
            abort(404, f"no release {release_id}")
        records = queries.alerts_of_release(backend.store, release_id)
        return page(
            "release.html",
            title=f"Release {release_id}",
            release=found,
            items=[_alert_item(backend, r, []) for r in records],
            messages=queries.release_messages(backend.store, release_id),
        )

    # -- silences --------------------------------------------------------------------------
    @app.get("/silences")
    def silences_page() -> Any:
        from monitor.notify import silences

        everything = silences.list_silences(backend.store, include_expired=True)
        at = now()
        current = [x for x in everything if x.is_active(at) or (x.starts_at and x.starts_at > at)]
        ended = [x for x in everything if x not in current][-20:]
        form = actions.SilenceForm.parse(
            request.args.get("rule", ""),
            "\n".join(request.args.getlist("match")),
            request.args.get("until", ""),
            request.args.get("comment", ""),
        )
        return page(
            "silences.html",
            title="Silences",
            current=current,
            ended=list(reversed(ended)),
            form=form,
            rule_ids=sorted(r.id for r in backend.rules),
            history=queries.console_actions(backend.store, action_prefix="silence.", limit=20),
        )

    @app.post("/silences")
    @writer
    def silences_add() -> Any:
        form = actions.SilenceForm.parse(
            request.form.get("rule", ""),
            request.form.get("matches", ""),
            request.form.get("until", ""),
            request.form.get("comment", ""),
        )
        at = now()
        try:
            if request.form.get("step") == "add":
                added = actions.add_silence(backend.store, form, actor(), at, backend.rules)
                flash(
                    f"Silence {added.id} added: {added.describe()} until "
                    f"{added.ends_at:%Y-%m-%d %H:%M} UTC.",
                    "ok",
                )
                return redirect("/silences")
            draft = actions.draft_silence(form, at, backend.rules)
        except ConfigError as exc:
            return page(
                "silence_preview.html",
                title="Silence: check the form",
                form=form,
                problems=[p.message for p in exc.problems],
                rule_ids=sorted(r.id for r in backend.rules),
            ), 400
        recent, _ = queries.list_alerts(backend.store, queries.AlertFilter(), limit=PREVIEW_ALERTS)
        muted = actions.would_mute(draft, recent, at)
        series_count = len({(r.alert.source, *r.alert.series.values()) for r in muted})
        return page(
            "silence_preview.html",
            title="Silence: preview",
            form=form,
            draft=draft,
            probe=draft.probe(at),
            items=[_alert_item(backend, r, []) for r in muted[:PAGE_SIZE]],
            muted=len(muted),
            tried=len(recent),
            series_count=series_count,
            rule_ids=sorted(r.id for r in backend.rules),
        )

    @app.post("/silences/<int:silence_id>/expire")
    @writer
    def silences_expire(silence_id: int) -> Any:
        try:
            expired = actions.expire_silence(backend.store, silence_id, actor(), now())
        except ConfigError as exc:
            abort(404, str(exc))
        flash(f"Silence {expired.id} expired ({expired.describe()}).", "ok")
        return redirect("/silences")

    # -- outbox ----------------------------------------------------------------------------
    @app.get("/outbox")
    def outbox() -> Any:
        store = backend.store
        return page(
            "outbox.html",
            title="Outbox",
            pending=queries.outbox_messages(store, states=[OUTBOX_PENDING]),
            failed=queries.outbox_messages(store, states=[OUTBOX_FAILED]),
            sent=queries.outbox_messages(store, states=[OUTBOX_SENT], limit=20),
            history=queries.console_actions(store, action_prefix="outbox.", limit=20),
        )

    @app.post("/outbox/<int:message_id>/resend")
    @writer
    def outbox_resend(message_id: int) -> Any:
        try:
            actions.resend(backend.store, message_id, actor(), now())
        except ConfigError as exc:
            flash(str(exc.problems[0].message), "error")
            return redirect("/outbox")
        flash(f"Message {message_id} is queued again; the next delivery run sends it.", "ok")
        return redirect("/outbox")

    # -- sources ---------------------------------------------------------------------------
    @app.get("/sources")
    def sources() -> Any:
        return page("sources.html", title="Sources", rows=_source_rows(backend, now()))

    @app.get("/activity")
    def activity() -> Any:
        return page(
            "activity.html",
            title="Console activity",
            history=queries.console_actions(backend.store, limit=200),
        )

    return app


NAV = (
    ("/alerts", "Alerts"),
    ("/releases", "Releases"),
    ("/silences", "Silences"),
    ("/outbox", "Outbox"),
    ("/sources", "Sources"),
    ("/activity", "Activity"),
)


def page(template: str, **context: Any) -> str:
    """Render a console page; the context processor adds the user, navigation and link helpers, so
    it needs a request context."""
    return render_template(template, **context)


def _error_page(code: int, title: str) -> Callable[[Any], tuple[str, int]]:
    def handler(exc: Any) -> tuple[str, int]:
        message = getattr(exc, "description", "") or title
        return page("error.html", title=title, message=message, code=code), code

    return handler


def _local(target: str) -> str:
    """Only a path on this console: an open redirect would let a link send people elsewhere."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/alerts"
    return target.rstrip("?") or "/alerts"


def _int(text: str | None, default: int, *, minimum: int, maximum: int | None = None) -> int:
    try:
        value = int(text) if text else default
    except ValueError:
        value = default
    value = max(minimum, value)
    return min(maximum, value) if maximum is not None else value


def _alert_filter(args: Any) -> queries.AlertFilter:
    period = (args.get("period") or "").strip() or None
    if period:
        try:
            period = month_to_period(period_to_month(period))
        except ValueError:
            abort(400, f"period {period!r}: expected YYYY-MM")
    return queries.AlertFilter(
        rule=(args.get("rule") or "").strip() or None,
        partner=(args.get("partner") or "").strip().upper() or None,
        commodity=(args.get("commodity") or "").strip() or None,
        period=period,
        severity=(args.get("severity") or "").strip() or None,
        state=(args.get("state") or "").strip() or None,
        source=(args.get("source") or "").strip() or None,
    )


def _alert_item(backend: Backend, record: queries.AlertRecord, sent: list[Any]) -> dict[str, Any]:
    from monitor.render.view import facts

    a = record.alert
    channels: dict[str, Any] = {}
    for d in sent:  # the newest message per channel tells where this alert stands there
        channels[d.channel] = d
    return {
        "record": record,
        "alert": a,
        "summary": backend.templates.render_summary(a),
        "value": filters.quantity(a.value, a.unit) if a.value == a.value else "no figure",
        "facts": facts(dict(a.context), a.unit),
        "channels": channels,
        # a notice about the monitor itself (an ops incident) has no series: its subject
        "series_path": links.series_path(a.source, a.series) if a.is_series else None,
        "subject": a.subject,
    }


def _chart_spec(backend: Backend, record: queries.AlertRecord) -> dict[str, Any] | None:
    """What the email would chart for this alert (``rendering.chart_spec``): the series, or
    the partner's share for a share alert, over the same months, read as the pipeline does."""
    import numpy as np

    from monitor.notify.base import Notice
    from monitor.notify.rendering import chart_spec
    from monitor.render.history import HISTORY_MONTHS, SHARE_CONDITIONS
    from monitor.render.view import notice_view

    a = record.alert
    if not a.is_series:
        return None
    end = period_to_month(a.period)
    months = [month_to_period(m) for m in range(end - HISTORY_MONTHS + 1, end + 1)]
    shares = a.context.get("condition") in SHARE_CONDITIONS
    values, totals = backend.store.history(
        a.source, queries.series_frame(a.series), months[0], a.period, totals=shares
    )

    def cells(row: Any) -> tuple[tuple[str, float | None], ...]:
        return tuple((p, None if v != v else float(v)) for p, v in zip(months, row, strict=True))

    share: tuple[tuple[str, float | None], ...] = ()
    if totals is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            share = cells(np.where(totals > 0, values / totals * 100.0, np.nan)[0].tolist())
    notice = Notice(a, history=cells(values[0].tolist()), share_history=share)
    spec: dict[str, Any] | None = chart_spec(notice_view(notice, backend.templates))
    return spec


def _silence_prefill(record: queries.AlertRecord) -> str:
    a = record.alert
    if not a.is_series:
        return urlencode([("rule", a.rule_id), ("match", f"subject={a.subject}")])
    return urlencode(
        [
            ("rule", a.rule_id),
            ("match", f"partner={a.partner}"),
            ("match", f"commodity={a.commodity}"),
        ]
    )


def _series_args(backend: Backend) -> tuple[str, dict[str, str]]:
    source = request.args.get("source", "")
    key = {k: request.args.get(k, "") for k in SERIES_KEY}
    if not source or not all(key.values()):
        abort(400, "a series needs source, reporter, partner, commodity, flow and measure")
    return source, key


def _series_months(
    backend: Backend, source: str, key: dict[str, str], months: int
) -> tuple[list[queries.MonthHistory], str | None, str | None]:
    """The last ``months`` months of the series that have figures, every vintage of each."""
    store = backend.store
    with store.engine.connect() as conn:
        top = conn.execute(
            sa.select(sa.func.max(s.month_state.c.period)).where(s.month_state.c.source == source)
        ).scalar()
    if top is None:
        return [], None, None
    last = month_to_period(int(top))
    first = month_to_period(int(top) - months + 1)
    frame = queries.series_vintages(store, source, key, first=first, last=last)
    return queries.month_histories(frame), first, last


def _watching_rules(backend: Backend, key: dict[str, str]) -> list[Any]:
    from monitor.engine.evaluate import select_rows

    frame = queries.series_frame(key)
    return [rule for rule in backend.rules if len(select_rows(frame, rule))]


def _series_title(source: str, key: dict[str, str]) -> str:
    imports = "import" in key["flow"]
    return (
        f"{filters.country_title(key['reporter'])}'s {'imports' if imports else 'exports'} of "
        f"{filters.commodity(key['commodity'])} {'from' if imports else 'to'} "
        f"{filters.country(key['partner'])} ({key['measure']}, {source})"
    )


def _source_rows(backend: Backend, now: datetime) -> list[dict[str, Any]]:
    from monitor.daemon import calendar

    store = backend.store
    states = {st.source: st for st in store.source_states()}
    with store.engine.connect() as conn:
        latest = dict(
            conn.execute(
                sa.select(s.month_state.c.source, sa.func.max(s.month_state.c.period)).group_by(
                    s.month_state.c.source
                )
            ).all()
        )
    rows = []
    for name, options in sorted(backend.config.sources.items()):
        state = states.get(name)
        top = latest.get(name)
        newest = month_to_period(int(top)) if top is not None else None
        expected = None
        if options.calendar is not None and top is not None:
            cal = calendar.gacc_calendar(options.calendar)
            expected = cal.expected_release(month_to_period(int(top) + 1))
        if options.calendar is not None:
            schedule = "calendar: gacc"
        else:
            schedule = options.schedule or calendar.DEFAULT_SCHEDULE
        rows.append(
            {
                "name": name,
                "type": options.type,
                "schedule": schedule,
                "state": state,
                "newest": newest,
                "next_poll": backend.next_poll(name),
                "expected": expected,
            }
        )
    return rows


def _filters(app: Flask) -> None:
    def when(value: datetime | None) -> str:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "—"

    def ago(value: datetime | None, now: datetime) -> str:
        if value is None:
            return "never"
        seconds = int((now - value).total_seconds())
        if seconds == 0:
            return "now"
        future = seconds < 0
        seconds = abs(seconds)
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds >= size:
                text = f"{seconds // size}{unit}"
                break
        else:
            text = f"{seconds}s"
        return f"in {text}" if future else f"{text} ago"

    def next_month(period: str) -> str:
        return month_to_period(period_to_month(period) + 1)

    app.jinja_env.filters.update(
        next_month=next_month,
        quantity=filters.quantity,
        month_name=filters.month_name,
        country=filters.country,
        commodity=filters.commodity,
        when=when,
        ago=ago,
    )
