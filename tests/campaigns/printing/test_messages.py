from datetime import date

import pytest

from campaigns.printing.messages import (
    MERGE_FIELDS,
    MessageTemplateError,
    check_template,
    merge_fields,
    render_message,
    whole_years,
)

FIELDS = {
    "first_name": "Ann",
    "last_name": "Lee",
    "full_name": "Ann Lee",
    "company": "Acme",
    "years_as_customer": "5",
    "milestone_date": "4 December 2020",
    "account_manager": "Jordan Smith",
    "signature": "Jordan",
}


def test_it_fills_in_merge_fields():
    source = "Dear {{ first_name }},\n\n{{ years_as_customer }} years with {{ company }}!\n\n{{ signature }}"
    assert render_message(source, FIELDS) == "Dear Ann,\n\n5 years with Acme!\n\nJordan"


def test_it_offers_if_else_and_text_filters():
    source = (
        '{% if years_as_customer == "1" %}One year{% else %}{{ years_as_customer }} years{% endif %}, '
        '{{ first_name|upper }} {{ last_name|lower }}, {{ company|default:"friend" }}, '
        "{{ years_as_customer }} year{{ years_as_customer|pluralize }}"
    )
    assert render_message(source, FIELDS) == "5 years, ANN lee, Acme, 5 years"
    assert render_message("{{ company|default:'friend' }}", {**FIELDS, "company": ""}) == "friend"


def test_it_does_not_escape_html_the_card_renderer_does():
    assert render_message("{{ company }}", {**FIELDS, "company": "Smith & <Sons>"}) == "Smith & <Sons>"


def test_if_blocks_leave_no_piles_of_blank_lines():
    source = "Dear {{ first_name }},\n\n{% if company %}\nThanks to {{ company }}.\n{% endif %}\n\n\nBye"
    assert render_message(source, {**FIELDS, "company": ""}) == "Dear Ann,\n\nBye"


def test_unknown_field_names_the_field_line_and_the_choices():
    with pytest.raises(MessageTemplateError) as error:
        check_template("Dear {{ first_name }},\n{{ frist_name }}")
    message = str(error.value)
    assert "Unknown merge field 'frist_name' (line 2)" in message
    assert "Available: " + ", ".join(MERGE_FIELDS) in message


def test_syntax_errors_name_the_problem_and_line():
    with pytest.raises(MessageTemplateError, match=r"Syntax error: .*Unclosed tag.*'if'.*\(line 3\)"):
        check_template("a\nb\n{% if first_name %}c")
    with pytest.raises(MessageTemplateError, match=r"Syntax error: Empty variable tag.*\(line 1\)"):
        check_template("{{ }}")


@pytest.mark.parametrize(
    "source",
    [
        "{{ first_name.__class__ }}",
        "{{ first_name.upper }}",
        "{{ customer.account_manager.password }}",
        "{{ first_name|default:customer.password }}",
        "{% if customer.password %}x{% endif %}",
        "{{ first_name.__class__.__mro__ }}",
    ],
)
def test_attribute_lookups_are_refused(source):
    with pytest.raises(MessageTemplateError, match="Merge fields have no attributes"):
        check_template(source)


@pytest.mark.parametrize(
    "tag",
    [
        '{% include "admin/base.html" %}',
        '{% extends "admin/base.html" %}',
        "{% load static %}",
        '{% ssi "/etc/passwd" %}',
        "{% debug %}",
        '{% url "admin:index" %}',
        "{% csrf_token %}",
        '{% now "Y" %}',
        '{% static "x.css" %}',
        "{% with a=first_name %}{{ a }}{% endwith %}",
        "{% for c in first_name %}{{ c }}{% endfor %}",
        "{% templatetag openblock %}",
        "{% widthratio 1 2 3 %}",
    ],
)
def test_tags_outside_the_allow_list_are_refused(tag):
    with pytest.raises(MessageTemplateError, match=r"is not allowed \(line 1\)"):
        check_template(tag)


@pytest.mark.parametrize("filter_", ["safe", "date:'Y'", "add:1", "pprint", "escape", "linebreaks"])
def test_filters_outside_the_allow_list_are_refused(filter_):
    with pytest.raises(MessageTemplateError, match="is not allowed"):
        check_template("{{ first_name|" + filter_ + " }}")


def test_rendering_sees_plain_strings_only():
    class Sneaky:
        password = "hunter2"

        def __str__(self) -> str:
            return "Sneaky"

    # Even if a caller passed an object, it becomes its text, and no lookup can reach inside it.
    assert render_message("{{ first_name }}", {"first_name": Sneaky()}) == "Sneaky"  # type: ignore[dict-item]
    # Names that are not merge fields cannot be used, whatever the caller passes.
    for source in ("{{ secret }}", "{% if secret %}x{% endif %}"):
        with pytest.raises(MessageTemplateError, match="Unknown merge field 'secret'"):
            render_message(source, {"secret": "1"})


def test_missing_fields_render_empty():
    assert render_message("[{{ company }}]", {}) == "[]"


def test_merge_fields():
    fields = merge_fields(
        first_name=" Ann ",
        last_name="Lee",
        company="Acme",
        became_customer_on=date(2020, 12, 4),
        milestone_date=date(2020, 12, 4),
        today=date(2025, 12, 4),
        account_manager_name="Jordan Smith",
        signature="",
    )
    assert fields == {
        "first_name": "Ann",
        "last_name": "Lee",
        "full_name": "Ann Lee",
        "company": "Acme",
        "years_as_customer": "5",
        "milestone_date": "4 December 2020",
        "account_manager": "Jordan Smith",
        "signature": "Your account manager",
    }
    assert set(fields) == set(MERGE_FIELDS)


def test_years_fall_back_to_the_milestone_date():
    fields = merge_fields(
        first_name="Ann",
        last_name="",
        company="",
        became_customer_on=None,
        milestone_date=date(2023, 6, 1),
        today=date(2025, 5, 31),
        account_manager_name="",
        signature="J.",
    )
    assert fields["years_as_customer"] == "1"
    assert fields["full_name"] == "Ann"
    assert fields["signature"] == "J."


@pytest.mark.parametrize(
    ("start", "end", "years"),
    [
        (date(2020, 12, 4), date(2025, 12, 3), 4),
        (date(2020, 12, 4), date(2025, 12, 4), 5),
        (date(2025, 12, 4), date(2025, 12, 4), 0),
        (date(2020, 2, 29), date(2025, 2, 28), 5),  # the anniversary of 29 Feb in a common year
        (date(2020, 2, 29), date(2024, 2, 28), 3),  # a leap year has its own 29 February
        (date(2020, 2, 29), date(2024, 2, 29), 4),
        (date(2020, 2, 29), date(2025, 3, 1), 5),
    ],
)
def test_whole_years(start, end, years):
    assert whole_years(start, end) == years
