"""The CSV import's referred_by column: a referral per row that names its referrer, all rows or
none, each guard reported on its line and column; the export writes the column back."""

from __future__ import annotations

import pytest

from nurture.models import Customer, Referral
from nurture.selectors import customer_export
from nurture.services.importing import ImportFailed, import_customers
from tests.factories import make_customer

pytestmark = pytest.mark.django_db
HEADER = "external_id,first_name,last_name,email,referred_by\n"


def csv(*lines: str) -> bytes:
    return (HEADER + "".join(line + "\n" for line in lines)).encode()


def errors(data: bytes) -> list[tuple[int, str]]:
    with pytest.raises(ImportFailed) as exc:
        import_customers(data=data)
    return [(error.line, error.column) for error in exc.value.errors]


def test_a_row_naming_its_referrer_makes_a_referral_and_the_same_file_again_makes_none():
    make_customer(external_id="REF-1")
    data = csv(
        "NEW-1,Grace,Hopper,grace@example.com,REF-1",
        "NEW-2,Alan,Turing,,NEW-3",  # a referrer further down the same file
        "NEW-3,Ada,Lovelace,,",
    )
    result = import_customers(data=data)
    assert result.referrals_created == 2 and "2 referrals created" in result.summary()
    pairs = sorted(Referral.objects.values_list("referrer__external_id", "referred__external_id", "source", "status"))
    assert pairs == [("NEW-3", "NEW-2", "import", "qualified"), ("REF-1", "NEW-1", "import", "qualified")]
    again = import_customers(data=data)
    assert (again.referrals_created, again.changing) == (0, 0)
    assert Referral.objects.count() == 2


def test_every_guard_is_reported_on_its_line_and_column_and_nothing_is_imported():
    make_customer(external_id="REF-1", email="ref@example.com")
    make_customer(external_id="OLD-1")
    assert errors(csv("NEW-1,Grace,Hopper,,NEW-1")) == [(2, "referred_by")]  # self
    assert errors(csv("NEW-1,Grace,Hopper,,NOBODY")) == [(2, "referred_by")]
    assert errors(csv("NEW-1,Grace,Hopper,,REF-1", "OLD-1,Old,Customer,,REF-1")) == [(3, "referred_by")]
    assert errors(csv("NEW-1,Grace,Hopper,REF@example.com,REF-1")) == [(2, "email")]
    assert not Customer.objects.filter(external_id="NEW-1").exists()
    assert not Referral.objects.exists()
    with pytest.raises(ImportFailed) as exc:
        import_customers(data=csv("OLD-1,Old,Customer,,REF-1"))
    assert "line 2, referred_by: OLD-1 was already a customer" in str(exc.value.errors[0])


def test_the_export_writes_the_referrer_and_imports_back_unchanged():
    make_customer(external_id="REF-1")
    import_customers(data=csv("NEW-1,Grace,Hopper,,REF-1"))
    fields = customer_export.fields()
    assert "referred_by" in fields
    rows = {row["external_id"]: row for row in customer_export.rows(Customer.objects.all(), fields)}
    assert (rows["NEW-1"]["referred_by"], rows["REF-1"]["referred_by"]) == ("REF-1", "")
