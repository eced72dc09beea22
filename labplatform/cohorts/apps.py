"""Cohorts and who is in them: clusters, cohorts, enrollments, rosters, invites,
quota presets, announcements and the banners students see."""

from django.apps import AppConfig


class CohortsConfig(AppConfig):
    name = "labplatform.cohorts"
    label = "cohorts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from labplatform.cluster.registry import registered_clusters_use
        from labplatform.cohorts.access_changes import connect_receivers
        from labplatform.cohorts.models import Cluster

        def kubeconfig_of(name: str) -> str | None:
            cluster = Cluster.objects.filter(name=name).only("kubeconfig_path").first()
            return None if cluster is None else cluster.kubeconfig_path

        registered_clusters_use(kubeconfig_of)
        connect_receivers()
