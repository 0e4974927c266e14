import pytest
from auditlog.models import LogEntry
from django.urls import reverse

from tests.factories import make_customer

pytestmark = pytest.mark.django_db


def edit_customer(client, customer, **changes):
    data = {
        "external_id": customer.external_id,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "status": customer.status,
        "time_zone": customer.time_zone,
        "country": customer.country,
        "milestones-TOTAL_FORMS": "0",
        "milestones-INITIAL_FORMS": "0",
        "touchpoints-TOTAL_FORMS": "0",
        "touchpoints-INITIAL_FORMS": "0",
        **changes,
    }
    response = client.post(reverse("admin:nurture_customer_change", args=[customer.pk]), data)
    assert response.status_code == 302, response.context["adminform"].form.errors


def test_an_admin_edit_records_who_changed_what(alice, alice_client):
    customer = make_customer(account_manager=alice, first_name="Ada", last_name="Lovelace", time_zone="UTC")

    edit_customer(alice_client, customer, last_name="King", status="do_not_contact")

    entry = LogEntry.objects.get_for_object(customer).filter(action=LogEntry.Action.UPDATE).get()
    assert entry.actor == alice
    assert entry.changes_dict["last_name"] == ["Lovelace", "King"]
    assert entry.changes_dict["status"] == ["active", "do_not_contact"]
    assert "updated_at" not in entry.changes_dict

    history = alice_client.get(reverse("admin:nurture_customer_auditlog", args=[customer.pk]))
    assert history.status_code == 200
    assert "King" in history.content.decode()


def test_another_account_managers_audit_log_is_out_of_reach(alice_client, bob):
    customer = make_customer(account_manager=bob)

    response = alice_client.get(reverse("admin:nurture_customer_auditlog", args=[customer.pk]))

    assert response.status_code == 404
