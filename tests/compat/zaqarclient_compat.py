"""Drives a Zaqar v2 endpoint with the real python-zaqarclient (Debian's python3-zaqarclient, noauth), as an
OpenStack user would: queues, metadata, posts, listing, get by id, claims (update, release), deletes, pop, stats;
subscriptions (create, list, get, update, delete) with a webhook receiver of its own on 127.0.0.1 that checks what
is delivered and Daakia's X-Daakia-Signature; pre-signed URLs (signed_url(), then a client with the signed-url auth
backend). Prints one line per step; exits non-zero at the first thing that is not what Zaqar answers.

    /usr/bin/python3 tests/compat/zaqarclient_compat.py http://127.0.0.1:PORT

The server must sign URLs (Daakia:Zaqar:SignedUrlKey set) and let webhooks reach loopback (it does while it listens
on loopback only).
"""
import datetime
import hashlib
import hmac
import http.server
import json
import re
import sys
import threading
import time
import uuid

from zaqarclient.transport import errors
from zaqarclient.queues import client as zaqar
from zaqarclient.queues.v2 import core


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail else ""), flush=True)
    if not ok:
        sys.exit(1)


def raises(error, action):
    """Whether action() raises the client's error (the status it maps to: 404 ResourceNotFound, 409 ConflictError)."""
    try:
        action()
    except error:
        return True
    return False


class Receiver:
    """A webhook receiver on 127.0.0.1 with an ephemeral port: records every POST (path, headers, raw body), answers 204."""

    def __init__(self):
        self.posts = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._changed:
                    receiver.posts.append((self.path, {k.lower(): v for k, v in self.headers.items()}, raw))
                    receiver._changed.notify_all()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def at(self, path):
        with self._changed:
            return [p for p in self.posts if p[0] == path]

    def wait(self, path, count, seconds=30):
        """The POSTs to path once there are at least count of them, or what there is when the deadline passes."""
        with self._changed:
            self._changed.wait_for(lambda: len([p for p in self.posts if p[0] == path]) >= count, timeout=seconds)
            return [p for p in self.posts if p[0] == path]

    def close(self):
        self._server.shutdown()
        self._server.server_close()


def signed_by(secret, post):
    """Whether X-Daakia-Signature is sha256= + hex HMAC-SHA256(secret, X-Daakia-Timestamp + "." + raw body)."""
    _, headers, raw = post
    stamp = headers.get("x-daakia-timestamp", "")
    want = "sha256=" + hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, headers.get("x-daakia-signature", "")) and abs(time.time() - int(stamp or 0)) < 300


def notified(posts, queue, bodies):
    """The notifications' JSON are Zaqar's (body, queue_name, Message_Type) and carry exactly these bodies."""
    docs = [json.loads(raw) for _, _, raw in posts]
    return all(d.get("Message_Type") == "Notification" and d.get("queue_name") == queue for d in docs) \
        and sorted(json.dumps(d.get("body"), sort_keys=True) for d in docs) == sorted(json.dumps(b, sort_keys=True) for b in bodies)


def subscriptions(cli, other):
    receiver = Receiver()
    try:
        name = "compat-notify"
        q = cli.queue(name, force_create=True)
        secret = "compat-secret-" + uuid.uuid4().hex  # Daakia's signing_secret option: used, never shown

        # The client's Subscription: POST .../subscriptions, then GET by the id the answer names.
        a = cli.subscription(name, subscriber=receiver.url("/hook-a"), ttl=3600, options={"signing_secret": secret, "note": "a"})
        check("subscription created", bool(a.id) and a.subscriber == receiver.url("/hook-a") and a.ttl == 3600, f"{a.id} {a.subscriber} {a.ttl}")
        check("signing_secret kept out of the options", a.options == {"note": "a"}, str(a.options))
        check("subscription age", isinstance(a.age, int) and 0 <= a.age < 60, str(a.age))

        # The client's own create call hands back the whole answer: Daakia's generated signing_secret is in it.
        req, trans = cli._request_and_transport()
        created = core.subscription_create(trans, req, name, {"subscriber": receiver.url("/hook-b"), "ttl": 600})
        generated = created.get("signing_secret", "")
        check("generated signing_secret in the create answer", re.fullmatch("[0-9a-f]{64}", generated) is not None, str(created))
        b = cli.subscription(name, id=created["subscription_id"])  # an id and no subscriber: a GET
        check("subscription got by id", b.id == created["subscription_id"] and b.subscriber == receiver.url("/hook-b") and b.ttl == 600 and b.options == {},
              f"{b.id} {b.subscriber} {b.ttl} {b.options}")

        # As Zaqar (whose Redis store keeps every subscription unconfirmed): the same URI again answers 201 with the same id.
        again = cli.subscription(name, subscriber=receiver.url("/hook-a"), ttl=3600)
        check("same subscriber again: 201 with the same id", again.id == a.id, f"{again.id} {a.id}")

        listed = {s.id: s for s in q.subscriptions()}
        check("queue.subscriptions() lists both", set(listed) == {a.id, b.id}, str(sorted(listed)))
        check("listed as created", listed[a.id].subscriber == a.subscriber and listed[a.id].ttl == 3600 and listed[a.id].options == {"note": "a"}
              and listed[a.id].queue_name == name, str(vars(listed[a.id])))
        paged = [s.id for s in cli.subscriptions(name, limit=1)]
        check("client.subscriptions(queue, limit=1)", len(paged) == 1 and paged[0] in listed, str(paged))
        check("another project lists none", list(other.subscriptions(name)) == [])
        check("another project cannot get one", raises(errors.ResourceNotFound, lambda: other.subscription(name, id=a.id)))

        # Posting notifies every subscriber, one POST per message, signed with that subscription's secret.
        bodies = [{"event": "compat", "n": i} for i in range(3)]
        q.post([{"body": x, "ttl": 300} for x in bodies])
        got_a = receiver.wait("/hook-a", 3)
        got_b = receiver.wait("/hook-b", 3)
        check("webhook a notified", len(got_a) == 3 and notified(got_a, name, bodies), str([raw for _, _, raw in got_a]))
        check("webhook b notified", len(got_b) == 3 and notified(got_b, name, bodies), str([raw for _, _, raw in got_b]))
        check("notification has ttl, no id", all(json.loads(raw).get("ttl") == 300 and "id" not in json.loads(raw) for _, _, raw in got_a + got_b))
        check("X-Daakia-Signature with the given secret", all(signed_by(secret, p) for p in got_a), str([p[1] for p in got_a]))
        check("X-Daakia-Signature with the generated secret", all(signed_by(generated, p) for p in got_b))
        check("not signed with another secret", not any(signed_by(generated, p) for p in got_a))
        check("content type json", all(h.get("content-type", "").startswith("application/json") for _, h, _ in got_a + got_b))

        # Update: the client PATCHes what it is given; the options are replaced, the secret stays.
        a.update({"ttl": 7200, "options": {"note": "updated", "post_headers": {"X-Compat": "yes"}}})
        again = cli.subscription(name, id=a.id)
        check("subscription updated", again.ttl == 7200 and again.options == {"note": "updated", "post_headers": {"X-Compat": "yes"}}
              and again.subscriber == receiver.url("/hook-a"), f"{again.ttl} {again.options}")
        b.update({"subscriber": receiver.url("/hook-c")})
        check("subscriber changed", cli.subscription(name, id=b.id).subscriber == receiver.url("/hook-c"))
        check("changing to a URI already subscribed: 409", raises(errors.ConflictError, lambda: b.update({"subscriber": receiver.url("/hook-a")})))
        check("a ttl under 60 in an update: 400", raises(errors.MalformedRequest, lambda: a.update({"ttl": 30})))

        q.post([{"body": "after the update"}])
        got_a = receiver.wait("/hook-a", 4)
        got_c = receiver.wait("/hook-c", 1)
        check("updated subscription notified with post_headers", len(got_a) == 4 and got_a[-1][1].get("x-compat") == "yes"
              and json.loads(got_a[-1][2])["body"] == "after the update" and signed_by(secret, got_a[-1]), str(got_a[-1]))
        check("moved subscriber notified at its new URI", len(got_c) == 1 and json.loads(got_c[0][2])["body"] == "after the update"
              and signed_by(generated, got_c[0]), str(got_c))

        a.delete()
        b.delete()
        check("subscriptions deleted", list(q.subscriptions()) == [])
        check("deleted one is 404", raises(errors.ResourceNotFound, lambda: cli.subscription(name, id=a.id)))
        check("delete again is fine", a.delete() is None)
        q.delete()
    finally:
        receiver.close()


def signed_urls(url, cli, project):
    name = "compat-shared"
    q = cli.queue(name, force_create=True)
    before = datetime.datetime.utcnow()
    grant = q.signed_url(paths=["messages"], methods=["GET", "POST"], ttl_seconds=600)
    expires = datetime.datetime.strptime(grant.get("expires", ""), "%Y-%m-%dT%H:%M:%S")
    check("signed_url() grant", grant.get("paths") == [f"/v2/queues/{name}/messages"] and grant.get("methods") == ["GET", "POST"]
          and grant.get("project") == project and re.fullmatch("[0-9a-f]{64}", grant.get("signature", "")) is not None, str(grant))
    check("expires is the ttl from now, to the second", abs((expires - before).total_seconds() - 600) < 30, grant["expires"])
    default = q.signed_url()
    check("signed_url() defaults: messages, GET", default.get("paths") == [f"/v2/queues/{name}/messages"] and default.get("methods") == ["GET"], str(default))

    def signed_client(**change):
        options = {"expires": grant["expires"], "methods": grant["methods"], "paths": grant["paths"],
                   "signature": grant["signature"], "os_project_id": grant["project"]}
        options.update(change)
        return zaqar.Client(url, version=2, conf={"auth_opts": {"backend": "signed-url", "options": options}})

    shared = signed_client().queue(name)
    posted = shared.post([{"body": {"via": "signed"}, "ttl": 300}, {"body": {"via": "signed", "n": 2}, "ttl": 300}])
    ids = [r.split("/")[-1] for r in posted["resources"]]
    check("post through the signed URL", len(ids) == 2, str(posted))
    listed = [m.body for m in shared.messages(echo=True)]
    check("list through the signed URL", listed == [{"via": "signed"}, {"via": "signed", "n": 2}], str(listed))
    check("get by id through the signed URL", shared.message(ids[0]).body == {"via": "signed"})
    check("the owner sees them", sorted(m.id for m in q.messages()) == sorted(ids))

    check("a method not granted: 404", raises(errors.ResourceNotFound, lambda: shared.message(ids[0]).delete()))
    check("a path not granted: 404", raises(errors.ResourceNotFound, lambda: list(shared.claim(ttl=60, grace=60))))
    check("another queue: 404", raises(errors.ResourceNotFound, lambda: list(signed_client().queue("compat-other").messages(echo=True))))
    tampered = grant["signature"][:-1] + ("0" if grant["signature"][-1] != "0" else "1")
    check("a tampered signature: 404", raises(errors.ResourceNotFound, lambda: list(signed_client(signature=tampered).queue(name).messages(echo=True))))
    check("a tampered expiry: 404", raises(errors.ResourceNotFound, lambda: list(signed_client(expires="2099-01-01T00:00:00").queue(name).messages(echo=True))))
    check("another project: 404", raises(errors.ResourceNotFound, lambda: list(signed_client(os_project_id=project + "-b").queue(name).messages(echo=True))))
    check("more methods than signed: 404", raises(errors.ResourceNotFound, lambda: list(signed_client(methods=["DELETE", "GET", "POST"]).queue(name).messages(echo=True))))

    worker_grant = q.signed_url(paths=["messages", "claims"], methods=["DELETE", "GET", "PATCH", "POST"], ttl_seconds=600)
    worker = zaqar.Client(url, version=2, conf={"auth_opts": {"backend": "signed-url", "options": {
        "expires": worker_grant["expires"], "methods": worker_grant["methods"], "paths": worker_grant["paths"],
        "signature": worker_grant["signature"], "os_project_id": worker_grant["project"]}}}).queue(name)
    claim = worker.claim(ttl=60, grace=60, limit=5)
    held = list(claim)
    check("claim through a signed URL of messages and claims", sorted(m.id for m in held) == sorted(ids), str([m.id for m in held]))
    claim.update(ttl=120, grace=60)
    for m in held:
        m.delete()
    check("claimed messages deleted through it", list(q.messages(include_claimed=True)) == [])

    subs = q.signed_url(paths=["subscriptions"], methods=["GET"])
    viewer = zaqar.Client(url, version=2, conf={"auth_opts": {"backend": "signed-url", "options": {
        "expires": subs["expires"], "methods": subs["methods"], "paths": subs["paths"], "signature": subs["signature"], "os_project_id": subs["project"]}}})
    check("subscriptions listed through a signed URL", list(viewer.subscriptions(name)) == [])
    check("messages not opened by a subscriptions grant", raises(errors.ResourceNotFound, lambda: list(viewer.queue(name).messages(echo=True))))
    check("a past expiry refused", raises(errors.MalformedRequest, lambda: q.signed_url(ttl_seconds=-60)))
    q.delete()


def main(url):
    project = "compat-" + uuid.uuid4().hex[:8]
    conf = {"auth_opts": {"backend": "noauth", "options": {"os_project_id": project}}}
    cli = zaqar.Client(url, version=2, conf=conf)
    other = zaqar.Client(url, version=2, conf={"auth_opts": {"backend": "noauth", "options": {"os_project_id": project + "-b"}}})

    # A v2 queue comes with its first use (the client's queue() makes none): made here with a PUT, then patched.
    q = cli.queue("compat-jobs")
    cli.queue("compat-jobs", force_create=True)
    q.metadata(new_meta={"purpose": "compat", "_default_message_ttl": 600})
    meta = q.metadata(force_reload=True)
    check("queue metadata", meta.get("purpose") == "compat" and meta.get("_default_message_ttl") == 600, str(meta))
    listing, _ = cli.queues()
    names = [x.name for x in listing]
    check("queue listed", "compat-jobs" in names, str(names))

    posted = q.post([{"body": {"n": i}, "ttl": 300} for i in range(5)])
    ids = [r.split("/")[-1] for r in posted["resources"]]
    check("posted five", len(ids) == 5, str(posted))

    listed = [m.body["n"] for m in q.messages(echo=True)]
    check("listed with echo", listed == [0, 1, 2, 3, 4], str(listed))
    own = list(q.messages())
    check("own messages hidden without echo", own == [], str(own))

    one = q.message(ids[2])
    check("get one by id", one.body == {"n": 2} and one.ttl == 300, f"{one.body} {one.ttl}")
    some = sorted(m.body["n"] for m in q.messages(*ids[:2]))
    check("get by ids", some == [0, 1], str(some))

    claim = q.claim(ttl=120, grace=60, limit=2)
    held = list(claim)  # a claim iterates its messages once
    claimed = [m.body["n"] for m in held]
    check("claim takes the oldest", claimed == [0, 1], str(claimed))
    claim.update(ttl=300, grace=60)
    check("claim renewed", True)
    again = [m.body["n"] for m in q.claim(ttl=60, grace=60, limit=10)]
    check("second claim takes the rest", again == [2, 3, 4], str(again))

    for m in held:
        m.delete()
    check("claimed messages deleted with their claim", all(m.claim_id == claim.id for m in held))

    stats = q.stats["messages"]
    check("stats", stats["total"] == 3 and stats["claimed"] == 3 and stats["free"] == 0, str(stats))

    nothing = list(other.queue("compat-jobs").messages(echo=True, include_claimed=True))
    check("another project sees nothing", nothing == [], str(nothing))

    q2 = cli.queue("compat-pop")
    q2.post([{"body": "a"}, {"body": "b"}])
    popped = [m.body for m in q2.pop(count=1)]
    check("pop", popped == ["a"], str(popped))
    q2.delete_messages(*[m.id for m in q2.messages(echo=True)])
    check("delete by ids", list(q2.messages(echo=True)) == [])

    q.delete()
    q2.delete()

    subscriptions(cli, other)
    signed_urls(url, cli, project)

    listing, _ = cli.queues()
    remaining = [x.name for x in listing]
    check("queues deleted", not {"compat-jobs", "compat-pop", "compat-notify", "compat-shared"} & set(remaining), str(remaining))
    print("compat: all checks passed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
