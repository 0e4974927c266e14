import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nurture.admin.paginators import CappedCountPaginator
from nurture.models import Customer

pytestmark = pytest.mark.django_db


def test_big_lists_count_no_further_than_the_cap(client, superuser, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 10)
    Customer.objects.bulk_create([Customer(first_name=f"C{i}", last_name="X", external_id=f"E{i}") for i in range(15)])
    client.force_login(superuser)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:nurture_customer_changelist"))

    assert response.status_code == 200
    assert "more than 10 customers" in response.content.decode()
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts, "the paginator counted"
    assert all("LIMIT 11" in sql for sql in counts), counts
    # Any 11 rows answer "more than 10": the count neither sorts nor walks the list in order.
    assert not any("ORDER BY" in sql for sql in counts), counts


def test_small_lists_show_their_exact_count(client, superuser):
    Customer.objects.bulk_create([Customer(first_name=f"C{i}", last_name="X", external_id=f"E{i}") for i in range(3)])
    client.force_login(superuser)

    response = client.get(reverse("admin:nurture_customer_changelist"))

    assert "3 customers" in response.content.decode()
