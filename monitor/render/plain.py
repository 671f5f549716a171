"""Plain renderings of the bundled templates, in Python: the last fallback when a template fails.

They take the same variables as the templates (monitor.render.view) and say the same things with
no layout, so a message whose templates broke still carries every figure. No Jinja here: nothing
in these functions can be broken by a template or a rule's summary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from html import escape
from typing import Any

from monitor.render import filters

Variables = Mapping[str, Any]


def _headline(v: Variables) -> str:
    kind = v.get("kind")
    count = int(v.get("count") or 0)
    s = "s" if count != 1 else ""
    if kind == "revised":
        what = f"revised alert{s}"
    elif kind == "resolved":
        what = f"alert{s} that no longer hold" + ("s" if count == 1 else "")
    else:
        what = f"alert{s}"
    line = f"{count} {what} from {v.get('source')}"
    if v.get("release_date"):
        line += f" (released {v['release_date']})"
    return line


def _test_line(v: Variables) -> str:
    return f"[TEST] customs-monitor test message for channel {v.get('channel')}: nothing fired."


def notice_lines(n: Variables) -> list[str]:
    """One notice: the summary, what changed or its figures, the rule."""
    lines = [f"[{n.get('severity')}] {n.get('summary_text')}"]
    lines.append(str(n.get("change_text") or "; ".join(n.get("figures") or [])))
    if n.get("spark"):
        history = n.get("history") or []
        lines.append(
            f"{n['spark']}  ({len(history)} months from "
            f"{filters.month_name(n.get('history_from'))}, {n.get('history_known')} known)"
        )
    lines.append(f"rule {n.get('rule')}")
    return lines


def _source_line(v: Variables) -> str:
    line = f"Source: {v.get('source')}"
    if v.get("release_date"):
        line += f", released {v['release_date']}"
    if v.get("source_url"):
        line += f": {v['source_url']}"
    return line


def digest_text(v: Variables) -> str:
    """A digest as plain text (also the email's text body): the headline, each shown notice, how
    many more, the source."""
    parts = [_test_line(v)] if v.get("test") else []
    parts += [_headline(v), ""]
    for n in v.get("notices") or []:
        first, *rest = notice_lines(n)
        parts += [f"- {first}", *(f"  {line}" for line in rest)]
    if v.get("more"):
        parts.append(f"... and {v['more']} more")
    parts += ["", _source_line(v)]
    return "\n".join(parts)


def subject(v: Variables) -> str:
    """The email subject: the alert's summary when there is one alert, else the count, source and
    months; ``[TEST]`` and ``Revised:``/``No longer holds:`` in front where they apply."""
    prefix = "[TEST] " if v.get("test") else ""
    kind = v.get("kind")
    change = {"revised": "Revised: ", "resolved": "No longer holds: "}.get(str(kind), "")
    top = v.get("top")
    if v.get("count") == 1 and isinstance(top, Mapping):
        what = str(top.get("summary_text"))
    else:
        names = ", ".join(v.get("period_names") or [])
        what = f"{v.get('count')} alerts from {v.get('source')} ({names})"
    return f"{prefix}[customs-monitor] {change}{what}"


def slack_header(v: Variables) -> str:
    """The Slack header: the subject without its ``[customs-monitor]`` tag."""
    return subject(v).replace("[customs-monitor] ", "", 1)


def slack_notice(v: Variables) -> str:
    """One notice (``n``) for Slack, each line escaped for mrkdwn."""
    n = v.get("n") or {}
    return "\n".join(filters.mrkdwn(line) for line in notice_lines(n))


def slack_footer(v: Variables) -> str:
    """The Slack footer: the source, release date, source URL and release number, with the test note
    in a test message; escaped for mrkdwn."""
    line = _source_line(v).replace(", released", " · released")
    if v.get("release_id") is not None:
        line += f" · release #{v['release_id']}"
    if v.get("test"):
        channel = v.get("channel")
        line = f"Test message from customs-monitor (channel {channel}): nothing fired. · {line}"
    return filters.mrkdwn(line)


def notice_text(v: Variables) -> str:
    """One notice (``n``) as a plain-text list item."""
    first, *rest = notice_lines(v.get("n") or {})
    return "\n".join([f"- {first}", *(f"  {line}" for line in rest)])


def _html_notice(n: Variables) -> str:
    lines = notice_lines(n)
    body = "".join(f"<p>{escape(line)}</p>" for line in lines[1:])
    image = ""
    if n.get("chart_cid"):
        image = f'<img src="cid:{escape(str(n["chart_cid"]))}" alt="chart" width="560">'
    return f"<div><p><strong>{escape(lines[0])}</strong></p>{body}{image}</div>"


def body_html(v: Variables) -> str:
    """The email's HTML body as a whole page, every text escaped; a notice's chart shown when the
    email attached one (``chart_cid``)."""
    parts = [f"<p><strong>{escape(_test_line(v))}</strong></p>"] if v.get("test") else []
    parts.append(f"<h2>{escape(_headline(v))}</h2>")
    parts += [_html_notice(n) for n in v.get("notices") or []]
    if v.get("more"):
        parts.append(f"<p>… and {int(v['more'])} more.</p>")
    parts.append(f"<p>{escape(_source_line(v))}</p>")
    title = escape(str(v.get("subject") or subject(v)))
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body>{''.join(parts)}</body></html>"
    )


def notice_html(v: Variables) -> str:
    """One notice (``n``) as an HTML block, with its chart when the email attached one."""
    return _html_notice(v.get("n") or {})


def report_html(v: Variables) -> str:
    """The ``backtest --report`` page without charts: each rule's alerts, summaries and figures."""
    parts = [f"<h1>{escape(str(v.get('title')))}</h1>", f"<p>{v.get('total')} alerts</p>"]
    for section in v.get("sections") or []:
        parts.append(f"<h2>{escape(str(section['rule']))}</h2>")
        for item in section["items"]:
            alert = item["alert"]
            value = filters.quantity(alert.value, alert.unit)
            facts = "; ".join([f"{value} in {filters.month_name(alert.period)}", *item["facts"]])
            parts.append(
                f"<p><strong>{escape(str(item['summary']))}</strong><br>{escape(facts)}</p>"
            )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="generator" content="customs-monitor">'
        f"<title>{escape(str(v.get('title')))}</title></head><body>{''.join(parts)}</body></html>"
    )


#: bundled template name -> its plain rendering
PLAIN: dict[str, Callable[[Variables], str]] = {
    "text/digest.txt.j2": digest_text,
    "text/notice.txt.j2": notice_text,
    "email/body.txt.j2": digest_text,
    "email/subject.txt.j2": subject,
    "email/body.html.j2": body_html,
    "email/notice.html.j2": notice_html,
    "slack/header.txt.j2": slack_header,
    "slack/notice.md.j2": slack_notice,
    "slack/footer.md.j2": slack_footer,
    "report/report.html.j2": report_html,
}
