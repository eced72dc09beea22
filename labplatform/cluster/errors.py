"""Every error the gateway raises. Each is a ClusterError whose message names what was
asked about and says what went wrong in words a user can act on, never a stack trace."""


class ClusterError(Exception):
    """Base for failures the gateway reports in words a user can act on."""


class UnknownCluster(ClusterError):
    pass


class ClusterUnavailable(ClusterError):
    """The API server could not be reached (connection, TLS, timeout), refused our
    credentials (401), asked us to slow down (429) or failed itself (5xx): nothing was
    said about the object, so the same request may succeed later."""


class ObjectMissing(ClusterError):
    """The API server says the object is not there (404)."""


class ObjectRefused(ClusterError):
    """The API server refused a request about an object (403, 409, 422, an admission
    policy), or the platform refused to send it; the message names the object and says why.
    `status` is the API server's HTTP status (None when the platform refused it itself)
    and `reason` what the API server said."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class UnknownKind(ClusterError):
    """A check or a setup names a kind the platform does not know how to read."""


class PodMissing(ClusterError):
    """An exec was asked for a pod that does not exist (a workstation deleted or never made)."""
