"""Card message templates: a small, locked-down subset of the Django template language.

A rule's message template is written by staff, so it runs in an engine that can do nothing but
put merge fields into text: no loaders, no tags except ``if``/``elif``/``else``/``endif``, a few
text filters, and only the names in MERGE_FIELDS as variables, without attribute lookups.
Values are plain strings. The result is plain text (no autoescaping here: the card renderer
escapes it when it lays the card out).

Everything is bounded, because the template comes from a form and the message goes to the
layout engine: a template is at most TEMPLATE_MAX_LENGTH characters with ``if`` blocks nested at
most TEMPLATE_MAX_DEPTH deep, and a message (rendered or written by hand) at most
MESSAGE_MAX_LENGTH characters. A template past a limit is refused with a message naming it,
never a RecursionError.
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

# Each merge field, with what it holds, for the rule admin's help text.
MERGE_FIELD_HELP: dict[str, str] = {
    "first_name": "the customer's first name",
    "last_name": "the customer's last name",
    "full_name": "first and last name",
    "company": "the customer's company (may be empty)",
    "years_as_customer": 'whole years as a customer, a number ("2")',
    "years_together": 'the same in words, as a person writes it ("1 year", "2 years")',
    "anniversary_ordinal": 'which anniversary of the milestone the card celebrates ("1st", "2nd", "11th", "21st")',
    "milestone_date": 'the milestone\'s date ("4 December 2025")',
    "account_manager": "the account manager's name",
    "signature": "the signature line (the account manager's name)",
}
MERGE_FIELDS: tuple[str, ...] = tuple(MERGE_FIELD_HELP)

ALLOWED_TAGS: tuple[str, ...] = ("if", "elif", "else", "endif")
ALLOWED_FILTERS: tuple[str, ...] = ("default", "upper", "lower", "title", "capfirst", "pluralize")

DEFAULT_SIGNATURE = "Your account manager"

# The longest message a card carries, written by hand or rendered from a template (characters).
# It bounds the fit check's layout too: nothing longer is ever laid out.
MESSAGE_MAX_LENGTH = 1000
# The longest message template, and how deep its {% if %} blocks may nest.
TEMPLATE_MAX_LENGTH = 5000
TEMPLATE_MAX_DEPTH = 10


class MessageTemplateError(ValueError):
    """A message template that cannot be used; the message says what is wrong and where."""


class MessageTooLong(MessageTemplateError):
    """The message a template makes is longer than MESSAGE_MAX_LENGTH."""

    def __init__(self, length: int) -> None:
        self.length = length
        super().__init__(too_long_message(length))


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
    depth = 0
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.VAR:
            if token.contents.strip():
                _check_expression(token.contents, parser, token.lineno or 1)
        elif token.token_type == TokenType.BLOCK:
            _check_block(token, parser)
            name = token.contents.split(None, 1)[0] if token.contents.strip() else ""
            if name == "if":
                depth += 1
                if depth > TEMPLATE_MAX_DEPTH:
                    raise MessageTemplateError(
                        f"The {{% if %}} blocks are nested more than {TEMPLATE_MAX_DEPTH} deep "
                        f"(line {token.lineno}): simplify the template."
                    )
            elif name == "endif":
                depth = max(0, depth - 1)


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


_TOO_DEEP = "The template is nested too deeply: simplify its {% if %} blocks."


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> Template:
    if len(source) > TEMPLATE_MAX_LENGTH:
        raise MessageTemplateError(
            f"The template is {len(source):,} characters long; at most {TEMPLATE_MAX_LENGTH:,} are allowed."
        )
    try:
        _check_tokens(source)
        return _engine().from_string(source)
    except TemplateSyntaxError as exc:
        debug = getattr(exc, "template_debug", None)
        lineno = debug.get("line") if isinstance(debug, dict) else None
        raise MessageTemplateError(_syntax_message(str(exc), lineno)) from None
    except RecursionError:
        raise MessageTemplateError(_TOO_DEEP) from None


def _normalise(source: str) -> str:
    return source.replace("\r\n", "\n").replace("\r", "\n")


def too_long_message(length: int) -> str:
    """What is wrong with a message of `length` characters (over MESSAGE_MAX_LENGTH)."""
    return f"The message is {length:,} characters long; a card carries at most {MESSAGE_MAX_LENGTH:,}."


def check_template(source: str) -> None:
    """Raise MessageTemplateError unless the template can be rendered, into a message a card can
    carry (tried with typical merge fields)."""
    try:
        render_message(source, sample_fields())
    except MessageTooLong as exc:
        raise MessageTemplateError(
            f"With typical merge fields the message would be {exc.length:,} characters long; "
            f"a card carries at most {MESSAGE_MAX_LENGTH:,}."
        ) from None


def render_message(source: str, fields: Mapping[str, str]) -> str:
    """The message for one card: the template with its merge fields filled in, as plain text.

    Raises MessageTemplateError when the template cannot be used or the message it makes is
    longer than MESSAGE_MAX_LENGTH. A field's value longer than a whole message is cut to that
    length first, so the text rendered before the check is bounded too.
    """
    template = _compile(_normalise(source))
    values = {name: str(fields.get(name, ""))[:MESSAGE_MAX_LENGTH] for name in MERGE_FIELDS}
    try:
        text = template.render(Context(values, autoescape=False))
    except RecursionError:
        raise MessageTemplateError(_TOO_DEEP) from None
    lines = [line.rstrip() for line in text.split("\n")]
    # An {% if %} on a line of its own leaves a blank line behind: keep at most one.
    message = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(message) > MESSAGE_MAX_LENGTH:
        raise MessageTooLong(len(message))
    return message


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


_ORDINAL_SUFFIXES = {1: "st", 2: "nd", 3: "rd"}


def ordinal(number: int) -> str:
    """As a person writes it: "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "101st"."""
    suffix = "th" if number % 100 in (11, 12, 13) else _ORDINAL_SUFFIXES.get(number % 10, "th")
    return f"{number}{suffix}"


def years_in_words(years: int) -> str:
    """ "1 year", "2 years", "0 years"."""
    return f"{years} year" if years == 1 else f"{years} years"


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
    years = whole_years(became_customer_on or milestone_date, today)
    return {
        "first_name": first_name.strip(),
        "last_name": last_name.strip(),
        "full_name": " ".join(part for part in (first_name.strip(), last_name.strip()) if part),
        "company": company.strip(),
        "years_as_customer": str(years),
        "years_together": years_in_words(years),
        "anniversary_ordinal": ordinal(whole_years(milestone_date, today)),
        "milestone_date": format_date(milestone_date),
        "account_manager": account_manager_name.strip(),
        "signature": signature.strip() or DEFAULT_SIGNATURE,
    }


@functools.cache
def sample_fields() -> dict[str, str]:
    """Typical values, for trying a template out when it is saved."""
    return merge_fields(
        first_name="Alexandra",
        last_name="Morgan",
        company="Morgan & Reid Ltd",
        became_customer_on=date(2021, 3, 14),
        milestone_date=date(2021, 3, 14),
        today=date(2024, 3, 14),
        account_manager_name="Jordan Smith",
        signature="Jordan Smith",
    )
