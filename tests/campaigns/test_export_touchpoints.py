"""export_touchpoints: JSON and CSV, date filters, formula neutralisation."""

from __future__ import annotations

import csv
import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from nurture.lib.csvsafe import neutralise
from tests.factories import make_customer, make_rule, make_touchpoint

D = dt.date

pytestmark = pytest.mark.django_db


def export(*args):
    out = StringIO()
    call_command("export_touchpoints", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def touchpoints(alice):
    ada = make_customer(external_id="C-1", first_name="Ada", last_name="Lovelace", account_manager=alice)
    call_rule, card_rule = make_rule(slug="test-call"), make_rule(action="card", slug="test-card")
    return [
        make_touchpoint(customer=ada, rule=call_rule, due_on=D(2025, 3, 10), status="done", outcome="reached"),
        make_touchpoint(
            customer=make_customer(external_id="C-2", first_name="Bo", last_name="Peep"),
            rule=card_rule,
            kind="card",
            occurs_on=D(2025, 3, 14),
            due_on=D(2025, 3, 11),
            late=True,
        ),
        make_touchpoint(
            customer=ada, rule=call_rule, due_on=D(2025, 3, 12), status="cancelled", cancel_reason="milestone moved"
        ),
    ]


def test_json_is_one_record_per_touchpoint(touchpoints):
    records = json.loads(export("--format", "json"))

    assert records == [
        {
            "customer": "C-1",
            "customer_name": "Ada Lovelace",
            "rule": "test-call",
            "kind": "call",
            "occurs_on": "2025-03-10",
            "due_on": "2025-03-10",
            "status": "done",
            "outcome": "reached",
            "assignee": "alice",
            "late": False,
            "cancel_reason": "",
        },
        {
            "customer": "C-2",
            "customer_name": "Bo Peep",
            "rule": "test-card",
            "kind": "card",
            "occurs_on": "2025-03-14",
            "due_on": "2025-03-11",
            "status": "pending",
            "outcome": "",
            "assignee": None,
            "late": True,
            "cancel_reason": "",
        },
        {
            "customer": "C-1",
            "customer_name": "Ada Lovelace",
            "rule": "test-call",
            "kind": "call",
            "occurs_on": "2025-03-12",
            "due_on": "2025-03-12",
            "status": "cancelled",
            "outcome": "",
            "assignee": "alice",
            "late": False,
            "cancel_reason": "milestone moved",
        },
    ]


def test_json_of_nothing_is_an_empty_array():
    assert json.loads(export("--format", "json")) == []


def test_csv_has_a_header_and_text_booleans(touchpoints):
    rows = list(csv.DictReader(StringIO(export("--format", "csv"))))

    assert [row["customer"] for row in rows] == ["C-1", "C-2", "C-1"]
    assert rows[1] == {
        "customer": "C-2",
        "customer_name": "Bo Peep",
        "rule": "test-card",
        "kind": "card",
        "occurs_on": "2025-03-14",
        "due_on": "2025-03-11",
        "status": "pending",
        "outcome": "",
        "assignee": "",
        "late": "true",
        "cancel_reason": "",
    }
    assert rows[0]["late"] == "false"


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_it_filters_on_due_dates_inclusively(touchpoints, fmt):
    output = export("--format", fmt, "--from", "2025-03-11", "--to", "2025-03-12")

    if fmt == "json":
        due = [record["due_on"] for record in json.loads(output)]
    else:
        due = [row["due_on"] for row in csv.DictReader(StringIO(output))]
    assert due == ["2025-03-11", "2025-03-12"]


def test_it_filters_on_one_end_only(touchpoints):
    assert [r["due_on"] for r in json.loads(export("--format", "json", "--to", "2025-03-10"))] == ["2025-03-10"]
    assert [r["due_on"] for r in json.loads(export("--format", "json", "--from", "2025-03-12"))] == ["2025-03-12"]


@pytest.mark.parametrize(("option", "value"), [("--from", "2025-13-01"), ("--to", "yesterday")])
def test_a_bad_date_names_the_option_and_value(option, value):
    with pytest.raises(CommandError, match=f"{option} '{value}' is not a date"):
        export("--format", "json", option, value)


def test_from_after_to_is_an_error():
    with pytest.raises(CommandError, match="is after --to"):
        export("--format", "csv", "--from", "2025-03-12", "--to", "2025-03-11")


def test_csv_neutralises_formulas():
    for name in ('=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)"):
        make_touchpoint(customer=make_customer(first_name=name, last_name=""), due_on=D(2025, 3, 10))
    for reason in ("\tTab", "\rReturn"):
        make_touchpoint(due_on=D(2025, 3, 11), status="cancelled", cancel_reason=reason)

    rows = list(csv.DictReader(StringIO(export("--format", "csv"))))

    assert [row["customer_name"] for row in rows[:4]] == ['\'=HYPERLINK("http://x")', "'+1", "'-2", "'@SUM(A1)"]
    assert [row["cancel_reason"] for row in rows[4:]] == ["'\tTab", "'\rReturn"]
    assert json.loads(export("--format", "json"))[0]["customer_name"] == '=HYPERLINK("http://x")'


def test_neutralise_leaves_ordinary_text_alone():
    assert neutralise("Ada Lovelace") == "Ada Lovelace"
    assert neutralise("2025-03-10") == "2025-03-10"
    assert neutralise("") == ""
    assert neutralise("a=b") == "a=b"


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_it_writes_to_a_file(touchpoints, tmp_path, fmt):
    target = tmp_path / f"out.{fmt}"
    err = StringIO()

    call_command("export_touchpoints", "--format", fmt, "--output", str(target), stdout=StringIO(), stderr=err)

    text = target.read_text(encoding="utf-8")
    count = len(json.loads(text)) if fmt == "json" else len(list(csv.DictReader(StringIO(text))))
    assert count == 3
    assert f"Exported 3 touchpoints to {target}" in err.getvalue()


def test_an_unwritable_output_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="Cannot write"):
        export("--format", "json", "--output", str(tmp_path / "missing" / "out.json"))


def test_it_reads_all_rows_in_one_streamed_query(touchpoints, django_assert_num_queries):
    with django_assert_num_queries(1):
        export("--format", "json")
