"""Card message templates: a small, locked-down subset of the Django template language.

A rule's message template is written by staff, so it runs in an engine that can do nothing but
put merge fields into text: no loaders, no tags except ``if``/``elif``/``else``/``endif``, a few
text filters, and only the names in MERGE_FIELDS as variables, without attribute lookups.
Values are plain strings. The result is plain text (no autoescaping here: the card renderer
escapes it when it lays the card out).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import date

from django.template import Context, Engine, Library, Template, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import FilterExpression, Lexer, Parser, Token, TokenType, Variable
from django.template.smartif import OPERATORS
from django.utils import dateformat

MERGE_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "full_name",
    "company",
    "years_as_customer",
    "milestone_date",
    "account_manager",
    "signature",
)

ALLOWED_TAGS: tuple[str, ...] = ("if", "elif", "else", "endif")
ALLOWED_FILTERS: tuple[str, ...] = ("default", "upper", "lower", "title", "capfirst", "pluralize")

DEFAULT_SIGNATURE = "Your account manager"


class MessageTemplateError(ValueError):
    """A message template that cannot be used; the message says what is wrong and where."""


def _library() -> Library:
    library = Library()
    library.tag("if", defaulttags.do_if)
    for name in ALLOWED_FILTERS:
        library.filter(name, getattr(defaultfilters, name))
    return library


class _MessageEngine(Engine):
    # Django's default builtins bring every tag (include, load, ssi, url, now...): none here.
    default_builtins: list[str] = []


@functools.cache
def _engine() -> Engine:
    engine = _MessageEngine(dirs=[], loaders=[], libraries={}, debug=True, autoescape=False)
    engine.template_builtins = [_library()]
    return engine


def _fields_list() -> str:
    return ", ".join(MERGE_FIELDS)


def _check_variable(variable: Variable, lineno: int) -> None:
    if variable.literal is not None:
        return  # a quoted string or a number
    name = variable.var
    if variable.lookups is not None and len(variable.lookups) > 1:
        raise MessageTemplateError(
            f"Merge fields have no attributes: '{name}' (line {lineno}). Available: {_fields_list()}"
        )
    if name not in MERGE_FIELDS:
        raise MessageTemplateError(f"Unknown merge field '{name}' (line {lineno}). Available: {_fields_list()}")


def _check_expression(text: str, parser: Parser, lineno: int) -> None:
    # Refuse lookups on names before Django does, with a clearer message.
    head = re.split(r"[|:]", text, maxsplit=1)[0].strip()
    if "." in head and not re.fullmatch(r"[-+]?\d*\.\d+", head) and head[:1] not in "\"'":
        raise MessageTemplateError(
            f"Merge fields have no attributes: '{head}' (line {lineno}). Available: {_fields_list()}"
        )
    try:
        expression = FilterExpression(text, parser)
    except TemplateSyntaxError as exc:
        raise MessageTemplateError(_syntax_message(str(exc), lineno)) from None
    if isinstance(expression.var, Variable):
        _check_variable(expression.var, lineno)
    for _function, arguments in expression.filters:
        for is_lookup, argument in arguments:
            if is_lookup:
                _check_variable(argument, lineno)


def _syntax_message(message: str, lineno: int | None) -> str:
    match = re.match(r"Invalid filter: '([^']*)'", message)
    where = f" (line {lineno})" if lineno else ""
    if match:
        return f"Filter '{match.group(1)}' is not allowed{where}. Allowed filters: {', '.join(ALLOWED_FILTERS)}"
    message = re.sub(r" on line \d+", "", message).rstrip(".")
    if "may not begin with underscores" in message:
        return f"Merge fields have no attributes{where}: {message.split(':', 1)[-1].strip()}"
    return f"Syntax error: {message}{where}"


def _check_tokens(source: str) -> None:
    parser = Parser([], builtins=[_engine().template_builtins[0]])
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.VAR:
            if token.contents.strip():
                _check_expression(token.contents, parser, token.lineno or 1)
        elif token.token_type == TokenType.BLOCK:
            _check_block(token, parser)


def _check_block(token: Token, parser: Parser) -> None:
    bits = token.split_contents()
    name = bits[0] if bits else ""
    if name not in ALLOWED_TAGS:
        raise MessageTemplateError(
            f"The tag {{% {name} %}} is not allowed (line {token.lineno}). Allowed tags: {', '.join(ALLOWED_TAGS)}"
        )
    if name in ("if", "elif"):
        for bit in bits[1:]:
            if bit not in OPERATORS:
                _check_expression(bit, parser, token.lineno or 1)


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> Template:
    _check_tokens(source)
    try:
        return _engine().from_string(source)
    except TemplateSyntaxError as exc:
        debug = getattr(exc, "template_debug", None)
        lineno = debug.get("line") if isinstance(debug, dict) else None
        raise MessageTemplateError(_syntax_message(str(exc), lineno)) from None


def _normalise(source: str) -> str:
    return source.replace("\r\n", "\n").replace("\r", "\n")


def check_template(source: str) -> None:
    """Raise MessageTemplateError unless the template can be rendered."""
    _compile(_normalise(source))


def render_message(source: str, fields: Mapping[str, str]) -> str:
    """The message for one card: the template with its merge fields filled in, as plain text."""
    template = _compile(_normalise(source))
    values = {name: str(fields.get(name, "")) for name in MERGE_FIELDS}
    text = template.render(Context(values, autoescape=False))
    lines = [line.rstrip() for line in text.split("\n")]
    # An {% if %} on a line of its own leaves a blank line behind: keep at most one.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def whole_years(start: date, end: date) -> int:
    """Full years from start to end; a 29 February start has its anniversary on 28 February
    in other years (the product's default for such milestones)."""
    years = end.year - start.year
    anniversary = (start.month, start.day)
    if anniversary == (2, 29) and not _is_leap(end.year):
        anniversary = (2, 28)
    if (end.month, end.day) < anniversary:
        years -= 1
    return years


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def format_date(value: date) -> str:
    """Like "4 December 2025"."""
    return str(dateformat.format(value, "j F Y"))


def merge_fields(
    *,
    first_name: str,
    last_name: str,
    company: str,
    became_customer_on: date | None,
    milestone_date: date,
    today: date,
    account_manager_name: str,
    signature: str,
) -> dict[str, str]:
    """The values of the merge fields for one card.

    ``today`` is the day the message speaks of: pass the date the card is meant to arrive (the
    touchpoint's occurrence date), not the day it is drafted, so that an anniversary card drafted
    a week early still counts the year that is being celebrated.
    """
    return {
        "first_name": first_name.strip(),
        "last_name": last_name.strip(),
        "full_name": " ".join(part for part in (first_name.strip(), last_name.strip()) if part),
        "company": company.strip(),
        "years_as_customer": str(whole_years(became_customer_on or milestone_date, today)),
        "milestone_date": format_date(milestone_date),
        "account_manager": account_manager_name.strip(),
        "signature": signature.strip() or DEFAULT_SIGNATURE,
    }
