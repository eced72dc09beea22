from django.db import migrations


def register_local_cluster(apps, schema_editor):
    Cluster = apps.get_model("classroom", "Cluster")
    Cluster.objects.get_or_create(name="local", defaults={"is_local": True})


class Migration(migrations.Migration):
    dependencies = [("classroom", "0001_initial")]

    operations = [migrations.RunPython(register_local_cluster, migrations.RunPython.noop)]
