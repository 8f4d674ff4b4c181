"""The login page in a real browser: log in, see the role menu in Chinese, switch to English, log out."""
import pytest

from .conftest import staff_login

pytestmark = pytest.mark.browser


def test_login_menu_language_and_logout(page, live_server, users):
    staff_login(page, live_server, "admin")
    assert page.locator(".who").inner_text().endswith("管理员")
    assert page.locator("nav.mainnav a", has_text="用户").count() == 1
    page.click("#lang-switch")
    assert page.locator("nav.mainnav a", has_text="Users").count() == 1
    page.click("text=Log out")
    page.wait_for_url(live_server.url + "/login")
    page.goto(live_server.url + "/admin/users")
    assert "/login" in page.url


def test_wrong_password_shows_error(page, live_server, users):
    page.goto(live_server.url + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert page.locator(".flash-error").inner_text() == "用户名或密码错误。"
