"""Threat: one tenant reaches another's data. A student reads or changes another student's
namespace, terminal, attempts, grades, quiz submissions, drill-down or provisioning
progress; an instructor reaches a cohort they do not teach; an anonymous visitor reaches
anyone's.

The pages and sockets part walks every URL pattern and socket route of the project
(tests/security/routes.py classifies each; an unclassified one fails
`test_every_url_pattern_is_classified`) and calls each on the victim's ids, as every
attacker of its class, with their own session: each is refused or answers with the
attacker's own data only; none shows the victim's data or changes any of it; and the
rightful user, asked last, gets the page (so a refusal is never that of a broken URL).

The cluster part (further down) uses the student's own ServiceAccount token, minted as
their workstation's kubeconfig gets it, against the real API server. Breadth by
SelfSubjectAccessReview and the lessons' own commands stay in
tests/integration/test_student_isolation.py; here every verb is a real request on real
objects of another student's namespace, and the objects are read back unchanged."""

import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from kubernetes import client

from labplatform import push
from labplatform.asgi import application
from labplatform.cohorts.invites import INVITE_SALT
from tests.kube import wait_for
from tests.security.routes import (
    ANONYMOUS,
    ATTACKERS,
    OUTSIDE_COHORT_A,
    OWN,
    PUBLIC,
    ROUTES,
    SOCKETS,
    STAFF,
    Route,
    classified,
    socket_routes,
    url_patterns,
)
from tests.security.sockets import socket_answer
from tests.security.tokens import answer_of, api_client, kubeconfig_file, remove, two_students
from tests.security.world import VICTIM_ANNOUNCEMENT, World, victim_state, world_make
from tests.terminals import session_cookie, socket_headers

# Pages and sockets


def test_every_url_pattern_is_classified():
    """A URL added without saying who may use it fails here: add it to ROUTES in
    tests/security/routes.py, with the victim's ids, and its attackers are tried."""
    found = url_patterns()
    missing = sorted(f"{name} ({route})" for name, (route, _) in found.items() if classified(name) is None)
    assert not missing, f"URL patterns not classified in tests/security/routes.py ROUTES: {missing}"
    stale = sorted(name for name in ROUTES if name != "admin:*" and name not in found)
    assert not stale, f"ROUTES lists patterns the project no longer has: {stale}"


def test_every_socket_route_is_classified():
    routes = socket_routes()
    missing = sorted(set(routes) - set(SOCKETS))
    assert not missing, f"socket routes not classified in tests/security/routes.py SOCKETS: {missing}"
    assert not set(SOCKETS) - set(routes), (
        f"SOCKETS lists routes routing.py no longer has: {set(SOCKETS) - set(routes)}"
    )


@pytest.fixture
def world(db) -> World:
    return world_make()


@pytest.fixture(scope="module")
def browser() -> Client:
    """One client for the module, signed in as each user in turn: every new Client builds
    its own middleware, and WhiteNoise's then indexes node_modules (seconds each)."""
    return Client()


def as_user(client: Client, world: World, who: str) -> Client:
    """The client with the user's own session (none for anonymous)."""
    client.cookies.clear()
    if who != ANONYMOUS:
        client.force_login(getattr(world, who).user if who != "staff" else world.staff)
    return client


def call(client: Client, route: Route, world: World):
    if route.method == "GET":
        return client.get(route.path(world))
    return client.post(route.path(world), route.data(world))


def sent_to_sign_in(response) -> bool:
    return response.status_code == 302 and re.match(r"^/(admin/)?login/\?next=", response["Location"]) is not None


def leaked(world: World, who: str, body: str) -> list[str]:
    """What of the victim's (or, to those outside it, of cohort A's) the answer shows."""
    markers = list(world.markers) if who != "victim" else []
    if who in OUTSIDE_COHORT_A:
        markers += [VICTIM_ANNOUNCEMENT, world.cohort_a.name]
    return [marker for marker in markers if marker in body]


PAGE_ROUTES = sorted(name for name, route in ROUTES.items() if isinstance(route, Route))


@pytest.mark.parametrize("name", PAGE_ROUTES)
def test_no_attacker_reads_or_changes_the_victims_data_through_a_page(world, browser, name):
    route: Route = ROUTES[name]
    before = victim_state(world)
    for who in ATTACKERS[route.access]:
        response = call(as_user(browser, world, who), route, world)
        body = response.content.decode(errors="replace")
        where = f"{route.method} {route.path(world)} as {who}: {response.status_code}"
        if who == ANONYMOUS:
            assert sent_to_sign_in(response), where
        elif route.access != OWN:
            assert response.status_code in (403, 404) or sent_to_sign_in(response), where
            assert response.status_code != 500, where
        assert not leaked(world, who, body), f"{where} shows the victim's {leaked(world, who, body)}"
        assert victim_state(world) == before, f"{where} changed the victim's data"
    rightful = call(as_user(browser, world, route.rightful), route, world)
    assert rightful.status_code == route.rightful_status, (name, route.rightful, rightful.status_code)
    assert not sent_to_sign_in(rightful), (name, rightful["Location"])


def admin_path(world: World, route: str, pattern) -> str:
    """The pattern's URL on the victim's rows (or any row of its model)."""
    model_admin = getattr(pattern.callback, "model_admin", None)
    model = model_admin.model if model_admin else None
    ids = {
        get_user_model(): world.victim.user.pk,
        type(world.victim): world.victim.pk,
        type(world.cohort_a): world.cohort_a.pk,
        type(world.attempt): world.attempt.pk,
        type(world.invite): world.invite.pk,
    }
    object_id = ids.get(model) or (model.objects.values_list("pk", flat=True).first() if model else None)
    if "/cohorts/cohort/" in route:
        object_id = world.cohort_a.pk
    substitutions = [
        (r"<path:content_type_id>", str(ContentType.objects.get_for_model(get_user_model()).pk)),
        (r"<path:object_id>|<id>", str(object_id or world.victim.user.pk)),
        (r"<int:user_id>", str(world.victim.user.pk)),
        (r"\^\(\?P<app_label>[^)]*\)/\$", "cohorts/"),
        (r"\(\?P<url>\.\*\)\$", "no-such-page/"),
    ]
    for converter, value in substitutions:
        route = re.sub(converter, value, route)
    assert "<" not in route and "(" not in route, f"admin route {route} has a part this test cannot fill"
    return "/" + route


def test_every_admin_page_is_staff_only(world, browser):
    """The Django admin holds every student's rows (attempts, invites, environments): every
    one of its patterns, GET and POST, sends anyone but staff to the admin's sign-in."""
    patterns = {name: item for name, item in url_patterns().items() if name.startswith("admin:")}
    assert len(patterns) > 50  # every model's pages are walked
    before = victim_state(world)
    for name, (route, pattern) in sorted(patterns.items()):
        if classified(name) == PUBLIC:
            continue
        path = admin_path(world, route, pattern)
        for who in (ANONYMOUS, "victim", "classmate", "instructor_a"):
            client = as_user(browser, world, who)
            for response in (client.get(path), client.post(path, {"password1": "x", "password2": "x"})):
                assert sent_to_sign_in(response), f"{path} as {who}: {response.status_code}"
        assert victim_state(world) == before, f"{path}: an attacker changed the victim's data"
        answer = as_user(browser, world, "staff").get(path)
        # (The autocomplete answers 403 to a request naming no field; a POST-only action 405.)
        assert answer.status_code in (200, 302, 403, 404, 405) and not sent_to_sign_in(answer), (
            path,
            answer.status_code,
        )


def test_an_invite_link_needs_its_signature(world, browser):
    """Invite links carry the invite's id signed with the secret key: the id alone, or a
    signature of another salt, opens nothing and sets no password."""
    from django.core import signing

    client = as_user(browser, world, ANONYMOUS)
    before = victim_state(world)
    forged = [
        str(world.invite.pk),
        f"{world.invite.pk}:{'A' * 43}",
        signing.Signer(salt="another-salt").sign_object(str(world.invite.pk)),
        world.invite_token[:-2] + ("AA" if not world.invite_token.endswith("AA") else "BB"),
    ]
    assert INVITE_SALT
    for token in forged:
        for response in (
            client.get(f"/invite/{token}/"),
            client.post(
                f"/invite/{token}/", {"new_password1": "Pw-for-attacker-1", "new_password2": "Pw-for-attacker-1"}
            ),
        ):
            assert response.status_code in (400, 404), (token, response.status_code)
            assert not leaked(world, ANONYMOUS, response.content.decode()), token
    assert victim_state(world) == before
    assert client.get(f"/invite/{world.invite_token}/").status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("route", sorted(SOCKETS))
async def test_no_attacker_opens_a_socket_on_the_victims_data(route):
    world = await database_sync_to_async(world_make)()
    # The victim's environment failed, everyone else's is pending: a terminal answer names
    # whose environment it looked at.
    await database_sync_to_async(lambda: type(world.classmate.environment).objects.exclude(
        pk=world.victim.environment.pk).update(state="pending"))()  # fmt: skip
    socket = SOCKETS[route]
    for who in socket.attackers:
        session = None
        if who != ANONYMOUS:
            session = await database_sync_to_async(session_cookie)(getattr(world, who).user)
        accepted, code, messages = await socket_answer(socket.path(world), session)
        said = " ".join(str(m.get("message", "")) for m in messages)
        where = f"{socket.path(world)} as {who}: accepted={accepted} code={code} {said!r}"
        if socket.access == OWN and who != ANONYMOUS:
            # Their own terminal, if any: never the victim's (failed, with a reset offered).
            assert "failed" not in said and not any(m.get("reset") for m in messages), where
        else:
            assert not accepted and code in (4401, 4403, 4404), where
        assert not leaked(world, who, said), where
    rightful = await database_sync_to_async(session_cookie)(
        world.staff if socket.rightful == "staff" else getattr(world, socket.rightful).user
    )
    accepted, code, messages = await socket_answer(socket.path(world), rightful)
    if socket.rightful_close is None:
        assert accepted, (route, code, messages)
    else:
        assert code == socket.rightful_close, (route, code, messages)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_events_pushed_to_a_student_reach_no_one_else():
    """The events socket takes no id: it joins the signed-in user's own group. A result
    pushed to the victim reaches the victim's socket and not a classmate's."""
    world = await database_sync_to_async(world_make)()
    sockets = {}
    for who in ("victim", "classmate", "instructor_a"):
        session = await database_sync_to_async(session_cookie)(getattr(world, who).user)
        sockets[who] = WebsocketCommunicator(application, "/ws/events/", headers=socket_headers(session=session))
        assert (await sockets[who].connect())[0]
    event = {"kind": "attempt", "message": world.markers[-1]}
    await database_sync_to_async(push.send)(push.to_user(world.victim.user_id, event), what="test")
    assert await sockets["victim"].receive_json_from(timeout=5) == event
    for who in ("classmate", "instructor_a"):
        assert await sockets[who].receive_nothing(timeout=1), f"{who} received the victim's event"
    for socket in sockets.values():
        await socket.disconnect()


def test_staff_routes_are_the_staff_class():
    """The staff pages' views are guarded by staff_required (or the admin's own check):
    nothing under /staff/ is classified for anyone else, except the announcements, which
    the cohort's instructors post from their dashboard."""
    for name, (route, _) in url_patterns().items():
        entry = classified(name)
        if route.startswith("staff/") and name not in {"cohort-announce", "announcement-clear"}:
            assert isinstance(entry, Route) and entry.access == STAFF, name


# The cluster, with the student's own token


@pytest.fixture(scope="module")
def pair(kube, tmp_path_factory):
    """(attacker, victim): two students provisioned as the platform does it, each with the
    same objects in their namespace (made as cluster-admin), and the attacker's client."""
    attacker, victim = two_students("tenants")
    core = client.CoreV1Api(kube)
    for spec in (attacker, victim):
        ns = spec.namespace
        core.create_namespaced_config_map(ns, {"metadata": {"name": "settings"}, "data": {"k": "v"}})
        core.create_namespaced_secret(ns, {"metadata": {"name": "creds"}, "stringData": {"password": "hunter2"}})
        core.create_namespaced_service(
            ns, {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
        )
        core.create_namespaced_pod(
            ns,
            {
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        )

    def running() -> bool:
        return all(core.read_namespaced_pod("web", s.namespace).status.phase == "Running" for s in (attacker, victim))

    wait_for("both pods running", running)
    config = kubeconfig_file(attacker, tmp_path_factory.mktemp("attacker"))
    yield attacker, victim, api_client(config)
    remove([attacker, victim])


def victim_objects(kube, namespace: str) -> dict:
    """What is in the victim's namespace, to compare before and after: names, versions and data."""
    core = client.CoreV1Api(kube)
    return {
        "pods": {p.metadata.name: p.metadata.resource_version for p in core.list_namespaced_pod(namespace).items},
        "secrets": {s.metadata.name: s.data for s in core.list_namespaced_secret(namespace).items},
        "configmaps": {c.metadata.name: c.data for c in core.list_namespaced_config_map(namespace).items},
        "services": {
            s.metadata.name: s.metadata.resource_version for s in core.list_namespaced_service(namespace).items
        },
    }


def _object(kind: str) -> dict:
    return {
        "configmaps": {"metadata": {"name": "planted"}, "data": {"k": "planted"}},
        "secrets": {"metadata": {"name": "planted"}, "stringData": {"k": "planted"}},
        "services": {"metadata": {"name": "planted"}, "spec": {"ports": [{"port": 81}]}},
        "pods": {"metadata": {"name": "planted"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
    }[kind]


EXISTING = {"configmaps": "settings", "secrets": "creds", "services": "web", "pods": "web"}
# (what, method, path under /api/v1/namespaces/NS, body, query); deletes come last, as the
# same request is then made in the attacker's own namespace, where it succeeds.
CLUSTER_ATTACKS = (
    [
        (f"{verb} {kind}", method, f"/{kind}{suffix}", body, query)
        for kind in ("pods", "secrets", "configmaps", "services")
        for verb, method, suffix, body, query in [
            ("list", "GET", "", None, ()),
            ("watch", "GET", "", None, (("watch", "true"), ("timeoutSeconds", "1"))),
            ("get", "GET", f"/{EXISTING[kind]}", None, ()),
            ("create", "POST", "", _object(kind), ()),
            ("patch", "PATCH", f"/{EXISTING[kind]}", {"metadata": {"labels": {"pwned": "yes"}}}, ()),
        ]
    ]
    + [
        ("list events", "GET", "/events", None, ()),
        ("read a pod's log", "GET", "/pods/web/log", None, ()),
        # Authorised before the upgrade: a plain POST is 403 if not allowed, else 400 (upgrade required).
        ("exec into a pod", "POST", "/pods/web/exec", None, (("command", "id"), ("stdout", "true"))),
        ("attach to a pod", "POST", "/pods/web/attach", None, (("stdout", "true"),)),
        ("port-forward to a pod", "POST", "/pods/web/portforward", None, (("ports", "80"),)),
        ("proxy to a pod", "GET", "/pods/web/proxy/", None, ()),
        ("proxy to a service", "GET", "/services/web/proxy/", None, ()),
    ]
    + [
        (f"delete {kind}", "DELETE", f"/{kind}/{EXISTING[kind]}", None, ())
        for kind in ("configmaps", "secrets", "services", "pods")
    ]
    + [(f"delete every {kind}", "DELETE", f"/{kind}", None, ()) for kind in ("configmaps", "secrets", "pods")]
)
# Rights a student has nowhere, so refused in their own namespace too.
NOWHERE = {"proxy to a pod", "proxy to a service", "delete every services"}


def rbac_refused(status: int, said: str) -> bool:
    """Refused by RBAC: 'User "system:serviceaccount:..." cannot VERB resource ...'."""
    return status == 403 and '" cannot ' in said


@pytest.mark.local_cluster
def test_a_students_token_reaches_nothing_in_another_students_namespace(kube, pair):
    attacker, victim, api = pair
    before = victim_objects(kube, victim.namespace)
    for what, method, path, body, query in CLUSTER_ATTACKS:
        status, said = answer_of(api, method, f"/api/v1/namespaces/{victim.namespace}{path}", body=body, query=query)
        assert rbac_refused(status, said), f"{what} in the other student's namespace: {status} {said[:300]}"
        assert victim.namespace in said, said
    assert victim_objects(kube, victim.namespace) == before
    # The same requests in the attacker's own namespace pass RBAC (the local cluster's
    # policy for simulated pods may still refuse an exec), so the refusals above are the
    # namespace's, not the requests'.
    for what, method, path, body, query in CLUSTER_ATTACKS:
        status, said = answer_of(api, method, f"/api/v1/namespaces/{attacker.namespace}{path}", body=body, query=query)
        if what in NOWHERE:
            assert rbac_refused(status, said), f"{what}: {status}"
        else:
            assert not rbac_refused(status, said) and status != 401 and status < 500, (
                f"{what} in their own namespace: {status} {said[:300]}"
            )


@pytest.mark.local_cluster
def test_a_students_token_lists_nothing_across_namespaces(pair):
    """No cluster-wide list of namespaced objects (kubectl get -A) and no namespace list
    that would name the other students."""
    _, victim, api = pair
    for path in [
        *(f"/api/v1/{kind}" for kind in ("pods", "secrets", "configmaps", "events", "namespaces", "serviceaccounts")),
        "/apis/apps/v1/deployments",
        "/apis/rbac.authorization.k8s.io/v1/rolebindings",
        f"/api/v1/namespaces/{victim.namespace}",
    ]:
        status, said = answer_of(api, "GET", path)
        assert rbac_refused(status, said), f"GET {path}: {status} {said[:200]}"
