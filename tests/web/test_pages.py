"""The landing page, the health check, security headers, and serving under a path prefix."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.live import LiveServer


def test_landing_page_names_the_descriptor_url(tmp_path: Path) -> None:
    with LiveServer({"DATABASE_URL": f"sqlite:///{tmp_path}/a.db"}, log_dir=tmp_path) as server:
        page = httpx.get(server.base_url + "/")
        assert page.status_code == 200
        assert f"{server.base_url}/atlassian-connect.json" in page.text
        assert "inspector is closed" in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        css = httpx.get(server.base_url + "/static/addon.css")
        assert css.status_code == 200
        assert httpx.get(server.base_url + "/healthz").json() == {"status": "ok"}
        closed = httpx.get(server.base_url + "/inspector/")
        assert closed.status_code == 404


def test_served_under_a_path_prefix_passed_through(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/p.db"}
    with LiveServer(env, log_dir=tmp_path, base_path="/jira-addon") as server:
        descriptor = httpx.get(server.url + "/jira-addon/atlassian-connect.json").json()
        assert descriptor["baseUrl"] == server.url + "/jira-addon"
        assert httpx.get(server.url + "/atlassian-connect.json").status_code == 404
        assert httpx.get(server.url + "/jira-addonx/healthz").status_code == 404
        page = httpx.get(server.url + "/jira-addon/")
        assert "/jira-addon/static/addon.css" in page.text
        missing = httpx.post(server.url + "/jira-addon/webhooks/jira/issue-updated", content=b"{}")
        assert missing.status_code == 401
        outside = httpx.post(server.url + "/webhooks/jira/issue-updated", content=b"{}")
        assert outside.status_code == 404


def test_served_under_a_prefix_stripped_by_the_proxy(tmp_path: Path) -> None:
    from tests.support.live import free_port

    port = free_port()
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/r.db",
        "ADDON_BASE_URL": f"http://127.0.0.1:{port}/jira-addon",
    }
    with LiveServer(
        env, log_dir=tmp_path, port=port, args=("--root-path", "/jira-addon")
    ) as server:
        descriptor = httpx.get(server.url + "/atlassian-connect.json").json()
        assert descriptor["baseUrl"] == server.url + "/jira-addon"
        page = httpx.get(server.url + "/")
        assert "/jira-addon/static/addon.css" in page.text
        assert httpx.get(server.url + "/static/addon.css").status_code == 200


def test_signed_install_and_webhook_under_a_prefix_both_ways(tmp_path: Path) -> None:
    from tests.auth.keyserver import KeyServer
    from tests.support.connect import ADDON_KEY, Jira
    from tests.support.live import free_port

    with KeyServer() as keys:
        for name, stripped in (("through", False), ("stripped", True)):
            port = free_port()
            database = f"sqlite:///{tmp_path}/{name}.db"
            env = {
                "DATABASE_URL": database,
                "ADDON_KEY": ADDON_KEY,
                "CONNECT_INSTALL_KEYS_URL": keys.url,
                "ADDON_BASE_URL": f"http://127.0.0.1:{port}/jira-addon",
            }
            args = ("--root-path", "/jira-addon") if stripped else ()
            prefix = "" if stripped else "/jira-addon"
            with LiveServer(
                env, log_dir=tmp_path, port=port, args=args, base_path=prefix
            ) as server:
                jira = Jira(server=server, keys=keys, database_url=database)
                addon_base = env["ADDON_BASE_URL"]
                site = jira.site()
                target = "/installed"
                token = site.install_token(addon_base_url=addon_base, target=target)
                url = server.base_url + target
                import json

                response = httpx.post(
                    url,
                    content=json.dumps(site.lifecycle_payload("installed", ADDON_KEY)),
                    headers={"Authorization": f"JWT {token}"},
                )
                assert response.status_code == 204, (name, response.text)
                hook = "/webhooks/jira/issue-updated?issueKey=PRE-1"
                token = site.token(addon_base_url=addon_base, target=hook)
                url = server.base_url + hook
                response = httpx.post(url, content=b"{}", headers={"Authorization": f"JWT {token}"})
                assert response.status_code == 204, (name, response.text)


def test_landing_page_says_what_a_user_can_do(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/l.db",
        "INSPECTOR_USERNAME": "admin",
        "INSPECTOR_PASSWORD": "change-me",
    }
    with LiveServer(env, log_dir=tmp_path) as server:
        page = httpx.get(server.base_url + "/").text
    assert 'href="/inspector/"' in page
    assert f"addon simulate install --addon {server.base_url}" in page
    assert "addon simulate send jira:issue_updated" in page
    assert "addon forge manifest" in page
    assert "administrator installs the add-on from its descriptor URL" not in page
