"""AppTest of the login gate on every page, on a real workspace: nothing on a loopback server,
a refusal in one line when shared without a login, a password form that admits only a
configured user (whose name becomes the reviewer) when shared with one."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from engine import auth

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]


@pytest.fixture
def shared():
    """The server option as `--server.address 192.0.2.2` sets it (restored afterwards)."""
    before = config.get_option("server.address")
    config.set_option("server.address", "192.0.2.2")
    yield
    config.set_option("server.address", before)


def _run(page: Path, secrets: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(page), default_timeout=120)
    for key, value in (secrets or {}).items():
        at.secrets[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def test_every_page_starts_with_the_shared_setup():
    for page in PAGES:
        tree = ast.parse(page.read_text())
        if page.name == "app.py":  # the router: its home page is the function `home`
            tree = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "home")
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        names = [ast.unparse(c.func) for c in sorted(calls, key=lambda c: (c.lineno, c.col_offset))]
        st_calls = [n for n in names if n.startswith(("st.", "ui."))]
        assert st_calls[0] == "ui.setup_page", f"{page.name}: first call is {st_calls[0]}"
        assert "st.set_page_config" not in names


def test_loopback_server_asks_no_login(app_workspace):
    at = _run(ROOT / "app.py")
    assert at.title[0].value == "Seedbed" and not at.error
    assert "c4" in at.dataframe[0].value["corpus"].tolist()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_shared_server_without_a_login_refuses_every_page_in_one_line(app_workspace, shared, page):
    at = _run(page)
    assert len(at.error) == 1 and "refusing to serve the dashboard on 192.0.2.2 without a login" in at.error[0].value
    assert "\n" not in at.error[0].value
    assert not at.dataframe and not at.text_input and not at.button  # nothing of the workspace shown


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_shared_server_asks_every_page_for_a_password(app_workspace, shared, page):
    users = {"seedbed": {"users": {"ann": auth.hash_password("open sesame")}}}
    at = _run(page, users)
    assert [t.label for t in at.text_input] == ["Name", "Password"]
    assert not at.dataframe and not at.sidebar.selectbox  # no corpus list before the login
    at.text_input[0].input("ann")
    at.text_input[1].input("wrong")
    at.button[0].click().run()
    assert at.error[0].value == "Wrong name or password." and not at.dataframe  # still locked
    at.text_input[0].input("ann")
    at.text_input[1].input("open sesame")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.session_state["auth_user"] == "ann"
    assert any("Signed in as ann" in c.value for c in at.sidebar.caption)
    assert "Password" not in [t.label for t in at.text_input]


def test_the_login_name_is_the_reviewer(app_workspace, shared):
    users = {"seedbed": {"users": {"ann": auth.hash_password("pw")}}}
    at = _run(ROOT / "pages" / "3_Review.py", users)
    at.text_input[0].input("ann")
    at.text_input[1].input("pw")
    at.button[0].click().run()
    at.button(key=[b.key for b in at.button if str(b.key).startswith("review_accept_")][0]).click().run()
    assert not at.exception, at.exception
    with app_workspace.connect() as con:
        reviewers = con.execute("SELECT DISTINCT reviewer FROM reviews").fetchall()
    assert reviewers == [("ann",)]
