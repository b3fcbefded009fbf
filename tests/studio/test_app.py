"""The studio's HTTP API on a real loopback server: the loop over HTTP, validation, security."""

from __future__ import annotations

import re

import httpx
import pytest

from prefspace.exceptions import ConfigError
from prefspace.studio import StudioConfig, StudioServer, build_studio, create_studio_app


def _studio(small_pool, db, **config):
    return build_studio(
        small_pool["pool"],
        db,
        id_key="id",
        features=small_pool["features"],
        prompt_features=small_pool["prompt_features"],
        config=StudioConfig(**config),
    )


@pytest.fixture(scope="module")
def served(small_pool, tmp_path_factory):
    studio = _studio(
        small_pool, tmp_path_factory.mktemp("app") / "labels.sqlite", batch_size=8, rounds=2
    )
    with StudioServer(create_studio_app(studio)) as server:
        assert server.url.startswith("http://127.0.0.1:")
        yield server, studio
    studio.store.close()


@pytest.fixture(scope="module")
def client(served):
    server, _ = served
    with httpx.Client(base_url=server.url, timeout=60) as c:
        c.headers["X-CSRF-Token"] = c.get("/api/session").json()["csrf"]
        yield c


def test_the_page_and_its_headers(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp
        and "frame-ancestors 'none'" in csp
    )
    assert r.headers["x-content-type-options"] == "nosniff"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, flags=re.S)
    assert scripts and all(
        'src="/static/' in attrs and body.strip() == "" for attrs, body in scripts
    )  # no inline code
    token = re.search(r'name="csrf-token" content="([^"]+)"', r.text).group(1)
    assert token == client.headers["X-CSRF-Token"]
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "textContent" in js.text and "innerHTML" not in js.text
    assert client.get("/static/nope.js").status_code == 404


def test_label_a_batch_over_http_and_see_the_refit(client, served, small_pool):
    gold = {r["id"]: r["gold"] for r in small_pool["rows"]}
    seen = set()
    for _ in range(8):
        r = client.post("/api/next", json={"annotator": "web", "wait_s": 5})
        assert r.status_code == 200, r.text
        pair = r.json()["pair"]
        assert pair["pair_id"] not in seen
        seen.add(pair["pair_id"])
        label = "a" if gold[pair["id_a"]] >= gold[pair["id_b"]] else "b"
        r = client.post(
            "/api/judgments",
            json={
                "annotator": "web",
                "pair_id": pair["pair_id"],
                "label": label,
                "reason": "  clearer  ",
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["judgment"]["label"] == label
    # the next request waits (bounded) for the background refit and the next batch
    r = client.post("/api/next", json={"annotator": "web", "wait_s": 30})
    assert r.json()["status"] == "ok" and r.json()["pair"]["batch"] == 2
    state = client.get("/api/state", params={"annotator": "web"}).json()
    assert state["model"]["version"] == 1 and state["model"]["n_labels"] == 8
    assert state["progress"]["session"] == 8 and state["progress"]["batch"] == 2
    assert state["curve"][0]["labels"] == 8
    # the body is StudioState.to_json(), field for field and in order (what the page reads)
    _, studio = served
    assert state == studio.state("web").to_json()
    assert list(state) == [
        "held",
        "status",
        "finished",
        "error",
        "progress",
        "model",
        "curve",
        "agreement",
        "settings",
    ]
    assert list(state["progress"]) == [
        "session",
        "judgments",
        "labels",
        "skipped",
        "batch",
        "batch_size",
        "batch_done",
        "left_in_batch",
        "rounds",
    ]
    assert list(state["model"]) == [
        "version",
        "head",
        "n_labels",
        "cv_accuracy",
        "cv_low",
        "cv_high",
        "cv_folds",
        "fit_seconds",
        "cv_seconds",
        "note",
        "length_accuracy",
        "vs_length",
        "vs_length_low",
        "vs_length_high",
    ]
    assert list(state["curve"][0]) == ["version", "labels", "accuracy", "low", "high"]
    assert list(state["agreement"]) == ["pairs", "judgments", "percent", "alpha"]
    assert state["settings"] == {
        "strategy": "random",
        "batch_size": 8,
        "explore": 0.2,
        "overlap": 1,
        "pool": {"kind": "within", "candidates": 120, "responses": 60},
    }
    assert isinstance(state["held"], list) and len(state["held"]) == 1  # the pair it was given


def test_bad_requests_are_4xx_never_500(client, served):
    _, studio = served
    pair = client.post("/api/next", json={"annotator": "bad", "wait_s": 30}).json()["pair"]
    ok = {"annotator": "bad", "pair_id": pair["pair_id"], "label": "a"}
    cases = [
        ({**ok, "pair_id": "r1|r2"}, 404, "no pair"),
        ({**ok, "label": "A"}, 422, "label must be one of"),
        ({**ok, "label": None}, 422, "label must be one of"),
        ({**ok, "annotator": ""}, 422, "annotator must be"),
        ({**ok, "annotator": "<script>"}, 422, "annotator must be"),
        ({**ok, "annotator": 5}, 422, "annotator must be"),
        ({**ok, "pair_id": 7}, 422, "pair_id must be"),
        ({**ok, "reason": "x" * 2001}, 422, "reason must be"),
        ({**ok, "reason": ["x"]}, 422, "reason must be"),
        ({**ok, "extra": 1}, 422, "unknown field"),
        (["not", "an", "object"], 422, "JSON object"),
    ]
    for body, status, text in cases:
        r = client.post("/api/judgments", json=body)
        assert r.status_code == status and text in r.json()["error"], (body, r.status_code, r.text)
    r = client.post(
        "/api/judgments", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]
    r = client.post(
        "/api/judgments", content=b"\xff\xfe", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    r = client.post(
        "/api/judgments", content=b"[" * 70_000, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    for wait in (-1, 31, "5", True):
        assert (
            client.post("/api/next", json={"annotator": "bad", "wait_s": wait}).status_code == 422
        )
    assert client.get("/api/state", params={"annotator": "a/b"}).status_code == 422
    assert client.post("/api/judgments", json=ok).status_code == 201
    r = client.post("/api/judgments", json=ok)
    assert r.status_code == 409 and "already judged" in r.json()["error"]
    assert sum(j["annotator"] == "bad" for j in studio.store.judgments()) == 1


def test_csrf_origin_content_type_and_host(served, client):
    server, _ = served
    body = {"annotator": "evil", "wait_s": 0}
    with httpx.Client(base_url=server.url, timeout=30) as bare:
        r = bare.post("/api/next", json=body)
        assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
        r = bare.post("/api/next", json=body, headers={"X-CSRF-Token": "guess"})
        assert r.status_code == 403
    csrf = client.headers["X-CSRF-Token"]
    r = client.post(
        "/api/next",
        content=b"annotator=evil",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415  # a plain HTML form cannot post here
    r = client.post("/api/next", json=body, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    r = client.post("/api/next", json=body, headers={"Origin": server.url, "X-CSRF-Token": csrf})
    assert r.status_code == 200
    r = client.get("/api/state", headers={"Host": "evil.example"})  # DNS rebinding
    assert r.status_code == 421
    r = client.get("/api/state", headers={"Host": f"localhost:{server.port}"})
    assert r.status_code == 200


def test_other_hosts_need_a_token(small_pool, tmp_path):
    studio = _studio(small_pool, tmp_path / "t.sqlite", batch_size=4)
    with pytest.raises(ConfigError, match="needs an access token"):
        create_studio_app(studio, host="0.0.0.0")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        create_studio_app(studio, host="0.0.0.0", token="short")
    token = "a-long-enough-token-123"
    # served on loopback here (tests never listen elsewhere), with the token the other host would need
    with StudioServer(create_studio_app(studio, token=token)) as server:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.get("/api/state").status_code == 401
            assert c.get("/").status_code == 401
            assert c.get("/?token=wrong-token-wrong-token").status_code == 401
            r = c.get(f"/?token={token}", follow_redirects=False)
            assert r.status_code == 303 and "httponly" in r.headers["set-cookie"].lower()
            assert "samesite=strict" in r.headers["set-cookie"].lower()
            assert c.get("/").status_code == 200  # the cookie now does
            assert c.get("/health").status_code == 200
        with httpx.Client(
            base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as c:
            csrf = c.get("/api/session").json()["csrf"]
            r = c.post("/api/next", json={"annotator": "t"}, headers={"X-CSRF-Token": csrf})
            assert r.status_code == 200 and r.json()["status"] == "ok"
    studio.store.close()


def test_hostile_bodies_get_4xx_never_500(client):
    """Deep nesting, an integer longer than Python converts, a lone surrogate: 4xx, and the studio still works."""
    pair = client.post("/api/next", json={"annotator": "hostile", "wait_s": 30}).json()["pair"]

    def post(raw):
        return client.post(
            "/api/judgments",
            content=raw,  # noqa: E731
            headers={"Content-Type": "application/json"},
        )

    r = post(b"[" * 30_000)
    assert r.status_code == 400 and "nested too deeply" in r.json()["error"]
    r = post(
        b'{"annotator": "hostile", "pair_id": "x", "label": "a", "reason": ' + b"7" * 5000 + b"}"
    )
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]
    lone = (
        b'{"annotator": "hostile", "pair_id": "%s", "label": "a", "reason": "why \\ud800"}'
        % pair["pair_id"].encode()
    )
    r = post(lone)
    assert (
        r.status_code == 422 and "reason" in r.json()["error"] and "surrogate" in r.json()["error"]
    )
    r = post(b'{"annotator": "hostile", "pair_id": "p\\udfff", "label": "a"}')
    assert r.status_code == 422 and "pair_id" in r.json()["error"]
    r = client.post("/api/next", json={"wait_s": 0})
    assert r.status_code == 422 and "missing field 'annotator'" in r.json()["error"]
    ok = {"annotator": "hostile", "pair_id": pair["pair_id"], "label": "a", "reason": "fine"}
    assert client.post("/api/judgments", json=ok).status_code == 201


def test_undo_takes_back_the_last_judgment_and_gives_the_pair_again(make_studio):
    studio = make_studio(batch_size=6)
    with (
        StudioServer(create_studio_app(studio)) as server,
        httpx.Client(base_url=server.url, timeout=60) as c,
    ):
        c.headers["X-CSRF-Token"] = c.get("/api/session").json()["csrf"]
        r = c.post("/api/undo", json={"annotator": "u"})
        assert r.status_code == 409 and "no judgment to undo" in r.json()["error"]
        first = c.post("/api/next", json={"annotator": "u"}).json()["pair"]
        assert (
            c.post(
                "/api/judgments", json={"annotator": "u", "pair_id": first["pair_id"], "label": "a"}
            ).status_code
            == 201
        )
        second = c.post("/api/next", json={"annotator": "u"}).json()["pair"]
        assert second["pair_id"] != first["pair_id"]
        r = c.post("/api/undo", json={"annotator": "u"})
        assert r.status_code == 200 and r.json()["undone"] == {
            "judgment_id": 1,
            "pair_id": first["pair_id"],
            "label": "a",
        }
        assert r.json()["pair"]["pair_id"] == first["pair_id"]
        assert studio.store.judgments() == [] and studio.state("u").progress.session == 0
        # the undone pair comes back first, held for this annotator, and can be judged anew
        assert (
            c.post("/api/next", json={"annotator": "u"}).json()["pair"]["pair_id"]
            == first["pair_id"]
        )
        r = c.post(
            "/api/judgments", json={"annotator": "u", "pair_id": first["pair_id"], "label": "b"}
        )
        assert r.status_code == 201
        assert [(j["pair_id"], j["label"]) for j in studio.store.judgments()] == [
            (first["pair_id"], "b")
        ]


def test_a_wrong_type_or_key_in_a_body_names_the_field(client):
    cases = [
        ("/api/next", {"annotator": "typed", "wait_s": "5"}, "wait_s must be a number"),
        ("/api/next", {"annotator": ["typed"]}, "annotator must be a name"),
        ("/api/undo", {"annotator": "typed", "pair_id": "x"}, "unknown field(s) 'pair_id'"),
        ("/api/release", {"annotator": "typed", "pair_id": None}, "pair_id must be the id"),
    ]
    for path, body, text in cases:
        r = client.post(path, json=body)
        assert r.status_code == 422 and text in r.json()["error"], (path, body, r.text)
    r = client.post("/api/undo", json={"annotator": "typed", "pair_id": "x"})
    assert "accepted fields: annotator." in r.json()["error"]
