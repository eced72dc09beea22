class ClusterError(Exception):
    """Base for failures the gateway reports in words a user can act on."""


class UnknownCluster(ClusterError):
    pass


class ClusterUnavailable(ClusterError):
    """The API server could not be reached, timed out, or refused our credentials."""


class PodMissing(ClusterError):
    """An exec was asked for a pod that does not exist (a workstation deleted or never made)."""
