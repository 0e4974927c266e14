import datetime as dt
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from campaigns.models import Touchpoint
from nurture.models import Customer, Milestone
from nurture.services.importing import ImportFailed, import_customers

pytestmark = pytest.mark.django_db

HEADER = (
    "external_id,first_name,last_name,company,email,country,region,time_zone,account_manager,tags,status,"
    "became_customer,birthday\n"
)
GOOD = (
    HEADER
    + """\
C-1,Ada,Lovelace,Analytical Ltd,ada@example.com,GB,,Europe/London,alice,vip;founders,active,2024-03-01,\
1815-12-10
C-2,Grace,Hopper,,grace@example.com,US,NY,America/New_York,,,,2025-06-30,
C-3,Katherine,Johnson,NASA,,US,,America/New_York,alice,vip,paused,2023-01-15,
"""
)


def test_a_good_file_imports_customers_milestones_and_tags(alice):
    result = import_customers(data=GOOD.encode())

    assert (result.created, result.updated, result.unchanged) == (3, 0, 0)
    assert (result.milestones_created, result.tags_created) == (4, ["founders", "vip"])
    ada = Customer.objects.get(external_id="C-1")
    assert (ada.account_manager, ada.time_zone, ada.country) == (alice, "Europe/London", "GB")
    assert sorted(ada.tags.values_list("slug", flat=True)) == ["founders", "vip"]
    assert sorted(ada.milestones.values_list("kind__slug", "date")) == [
        ("became_customer", dt.date(2024, 3, 1)),
        ("birthday", dt.date(1815, 12, 10)),
    ]
    assert Customer.objects.get(external_id="C-2").status == "active"
    assert Customer.objects.get(external_id="C-3").status == "paused"


def test_importing_the_same_file_again_changes_nothing(alice):
    import_customers(data=GOOD.encode())
    stamps = dict(Customer.objects.values_list("external_id", "updated_at"))
    milestones = sorted(Milestone.objects.values_list("customer__external_id", "kind__slug", "date", "updated_at"))

    again = import_customers(data=GOOD.encode())

    assert (again.created, again.updated, again.unchanged, again.milestones_created) == (0, 0, 3, 0)
    assert dict(Customer.objects.values_list("external_id", "updated_at")) == stamps
    assert sorted(Milestone.objects.values_list("customer__external_id", "kind__slug", "date", "updated_at")) == (
        milestones
    )


def test_a_changed_row_updates_only_that_customer(alice):
    import_customers(data=GOOD.encode())
    changed = GOOD.replace("Grace,Hopper,", "Grace,Hopper-Murray,").replace("2025-06-30", "2025-07-01")

    result = import_customers(data=changed.encode())

    assert (result.updated, result.unchanged, result.milestones_updated) == (1, 2, 1)
    grace = Customer.objects.get(external_id="C-2")
    assert grace.last_name == "Hopper-Murray"
    assert grace.milestones.get().date == dt.date(2025, 7, 1)


def test_another_column_order_imports_the_same(alice):
    import_customers(data=GOOD.encode())
    lines = [line.split(",") for line in GOOD.strip().splitlines()]
    order = list(reversed(range(len(lines[0]))))
    shuffled = "\n".join(",".join(cells[i] for i in order) for cells in lines) + "\n"

    result = import_customers(data=shuffled.encode())

    assert (result.created, result.updated, result.unchanged) == (0, 0, 3)


def test_a_file_with_bad_rows_imports_nothing_and_names_every_problem(alice):
    bad = (
        "external_id,first_name,last_name,country,region,time_zone,account_manager,became_customer\n"
        "C-1,Ada,Lovelace,GB,,Mars/Base,,2024-03-01\n"
        "C-2,Grace,Hopper,XX,,UTC,,2024-02-30\n"
        "C-3,Kath,Johnson,US,ZZ,UTC,nobody,2024-01-01\n"
        "C-1,Ada,Again,GB,,UTC,,2024-03-01\n"
        "C-5,,Nameless,GB,,UTC,,\n"
        "C-6,Good,Row,GB,,UTC,alice,2024-03-01\n"
    )
    with pytest.raises(ImportFailed) as caught:
        import_customers(data=bad.encode())

    messages = [str(error) for error in caught.value.errors]
    assert any("line 2, time_zone" in m and "Mars/Base" in m for m in messages)
    assert any("line 3, country" in m and "XX" in m for m in messages)
    assert any("line 3, became_customer" in m and "2024-02-30" in m for m in messages)
    assert any("line 4, region" in m and "ZZ" in m for m in messages)
    assert any("line 4, account_manager" in m and "nobody" in m for m in messages)
    assert any("line 5, external_id" in m and "duplicate" in m and "line 2" in m for m in messages)
    assert any("line 6, first_name" in m for m in messages)
    assert len(messages) == 7
    assert not Customer.objects.exists()


def test_unknown_and_missing_columns_are_reported():
    with pytest.raises(ImportFailed) as caught:
        import_customers(data=b"external_id,first_name,shoe_size\nC-1,Ada,38\n")
    messages = [str(error) for error in caught.value.errors]
    assert "header, last_name: required column is missing" in messages
    assert any("shoe_size" in m and "unknown column" in m for m in messages)


def test_a_dry_run_writes_nothing(alice):
    result = import_customers(data=GOOD.encode(), dry_run=True)
    assert (result.created, result.dry_run) == (3, True)
    assert "would import" in result.summary()
    assert not Customer.objects.exists()
    assert not Milestone.objects.exists()


def test_the_command_imports_and_fails_loudly(alice, tmp_path: Path, capsys):
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    call_command("import_customers", str(good), "--dry-run")
    assert not Customer.objects.exists()
    call_command("import_customers", str(good))
    assert Customer.objects.count() == 3
    assert "3 customers created" in capsys.readouterr().out

    bad = tmp_path / "bad.csv"
    bad.write_text("external_id,first_name,last_name,time_zone\nC-9,X,Y,Nowhere/Land\n")
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_customers", str(bad))
    assert "line 2, time_zone" in capsys.readouterr().err
    assert Customer.objects.count() == 3


def test_imported_customers_are_planned_by_the_next_sweep(alice):
    from campaigns.services import planning

    planning.plan()
    today = dt.date.today()
    data = f"external_id,first_name,last_name,became_customer\nC-1,Ada,Lovelace,{today - dt.timedelta(days=3)}\n"
    import_customers(data=data.encode())

    planning.plan()

    assert Touchpoint.objects.filter(customer__external_id="C-1", rule__slug="welcome-call").exists()


@pytest.mark.parametrize(
    "written", ["do-not-contact", "Do not contact", "do_not_contact", " DO NOT CONTACT ", "Do-Not_Contact"]
)
def test_it_reads_a_status_as_people_write_it(written):
    import_customers(data=f"external_id,first_name,last_name,status\nC-1,Ada,Lovelace,{written}\n".encode())

    assert Customer.objects.get(external_id="C-1").status == Customer.Status.DO_NOT_CONTACT


def test_it_lists_the_accepted_statuses_for_an_unknown_one():
    with pytest.raises(ImportFailed) as caught:
        import_customers(data=b"external_id,first_name,last_name,status\nC-1,Ada,Lovelace,Frozen\n")

    [message] = [str(error) for error in caught.value.errors]
    assert message.startswith("line 2, status: unknown status 'Frozen'")
    assert "active, paused, do not contact, churned" in message


def test_it_imports_a_tier_in_lower_case():
    import_customers(data=b"external_id,first_name,last_name,tier\nC-1,Ada,Lovelace, Gold \nC-2,Grace,Hopper,\n")

    assert dict(Customer.objects.values_list("external_id", "tier")) == {"C-1": "gold", "C-2": ""}


def test_a_file_without_a_tier_column_keeps_the_tiers():
    import_customers(data=b"external_id,first_name,last_name,tier\nC-1,Ada,Lovelace,gold\n")
    import_customers(data=b"external_id,first_name,last_name,company\nC-1,Ada,Lovelace,Analytical\n")

    assert Customer.objects.get(external_id="C-1").tier == "gold"


def test_a_tier_that_is_not_a_slug_is_named_and_nothing_is_written():
    with pytest.raises(ImportFailed) as failed:
        import_customers(data=b"external_id,first_name,last_name,tier\nC-1,Ada,Lovelace,gold\nC-2,Bo,Li,Gold Plus\n")

    [message] = [str(error) for error in failed.value.errors]
    assert message.startswith("line 3, tier: 'gold plus' is not a tier")
    assert not Customer.objects.exists()
