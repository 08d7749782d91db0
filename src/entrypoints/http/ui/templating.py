"""The UI's templates: Jinja2 with autoescaping on (titles, descriptions and comments come from alerts
and users), undefined names an error, and the few filters the pages format times with."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar.plugins.htmx import HTMXTemplate
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from entrypoints.http.controllers.service import STATIC_PATH, service_version

TEMPLATES = Path(__file__).parent / "templates"

# The pages run only the service's own script and stylesheet (htmx is configured by a meta tag, its
# inline indicator style switched off), post forms only to the service, and are framed by nobody.
UI_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
UI_HEADERS = {"Content-Security-Policy": UI_CSP}


def static(path: str) -> str:
    """A static file's URL; the version in it makes a browser fetch the file anew after an upgrade
    (static files are cached for a year)."""
    return f"{STATIC_PATH}/{path}?v={service_version()}"


def duration(seconds: float) -> str:
    """A short human duration: 45 s, 12 min, 3 h 20 min, 2 d 4 h."""
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def age(then: datetime, now: datetime) -> str:
    return duration((now - then).total_seconds())


def until(then: datetime, now: datetime) -> str:
    left = (then - now).total_seconds()
    if left < 1:
        return "due now"
    return f"in {duration(left if left < 60 else math.ceil(left / 60) * 60)}"  # 4:59 to go reads "5 min"


def utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def label(value: Any) -> str:
    """An enum value or identifier as words: notification_failed -> notification failed."""
    return str(getattr(value, "value", value)).replace("_", " ")


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(static=static)
    env.filters.update(age=age, until=until, utc=utc, label=label, duration=duration)
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))


def page(template: str, *, status_code: int = 200, **context: Any) -> Template:
    """A page or fragment of the UI, with the UI's CSP."""
    return Template(template_name=template, context=context, status_code=status_code, headers=UI_HEADERS)


def fragment_into(target: str, template: str, *, status_code: int = 200, **context: Any) -> Template:
    """A fragment htmx swaps into `target` (a CSS selector) instead of the requesting element's target."""
    return HTMXTemplate(
        template_name=template,
        context=context,
        status_code=status_code,
        headers=dict(UI_HEADERS),
        re_target=target,
        re_swap="innerHTML",
    )
