"""Nurture administrators may unlock a user locked out by failed logins (django-axes' records)."""

from django.apps.registry import Apps
from django.contrib.auth.management import create_permissions
from django.contrib.contenttypes.management import create_contenttypes
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from nurture.roles import ensure_roles


def grant(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # Permissions are normally created after all migrations ran; the roles need axes's now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_contenttypes(app_config, verbosity=0, apps=apps)
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    ensure_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("nurture", "0012_import_job"),
        ("axes", "0010_accessattemptexpiration"),
    ]
    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
