"""A real browser: headless Chromium (Debian's `chromium` and `chromium-driver`, driven with
Selenium) renders a static website served by the website listener, with its stylesheet,
script, redirects (also to keys with '#', spaces and accents) and custom error page, and runs
fetch() from a website page against the S3 endpoint, which the bucket's CORS rules allow or
block.

Chromium resolves *.coffer.test to 127.0.0.1 and nothing else, so every request stays on
loopback: sites are http://<bucket>.website.coffer.test:<website port>/."""

from __future__ import annotations


import pytest
import urllib3

from harness import VIRTUAL_HOST_DOMAIN, WEBSITE_DOMAIN, policy, statement, website_get

try:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # reported by the `browser` fixture (conftest.py), so the rest of the suite still runs
    By = WebDriverWait = None

SCRIPT_WAIT_S = 10


def text_of(driver, element_id: str, pending: str = "pending") -> str:
    """The text of `element_id` once the page's script has replaced `pending`."""

    def ready(d):
        t = d.find_element(By.ID, element_id).text
        return t if t != pending else False

    return WebDriverWait(driver, SCRIPT_WAIT_S).until(ready)


def navigation(driver) -> dict:
    """Status and redirect count of the page the browser shows, as the browser saw them."""
    return driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return {status: n.responseStatus, redirects: n.redirectCount};"
    )


def console(driver) -> list[str]:
    """The browser console's messages since the last call, each as "LEVEL message"."""
    return [f"{entry['level']} {entry['message']}" for entry in driver.get_log("browser")]


def public_read(bucket: str) -> str:
    """Anonymous readers may get objects and list (so a missing page is 404, not 403)."""
    return policy(
        statement("Allow", "*", "s3:GetObject", f"arn:aws:s3:::{bucket}/*"),
        statement("Allow", "*", "s3:ListBucket", f"arn:aws:s3:::{bucket}"),
    )


def html(title: str, heading: str) -> bytes:
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>'
            f'<body><h1 id="title">{heading}</h1></body></html>').encode()


INDEX_HTML = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>Coffer test site</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="/style.css"><script src="/app.js" defer></script></head>
<body><h1 id="title">Welcome to the Coffer site</h1>
<p id="js">pending</p><p id="color">pending</p></body></html>
"""
APP_JS = b"""document.getElementById("js").textContent = "rendered by app.js";
document.getElementById("color").textContent = getComputedStyle(document.getElementById("title")).color;
"""
STYLE_CSS = b"h1 { color: rgb(0, 128, 0); }\n"

SITE = [
    ("index.html", INDEX_HTML, "text/html"),
    ("app.js", APP_JS, "text/javascript"),
    ("style.css", STYLE_CSS, "text/css"),
    ("new/page.html", html("new", "The new page"), "text/html"),
    ("new/café menu.html", html("menu", "Café menu"), "text/html"),
    ("docs/index.html", html("docs", "Documentation"), "text/html"),
    ("docs/C#/index.html", html("C#", "C# documentation"), "text/html"),
    ("404.html", html("404", "Custom not-found page"), "text/html"),
]


@pytest.fixture
def site(http_server, http_bucket):
    """A public website (index and error documents, old/ -> new/ routing rule); returns
    site(path) -> the address a browser uses for `path` on it."""
    s3, b = http_server.client(), http_bucket
    for key, body, ctype in SITE:
        s3.put_object(Bucket=b, Key=key, Body=body, ContentType=ctype)
    s3.put_bucket_policy(Bucket=b, Policy=public_read(b))
    s3.put_bucket_website(Bucket=b, WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"},
        "ErrorDocument": {"Key": "404.html"},
        "RoutingRules": [{"Condition": {"KeyPrefixEquals": "old/"}, "Redirect": {"ReplaceKeyPrefixWith": "new/"}}],
    })
    return lambda path: http_server.website_url(b, path)


def test_static_site_renders(http_server, http_bucket, site, browser):
    # The index document, with its stylesheet applied and its script run.
    browser.get(site("/"))
    assert browser.title == "Coffer test site"
    assert browser.find_element(By.ID, "title").text == "Welcome to the Coffer site"
    assert text_of(browser, "js") == "rendered by app.js"
    assert text_of(browser, "color") == "rgb(0, 128, 0)", "style.css was loaded and applied"
    assert navigation(browser) == {"status": 200, "redirects": 0}
    assert [m for m in console(browser) if m.startswith("SEVERE")] == [], "every resource of the page loaded"

    # The routing rule sends old/ to new/; the browser follows it.
    browser.get(site("/old/page.html"))
    assert browser.current_url == site("/new/page.html")
    assert browser.find_element(By.ID, "title").text == "The new page"
    assert navigation(browser) == {"status": 200, "redirects": 1}

    # A folder without its slash goes to the folder's index document.
    browser.get(site("/docs"))
    assert browser.current_url == site("/docs/")
    assert browser.find_element(By.ID, "title").text == "Documentation"

    # A missing page shows the custom error document, with a 404 status.
    browser.get(site("/no/such/page.html"))
    assert browser.current_url == site("/no/such/page.html")
    assert browser.find_element(By.ID, "title").text == "Custom not-found page"
    assert navigation(browser)["status"] == 404

    # Without the public policy the site is closed: the error document is private too now,
    # so the browser gets the listener's own HTML error page. The page asked for is one the
    # browser has not loaded yet: it may keep "/" from the first visit for a moment (the
    # object carries no Cache-Control, as on S3, so the browser guesses a freshness from its
    # Last-Modified), and on a slow run that moment can cover this request.
    http_server.client().delete_bucket_policy(Bucket=http_bucket)
    browser.get(site("/index.html"))
    assert navigation(browser)["status"] == 403
    assert "AccessDenied" in browser.find_element(By.TAG_NAME, "body").text


def test_redirects_to_keys_with_special_characters(site, browser):
    """Redirect targets are URL-encoded: a '#' in a folder name is part of the key, not the
    start of a fragment, and spaces and non-ASCII letters survive the routing rule."""
    browser.get(site("/docs/C%23"))
    assert browser.current_url == site("/docs/C%23/")
    assert browser.find_element(By.ID, "title").text == "C# documentation"

    browser.get(site("/old/caf%C3%A9%20menu.html"))
    assert browser.current_url == site("/new/caf%C3%A9%20menu.html")
    assert browser.find_element(By.ID, "title").text == "Café menu"
    assert navigation(browser) == {"status": 200, "redirects": 1}


DATA_TEXT = "hello from the data bucket"

CORS_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>CORS probe</title><link rel="icon" href="data:,"></head>
<body><p id="simple">pending</p><p id="preflighted">pending</p>
<script>
const url = "URL";
function show(id, request) {
  request.then(r => r.text()).catch(() => "BLOCKED").then(t => { document.getElementById(id).textContent = t; });
}
// A simple GET (no preflight), and one whose custom header needs a preflight OPTIONS.
show("simple", fetch(url, {cache: "no-store"}));
show("preflighted", fetch(url, {cache: "no-store", headers: {"X-Coffer-Probe": "1"}}));
</script></body></html>
"""


def test_cors_in_the_browser(http_server, http_bucket, second_http_bucket, browser):
    """A page of one bucket's website reads an object of another bucket through the S3
    endpoint. The page and the URL stay the same; only the data bucket's CORS rules change."""
    s3, app, data = http_server.client(), http_bucket, second_http_bucket
    s3.put_object(Bucket=data, Key="greeting.txt", Body=DATA_TEXT.encode(), ContentType="text/plain")
    s3.put_bucket_policy(Bucket=data, Policy=policy(statement("Allow", "*", "s3:GetObject", f"arn:aws:s3:::{data}/*")))
    object_url = f"{http_server.endpoint}/{data}/greeting.txt"
    s3.put_object(Bucket=app, Key="cors.html", Body=CORS_PAGE.replace("URL", object_url).encode(), ContentType="text/html")
    s3.put_bucket_policy(Bucket=app, Policy=public_read(app))
    s3.put_bucket_website(Bucket=app, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})
    page = http_server.website_url(app, "/cors.html")
    origin = http_server.website_url(app, "")

    # The page is served and anonymous readers may read the object: what blocks the page
    # below is CORS alone.
    assert website_get(http_server, f"{app}.{WEBSITE_DOMAIN}", "/cors.html").status == 200
    r = urllib3.PoolManager(retries=False).request("GET", object_url, headers={"Origin": origin})
    assert (r.status, r.data.decode()) == (200, DATA_TEXT)
    assert "Access-Control-Allow-Origin" not in r.headers

    def load() -> tuple[str, str, str]:
        browser.get(page)
        return text_of(browser, "simple"), text_of(browser, "preflighted"), "\n".join(console(browser))

    # No CORS configuration: the browser got the response but does not show it to the page.
    simple, preflighted, log = load()
    assert (simple, preflighted) == ("BLOCKED", "BLOCKED")
    assert "blocked by CORS policy" in log and "No 'Access-Control-Allow-Origin' header" in log, log

    # A rule for another origin only.
    s3.put_bucket_cors(Bucket=data, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": [f"http://elsewhere.{VIRTUAL_HOST_DOMAIN}"], "AllowedMethods": ["GET"], "AllowedHeaders": ["*"]}]})
    simple, preflighted, log = load()
    assert (simple, preflighted) == ("BLOCKED", "BLOCKED")
    assert "blocked by CORS policy" in log, log

    # This origin for GET, but no request headers allowed: the preflight is refused.
    s3.put_bucket_cors(Bucket=data, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": [origin], "AllowedMethods": ["GET"]}]})
    simple, preflighted, log = load()
    assert (simple, preflighted) == (DATA_TEXT, "BLOCKED")
    assert "Response to preflight request doesn't pass access control check" in log, log

    # This origin (through a wildcard) with the header allowed: both requests succeed.
    s3.put_bucket_cors(Bucket=data, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": [f"http://*.{WEBSITE_DOMAIN}:{http_server.website_port}"], "AllowedMethods": ["GET", "HEAD"],
         "AllowedHeaders": ["x-coffer-*"]}]})
    simple, preflighted, log = load()
    assert (simple, preflighted) == (DATA_TEXT, DATA_TEXT)
    assert "blocked by CORS policy" not in log, log
