"""NetworkPolicy on the local cluster's real node is enforced, as production relies on:
kube-router's firewall controller runs in the node's network namespace (k8s/local/node.sh).
Two students' workstations there, each with the policy the platform makes for it
(labplatform/cluster/manifests.py, workstation_network_policy): one student listens in their
shell, the other tries to connect to it from theirs. Everything is typed into the students'
terminals through the platform's own exec path.

The connection is refused while the policies are in place, and succeeds once both are
deleted, so the refusal is the policies' doing and not the network's; each policy alone
(the listener's ingress, the caller's egress) refuses it too. The API relay, which the
policy allows, stays reachable."""

import pytest
from kubernetes import client

from tests.kube import wait_for
from tests.real_node import result, students_on_the_node, typed

pytestmark = pytest.mark.local_cluster

PORT = 8080
# The workstation image has perl (Debian's perl-base) but no socat, nc or python3: a server
# that answers every connection with "hi", left running in the student's shell.
LISTENER = (
    "nohup perl -MIO::Socket::INET -e '"
    f"my $s = IO::Socket::INET->new(LocalPort => {PORT}, Listen => 8, ReuseAddr => 1) or die; "
    'while (my $c = $s->accept) { print $c "hi\\n"; close $c }'
    "' >/dev/null 2>&1 & true"
)


@pytest.fixture(scope="module")
def students(kube):
    yield from students_on_the_node(2)


def connect(host: str, key: str) -> str:
    """A shell line that connects to HOST:PORT and prints `RESULT key <first line>`, or
    `RESULT key closed` if no connection is made (refused or silently dropped)."""
    return (
        f"timeout 5 bash -c 'exec 3<>/dev/tcp/{host}/{PORT} && read -r line <&3 && "
        f'echo "RESULT {key} $line"\' 2>/dev/null || echo "RESULT {key} closed"'
    )


def pod_ip(kube, spec) -> str:
    return client.CoreV1Api(kube).read_namespaced_pod(f"ws-{spec.student}", spec.workstation_namespace).status.pod_ip


def policy_name(spec) -> str:
    return f"ws-{spec.student}"


class Policies:
    """The students' workstation NetworkPolicies, as the platform made them: deleted and put
    back as they were."""

    def __init__(self, kube, specs):
        self.api = client.NetworkingV1Api(kube)
        self.kube = kube
        self.saved = {}
        for spec in specs:
            found = self.api.read_namespaced_network_policy(policy_name(spec), spec.workstation_namespace)
            body = kube.sanitize_for_serialization(found)
            metadata = body["metadata"]
            body["metadata"] = {k: metadata[k] for k in ("name", "namespace", "labels", "annotations") if k in metadata}
            body.pop("status", None)
            self.saved[spec.student] = body

    def present(self, spec) -> bool:
        try:
            self.api.read_namespaced_network_policy(policy_name(spec), spec.workstation_namespace)
        except client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def delete(self, spec) -> None:
        self.api.delete_namespaced_network_policy(policy_name(spec), spec.workstation_namespace)

    def restore(self, spec) -> None:
        if not self.present(spec):
            self.api.create_namespaced_network_policy(spec.workstation_namespace, self.saved[spec.student])


@pytest.fixture(scope="module")
def listening(kube, students):
    """The second student's shell runs the listener; it answers inside their own pod."""
    _, other = students
    typed(other, LISTENER)

    def answers_itself():
        return result(typed(other, connect("127.0.0.1", "self")), "self") == "hi"

    wait_for(f"the listener in {other.student}'s workstation", answers_itself, timeout=60, interval=1)
    return pod_ip(kube, other)


def settles(me, host: str, expected: str, why: str) -> str:
    """Tries from `me`'s terminal until the connection's outcome is `expected` (kube-router
    applies a policy change within seconds), then tries once more and returns that outcome."""
    wait_for(why, lambda: result(typed(me, connect(host, "peer")), "peer") == expected, timeout=90, interval=1)
    return result(typed(me, connect(host, "peer")), "peer")


def test_a_workstation_cannot_connect_to_another_students_workstation(students, listening):
    me, other = students
    assert settles(me, listening, "closed", f"{me.student} refused by the policies") == "closed"
    # The listener is there all along: it answers in its own pod.
    assert result(typed(other, connect("127.0.0.1", "self")), "self") == "hi"


def test_without_the_policies_it_connects_and_each_policy_alone_refuses_it(kube, students, listening):
    me, other = students
    policies = Policies(kube, students)
    try:
        policies.delete(other)
        outcome = settles(me, listening, "closed", "refused by the caller's egress policy alone")
        assert outcome == "closed", "the caller's egress policy must refuse it alone"

        policies.delete(me)
        outcome = settles(me, listening, "hi", "a connection with neither policy")
        assert outcome == "hi", "without NetworkPolicy the workstations reach each other: the test means something"

        policies.restore(other)
        outcome = settles(me, listening, "closed", "refused by the listener's ingress policy alone")
        assert outcome == "closed", "the listener's ingress policy must refuse it alone"
    finally:
        for spec in students:
            policies.restore(spec)
    assert policies.present(me) and policies.present(other)
    assert settles(me, listening, "closed", "refused again with both policies back") == "closed"


def test_the_api_relay_stays_reachable_under_the_policy(kube, students):
    me, _ = students
    assert Policies(kube, students).present(me)
    output = typed(
        me,
        "kubectl create configmap reached --from-literal=a=b >/dev/null && "
        "kubectl get configmap reached -o jsonpath='{.data.a}' | sed 's/^/RESULT kubectl /'; echo; "
        "timeout 3 bash -c 'exec 3<>/dev/tcp/10.250.0.1/6443' 2>/dev/null "
        '&& echo "RESULT relay open" || echo "RESULT relay closed"',
    )
    assert result(output, "kubectl") == "b"
    assert result(output, "relay") == "open"
