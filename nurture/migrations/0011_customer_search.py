"""The customer search at a million customers: pg_trgm and a trigram index per searched column.

The admin's customer search (CustomerAdmin.search_fields) runs ``UPPER(col::text) LIKE UPPER('%term%')``
on first name, last name, company and e-mail; a GIN trigram index on ``UPPER(col)`` serves each, and
PostgreSQL ORs them (BitmapOr). The touchpoint, milestone and card lists search the same customer
columns through their customer. PostgreSQL only: on SQLite this migration does nothing.

Non-atomic: the indexes are built with CREATE INDEX CONCURRENTLY, so the customers stay writable
while they build (nurture/lib/migrations.py; docs/operations.md, "Upgrading").
"""

from django.db import migrations

from nurture.lib.migrations import AddTrigramIndex, CreateExtension


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("nurture", "0010_customer_list_indexes"),
    ]

    operations = [
        CreateExtension("pg_trgm"),
        AddTrigramIndex(model_name="customer", field="first_name", name="customer_first_name_trgm"),
        AddTrigramIndex(model_name="customer", field="last_name", name="customer_last_name_trgm"),
        AddTrigramIndex(model_name="customer", field="company", name="customer_company_trgm"),
        AddTrigramIndex(model_name="customer", field="email", name="customer_email_trgm"),
    ]
