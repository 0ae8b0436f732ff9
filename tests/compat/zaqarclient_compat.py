"""Drives a Zaqar v2 endpoint with the real python-zaqarclient (Debian's python3-zaqarclient, noauth), as an
OpenStack user would: queues, metadata, posts, listing, get by id, claims (update, release), deletes, pop, stats.
Prints one line per step; exits non-zero at the first thing that is not what Zaqar answers.

    /usr/bin/python3 tests/compat/zaqarclient_compat.py http://127.0.0.1:PORT
"""
import sys
import uuid

from zaqarclient.queues import client as zaqar


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail else ""), flush=True)
    if not ok:
        sys.exit(1)


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
    listing, _ = cli.queues()
    remaining = [x.name for x in listing]
    check("queues deleted", "compat-jobs" not in remaining and "compat-pop" not in remaining, str(remaining))
    print("compat: all checks passed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
