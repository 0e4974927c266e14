from datetime import date

import pytest

from campaigns.printing.messages import (
    MERGE_FIELDS,
    MESSAGE_MAX_LENGTH,
    TEMPLATE_MAX_DEPTH,
    TEMPLATE_MAX_LENGTH,
    MessageTemplateError,
    check_template,
    merge_fields,
    ordinal,
    render_message,
    whole_years,
)

FIELDS = {
    "first_name": "Ann",
    "last_name": "Lee",
    "full_name": "Ann Lee",
    "company": "Acme",
    "years_as_customer": "5",
    "years_together": "5 years",
    "anniversary_ordinal": "5th",
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
        "years_together": "5 years",
        "anniversary_ordinal": "5th",
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


# --- Merge fields as a person writes them ------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "written"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (10, "10th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (101, "101st"),
        (102, "102nd"),
        (111, "111th"),
        (112, "112th"),
        (113, "113th"),
        (121, "121st"),
    ],
)
def test_ordinal(number, written):
    assert ordinal(number) == written


def fields_after(years: int, *, became: date | None = None) -> dict[str, str]:
    milestone = date(2020, 3, 14)
    return merge_fields(
        first_name="Ann",
        last_name="Lee",
        company="",
        became_customer_on=became,
        milestone_date=milestone,
        today=milestone.replace(year=milestone.year + years),
        account_manager_name="",
        signature="",
    )


@pytest.mark.parametrize(
    ("years", "together", "anniversary"),
    [(1, "1 year", "1st"), (2, "2 years", "2nd"), (3, "3 years", "3rd"), (11, "11 years", "11th")],
)
def test_years_and_anniversaries_read_as_a_person_writes_them(years, together, anniversary):
    fields = fields_after(years)

    assert (fields["years_as_customer"], fields["years_together"], fields["anniversary_ordinal"]) == (
        str(years),
        together,
        anniversary,
    )
    message = render_message("Happy {{ anniversary_ordinal }} anniversary: {{ years_together }}!", fields)
    assert message == f"Happy {anniversary} anniversary: {together}!"
    assert "(s)" not in message


def test_the_anniversary_counts_the_milestone_and_the_years_the_customer():
    # A placement anniversary of someone who became a customer years before the placement.
    fields = fields_after(2, became=date(2015, 1, 1))

    assert (fields["anniversary_ordinal"], fields["years_together"]) == ("2nd", "7 years")


# --- Limits: a template from a form never costs more than a bounded amount of work ---------------


def nested_ifs(depth: int) -> str:
    return "{% if first_name %}" * depth + "x" + "{% endif %}" * depth


@pytest.mark.parametrize("depth", [TEMPLATE_MAX_DEPTH + 1, 50, 500])
def test_deep_nesting_is_refused_with_the_problem_named_never_a_recursion_error(depth):
    for attempt in (check_template, lambda source: render_message(source, FIELDS)):
        with pytest.raises(MessageTemplateError, match=r"nested more than|characters long"):
            attempt(nested_ifs(depth))


def test_500_levels_are_refused_for_their_depth_even_without_the_size_limit(monkeypatch):
    monkeypatch.setattr("campaigns.printing.messages.TEMPLATE_MAX_LENGTH", 10**6)

    with pytest.raises(MessageTemplateError, match=rf"nested more than {TEMPLATE_MAX_DEPTH} deep \(line 1\)"):
        check_template(nested_ifs(500))


def test_nesting_up_to_the_limit_is_fine():
    assert render_message(nested_ifs(TEMPLATE_MAX_DEPTH), FIELDS) == "x"
    # Blocks one after another are not nested.
    assert render_message(nested_ifs(TEMPLATE_MAX_DEPTH) * 3, FIELDS) == "xxx"


def test_a_recursion_error_inside_the_template_engine_is_a_template_error(monkeypatch):
    def too_deep(*args, **kwargs):
        raise RecursionError

    monkeypatch.setattr("django.template.base.Template.render", too_deep)
    with pytest.raises(MessageTemplateError, match="nested too deeply"):
        render_message("Dear {{ last_name }} (a template not compiled yet)", FIELDS)


def test_a_huge_template_is_refused_with_the_limit_named():
    huge = "Dear {{ first_name }}, " + "a" * TEMPLATE_MAX_LENGTH

    with pytest.raises(MessageTemplateError, match=rf"at most {TEMPLATE_MAX_LENGTH:,} are allowed"):
        check_template(huge)
    with pytest.raises(MessageTemplateError, match="characters long"):
        render_message(huge, FIELDS)


def test_a_template_that_renders_a_huge_message_is_refused():
    # Small enough as a template, but every merge field makes it longer than a card carries.
    source = "{{ full_name }} {{ company }} " * 120
    assert len(source) <= TEMPLATE_MAX_LENGTH

    with pytest.raises(MessageTemplateError, match=r"would be [\d,]+ characters long; a card carries at most 1,000"):
        check_template(source)
    with pytest.raises(MessageTemplateError, match=rf"a card carries at most {MESSAGE_MAX_LENGTH:,}"):
        render_message(source, FIELDS)


def test_a_huge_merge_field_cannot_blow_the_message_up():
    # A caller's value longer than a whole message is cut before rendering; the message is refused.
    with pytest.raises(MessageTemplateError, match="a card carries at most"):
        render_message("{{ company }}" * 5, {**FIELDS, "company": "x" * 10**6})
    assert len(render_message("{{ company }}", {**FIELDS, "company": "x" * 10**6})) == MESSAGE_MAX_LENGTH
