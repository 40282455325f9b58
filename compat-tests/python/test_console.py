"""The web console (`coffer serve --console-address`) in a real browser: headless Chromium
(Debian's, driven with Selenium through chromedriver; the `browser` fixture of conftest.py)
signs in, creates a bucket, uploads a 50 MiB file and watches its progress reach 100%,
browses prefixes page by page, makes a share link that works anonymously, restores an older
version, and signs out; a second user sees only its own buckets. Set COFFER_CONSOLE_SHOTS to
a directory to keep screenshots of the main pages."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from harness import REGION, create_user, empty_and_delete_bucket, free_port, random_bucket_name, start_server, stop_server, write_random_file

try:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # reported by the `browser` fixture
    By = WebDriverWait = StaleElementReferenceException = None

WAIT_S = 60
BIG = 50 * 1024 * 1024


@pytest.fixture(scope="module")
def console_server(tmp_root):
    port = free_port()
    # Usage gauges recomputed each second, so the bucket list's counts catch up quickly.
    srv = start_server(tmp_root, "http", ("--console-address", f"127.0.0.1:{port}", "--metrics-usage-interval", "1s"))
    srv.console_url = f"http://127.0.0.1:{port}"
    yield srv
    stop_server(srv)


@pytest.fixture
def bucket_names(console_server):
    """Names for buckets a test makes (through the console or boto3); they are removed after."""
    names: list[tuple[str, object]] = []
    yield names
    for name, client in names:
        try:
            empty_and_delete_bucket(client, name)
        except Exception:  # noqa: BLE001 - already gone
            pass


def wait(driver, condition, timeout=WAIT_S):
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: condition(d))


def shot(driver, name: str) -> None:
    target = os.environ.get("COFFER_CONSOLE_SHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(target) / f"{name}.png"))


def found(driver, by, what):
    """The first displayed element that matches, or None (also when the page re-rendered it
    while we looked)."""
    try:
        items = driver.find_elements(by, what)
        return items[0] if items and items[0].is_displayed() else None
    except StaleElementReferenceException:
        return None


def sign_in(driver, url, access_key, secret_key):
    driver.get(url + "/")
    wait(driver, lambda d: found(d, By.ID, "access"))
    driver.find_element(By.ID, "access").send_keys(access_key)
    driver.find_element(By.ID, "secret").send_keys(secret_key)
    driver.find_element(By.ID, "sign-in").click()
    return wait(driver, lambda d: found(d, By.ID, "who") or found(d, By.ID, "signin-error"))


def row_texts(driver, table_id):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(`#${arguments[0]} tbody tr`), (r) => r.innerText)", table_id)


def go(driver, fragment):
    driver.execute_script("location.hash = arguments[0]", fragment)


def test_page_redirect_and_s3_on_the_console_port(console_server):
    """`/` redirects a browser to the page; the page carries a strict CSP; signed S3 requests on
    the same port work as on the S3 port; the page is not served on the S3 port."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(console_server.console_url + "/")
    assert e.value.code == 302 and e.value.headers["Location"] == "/_console/"
    with urllib.request.urlopen(console_server.console_url + "/_console/") as r:
        assert r.headers["Content-Type"].startswith("text/html")
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
        assert b'src="app.js"' in r.read()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(console_server.endpoint + "/_console/")
    assert e.value.code in (400, 403, 404)
    via_console = boto3.client("s3", endpoint_url=console_server.console_url, region_name=REGION,
                               aws_access_key_id=console_server.access_key, aws_secret_access_key=console_server.secret_key,
                               config=Config(s3={"addressing_style": "path"}))
    name = random_bucket_name("console")
    via_console.create_bucket(Bucket=name)
    via_console.put_object(Bucket=name, Key="k", Body=b"v")
    assert console_server.client().get_object(Bucket=name, Key="k")["Body"].read() == b"v"
    empty_and_delete_bucket(via_console, name)


def test_wrong_secret_shows_s3_error(console_server, browser):
    sign_in(browser, console_server.console_url, console_server.access_key, "not-the-secret")
    error = wait(browser, lambda d: found(d, By.ID, "signin-error"))
    assert "SignatureDoesNotMatch" in error.text
    shot(browser, "01-sign-in-error")


def test_console_end_to_end(console_server, browser, bucket_names, tmp_path):
    srv, s3 = console_server, console_server.client()
    browser.set_window_size(1280, 900)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    assert browser.find_element(By.ID, "who").text == srv.access_key

    # Create a bucket with the form; it appears in the list.
    name = random_bucket_name("console")
    bucket_names.append((name, s3))
    browser.find_element(By.ID, "new-bucket").send_keys(name)
    browser.find_element(By.ID, "create-bucket").click()
    wait(browser, lambda d: any(name in t for t in row_texts(d, "bucket-table")))
    s3.head_bucket(Bucket=name)
    shot(browser, "02-buckets")

    # Open it, turn versioning on.
    browser.find_element(By.LINK_TEXT, name).click()
    wait(browser, lambda d: found(d, By.ID, "enable-versioning")).click()
    wait(browser, lambda d: d.find_element(By.ID, "versioning-status").text == "Enabled")
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"

    # Upload 50 MiB through the file input (multipart), recording every progress value.
    big = tmp_path / "big.bin"
    data = write_random_file(big, BIG)
    browser.execute_script("""
        window.__progress = [];
        new MutationObserver((ms) => ms.forEach((m) => {
          if (m.target.tagName === 'PROGRESS') window.__progress.push(Number(m.target.value));
        })).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['value']});""")
    started = time.monotonic()
    browser.find_element(By.ID, "upload-input").send_keys(str(big))
    wait(browser, lambda d: found(d, By.CSS_SELECTOR, ".upload.done") or found(d, By.CSS_SELECTOR, ".upload.failed"), timeout=180)
    print(f"50 MiB upload through the console: {time.monotonic() - started:.2f} s")
    status = browser.find_element(By.CSS_SELECTOR, ".upload").text
    assert "100%" in status and "done" in status, status
    seen = browser.execute_script("return window.__progress")
    assert seen[-1] == 100 and any(0 < v < 100 for v in seen), seen
    head = s3.head_object(Bucket=name, Key="big.bin")
    assert head["ContentLength"] == BIG and head["ETag"].endswith('-7"'), head["ETag"]  # 8 MiB parts
    assert s3.get_object(Bucket=name, Key="big.bin")["Body"].read() == data
    wait(browser, lambda d: any("big.bin" in t for t in row_texts(d, "object-table")))
    shot(browser, "03-objects-upload")

    # Browse: a folder, and a prefix of 130 keys shown 100 at a time.
    for i in range(130):
        s3.put_object(Bucket=name, Key=f"logs/2026/{i:03}.txt", Body=b"x")
    s3.put_object(Bucket=name, Key="logs/readme.txt", Body=b"hello")
    browser.refresh()  # a reload forgets the key: the console asks to sign in again
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    go(browser, f"#/b/{name}/")
    wait(browser, lambda d: found(d, By.LINK_TEXT, "logs/")).click()
    wait(browser, lambda d: found(d, By.LINK_TEXT, "2026/"))
    assert any("readme.txt" in t for t in row_texts(browser, "object-table"))
    browser.find_element(By.LINK_TEXT, "2026/").click()
    wait(browser, lambda d: len(row_texts(d, "object-table")) == 100)
    shot(browser, "04-objects-page")
    browser.find_element(By.ID, "more").click()
    wait(browser, lambda d: len(row_texts(d, "object-table")) == 130)
    assert not found(browser, By.ID, "more")

    # Two versions of one key; the details page lists both and restores the older.
    s3.put_object(Bucket=name, Key="notes/plan.txt", Body=b"the old plan", Metadata={"author": "ann"})
    s3.put_object(Bucket=name, Key="notes/plan.txt", Body=b"the new plan")
    s3.put_object_tagging(Bucket=name, Key="notes/plan.txt", Tagging={"TagSet": [{"Key": "team", "Value": "ops"}]})
    versions = s3.list_object_versions(Bucket=name, Prefix="notes/plan.txt")["Versions"]
    old = next(v["VersionId"] for v in versions if not v["IsLatest"])
    go(browser, f"#/b/{name}/notes%2F")
    wait(browser, lambda d: found(d, By.LINK_TEXT, "plan.txt")).click()
    wait(browser, lambda d: len(row_texts(d, "version-table")) == 2)
    props = wait(browser, lambda d: found(d, By.ID, "object-props")).text
    assert "STANDARD" in props and "12 B" in props, props
    tag = [browser.find_element(By.CSS_SELECTOR, f"input[aria-label='Tag 1 {part}']").get_attribute("value") for part in ("key", "value")]
    assert tag == ["team", "ops"], tag
    shot(browser, "05-object-details")
    browser.find_element(By.CSS_SELECTOR, f"tr[data-version='{old}'] button.restore").click()
    wait(browser, lambda d: len(row_texts(d, "version-table")) == 3)
    assert s3.get_object(Bucket=name, Key="notes/plan.txt")["Body"].read() == b"the old plan"

    # A share link for one hour, fetched with no credentials.
    hours = browser.find_element(By.ID, "share-hours")
    hours.clear()
    hours.send_keys("1")
    browser.find_element(By.ID, "make-share").click()
    url = wait(browser, lambda d: found(d, By.ID, "share-url")).get_attribute("value")
    assert url.startswith(srv.console_url + f"/{name}/notes/plan.txt?") and "X-Amz-Expires=3600" in url, url
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"the old plan"
    # The same link for the address others use (here the S3 port): the signature names that host.
    origin = browser.find_element(By.ID, "share-origin")
    origin.clear()
    origin.send_keys(srv.endpoint)
    browser.find_element(By.ID, "make-share").click()
    wait(browser, lambda d: d.find_element(By.ID, "share-url").get_attribute("value").startswith(srv.endpoint + "/"))
    with urllib.request.urlopen(browser.find_element(By.ID, "share-url").get_attribute("value")) as r:
        assert r.read() == b"the old plan"
    shot(browser, "06-share-link")

    # Delete the older versions' newest copy's predecessor: delete one version for good.
    newest_old = next(v["VersionId"] for v in versions if v["IsLatest"])
    browser.find_element(By.CSS_SELECTOR, f"tr[data-version='{newest_old}'] button.danger").click()
    browser.switch_to.alert.accept()
    wait(browser, lambda d: len(row_texts(d, "version-table")) == 2)
    assert newest_old not in [v["VersionId"] for v in s3.list_object_versions(Bucket=name, Prefix="notes/plan.txt")["Versions"]]

    # A phone-sized screen still shows the page without sideways scrolling.
    browser.set_window_size(390, 844)
    go(browser, f"#/b/{name}/")
    wait(browser, lambda d: found(d, By.LINK_TEXT, "big.bin"))
    wide = browser.execute_script("""
        const w = document.documentElement.clientWidth;
        return [w, Array.from(document.querySelectorAll('body *'))
          .filter((e) => e.getBoundingClientRect().right > w + 0.5)
          .map((e) => `${e.tagName}#${e.id}.${e.className} ${e.getBoundingClientRect().right}`)];""")
    assert wide[0] <= 390 and not wide[1], wide
    shot(browser, "07-phone-objects")
    browser.set_window_size(1280, 900)

    # The root user's bucket list counts the objects (from /metrics): 1 + 130 + 1 + 1.
    go(browser, "#/")
    def counted(d):
        row = next((r for r in row_texts(d, "bucket-table") if name in r), "")
        if "133" in row:
            return row
        d.find_element(By.ID, "refresh-buckets").click()
        return None
    assert "MiB" in wait(browser, counted)

    # Sign out: the form is back, and nothing was kept in storage or cookies.
    browser.find_element(By.ID, "sign-out").click()
    wait(browser, lambda d: found(d, By.ID, "access"))
    kept = browser.execute_script("return [localStorage.length, sessionStorage.length, document.cookie]")
    assert kept == [0, 0, ""], kept


def test_user_sees_only_its_own_buckets(console_server, browser, bucket_names):
    srv = console_server
    alice, bob = create_user(srv, "alice"), create_user(srv, "bob")
    theirs, mine = random_bucket_name("alice"), random_bucket_name("bob")
    alice_s3, bob_s3 = srv.client(alice), srv.client(bob)
    alice_s3.create_bucket(Bucket=theirs)
    bob_s3.create_bucket(Bucket=mine)
    bucket_names.extend([(theirs, alice_s3), (mine, bob_s3)])
    alice_s3.put_object(Bucket=theirs, Key="secret.txt", Body=b"alice's")

    sign_in(browser, srv.console_url, bob.access_key, bob.secret_key)
    wait(browser, lambda d: any(mine in t for t in row_texts(d, "bucket-table")))
    assert not any(theirs in t for t in row_texts(browser, "bucket-table"))
    # Counts come from /metrics, which is the root user's.
    wait(browser, lambda d: "only the root user" in d.page_source)
    shot(browser, "08-user-buckets")
    go(browser, f"#/b/{theirs}/")
    error = wait(browser, lambda d: found(d, By.ID, "objects-error"))
    assert "AccessDenied" in error.text
    go(browser, f"#/o/{theirs}/secret.txt")
    error = wait(browser, lambda d: found(d, By.ID, "details-error"))
    assert "403" in error.text or "AccessDenied" in error.text


def set_textarea(driver, element_id, text):
    """Replaces a textarea's text the way typing would (an input event for the page)."""
    driver.execute_script("""
        const t = document.getElementById(arguments[0]);
        t.value = arguments[1];
        t.dispatchEvent(new Event('input', {bubbles: true}));""", element_id, text)


def test_lifecycle_and_policy_editors(console_server, browser, bucket_names):
    srv, s3 = console_server, console_server.client()
    name = random_bucket_name("console")
    s3.create_bucket(Bucket=name)
    bucket_names.append((name, s3))
    browser.set_window_size(1280, 900)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    go(browser, f"#/b/{name}/")
    wait(browser, lambda d: found(d, By.ID, "bucket-settings")).click()
    wait(browser, lambda d: "none set yet" in d.page_source)

    # A rule that expires after 0 days is well-formed XML that S3 refuses: its message shows.
    rule = "<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix>logs/</Prefix></Filter><Status>Enabled</Status>" \
           "<Expiration><Days>{}</Days></Expiration></Rule></LifecycleConfiguration>"
    set_textarea(browser, "lifecycle-doc", rule.format(0))
    browser.find_element(By.ID, "lifecycle-save").click()
    error = wait(browser, lambda d: found(d, By.ID, "lifecycle-error"))
    assert "InvalidArgument" in error.text and "positive integer" in error.text, error.text
    shot(browser, "09-lifecycle-error")
    # Not even XML: the page says so before sending anything.
    set_textarea(browser, "lifecycle-doc", "<LifecycleConfiguration><Rule>")
    browser.find_element(By.ID, "lifecycle-save").click()
    wait(browser, lambda d: "Not well-formed XML" in (found(d, By.ID, "lifecycle-error") or d.find_element(By.TAG_NAME, "body")).text)
    # The corrected rule is saved.
    set_textarea(browser, "lifecycle-doc", rule.format(30))
    browser.find_element(By.ID, "lifecycle-save").click()
    wait(browser, lambda d: d.find_element(By.ID, "lifecycle-saved").text == "Saved.")
    assert s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"][0]["Expiration"]["Days"] == 30

    # A policy naming another bucket is refused with S3's message; a right one is saved.
    doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}'
    set_textarea(browser, "policy-doc", doc % "someone-else")
    browser.find_element(By.ID, "policy-save").click()
    error = wait(browser, lambda d: found(d, By.ID, "policy-error"))
    assert "MalformedPolicy" in error.text, error.text
    set_textarea(browser, "policy-doc", doc % name)
    browser.find_element(By.ID, "policy-save").click()
    wait(browser, lambda d: d.find_element(By.ID, "policy-saved").text == "Saved.")
    assert name in s3.get_bucket_policy(Bucket=name)["Policy"]
    shot(browser, "10-settings")

    # Default encryption from the editor's example.
    wait(browser, lambda d: found(d, By.XPATH, "//form[.//textarea[@id='encryption-doc']]//button[text()='Insert an example']")).click()
    browser.find_element(By.ID, "encryption-save").click()
    wait(browser, lambda d: d.find_element(By.ID, "encryption-saved").text == "Saved.")
    rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_upload_into_a_locked_bucket(console_server, browser, bucket_names, tmp_path):
    """A bucket with default Object Lock retention takes only uploads whose bytes the server can
    check: the console signs each body's SHA-256, and the details show the lock."""
    srv, s3 = console_server, console_server.client()
    name = random_bucket_name("console")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    bucket_names.append((name, s3))
    s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    small, big = tmp_path / "small.txt", tmp_path / "big.bin"
    small.write_bytes(b"kept for a day")
    write_random_file(big, 20 * 1024 * 1024)
    browser.set_window_size(1280, 900)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    go(browser, f"#/b/{name}/")
    wait(browser, lambda d: found(d, By.ID, "upload-input")).send_keys(f"{small}\n{big}")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".upload.done, .upload.failed")) == 2, timeout=120)
    assert not browser.find_elements(By.CSS_SELECTOR, ".upload.failed"), browser.find_element(By.CLASS_NAME, "uploads").text
    for key in ("small.txt", "big.bin"):
        assert s3.head_object(Bucket=name, Key=key)["ObjectLockMode"] == "GOVERNANCE"
    go(browser, f"#/o/{name}/small.txt")
    props = wait(browser, lambda d: found(d, By.ID, "object-props")).text
    assert "GOVERNANCE until" in props, props


def test_download_and_rename(console_server, browser, bucket_names, tmp_path):
    """Download saves the object under its name (a presigned GET with an attachment
    disposition); rename copies to the new key and deletes the old one."""
    srv, s3 = console_server, console_server.client()
    name = random_bucket_name("console")
    s3.create_bucket(Bucket=name)
    bucket_names.append((name, s3))
    s3.put_object(Bucket=name, Key="docs/a b+c.txt", Body=b"report body")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    browser.set_window_size(1280, 900)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    go(browser, f"#/b/{name}/docs%2F")
    wait(browser, lambda d: found(d, By.CSS_SELECTOR, "button[aria-label='Download docs/a b+c.txt']")).click()
    saved = downloads / "a b+c.txt"
    wait(browser, lambda d: saved.exists() and saved.read_bytes() == b"report body", timeout=30)

    browser.find_element(By.LINK_TEXT, "a b+c.txt").click()
    field = wait(browser, lambda d: found(d, By.ID, "rename-to"))
    field.clear()
    field.send_keys("docs/renamed ü.txt")
    browser.find_element(By.ID, "rename").click()
    wait(browser, lambda d: d.find_element(By.ID, "details-title").text == "docs/renamed ü.txt")
    assert s3.get_object(Bucket=name, Key="docs/renamed ü.txt")["Body"].read() == b"report body"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
    assert keys == ["docs/renamed ü.txt"], keys


def test_server_dashboard_and_tags(console_server, browser, bucket_names):
    """The root user's dashboard shows the server's requests and workers; another user is told
    the metrics are the root user's. Tags are edited on the object's page."""
    srv, s3 = console_server, console_server.client()
    name = random_bucket_name("console")
    s3.create_bucket(Bucket=name)
    bucket_names.append((name, s3))
    s3.put_object(Bucket=name, Key="tagged.txt", Body=b"t", Tagging="stage=draft")
    browser.set_window_size(1280, 900)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    browser.find_element(By.ID, "server-link").click()
    wait(browser, lambda d: any(t.startswith("PutObject") for t in row_texts(d, "request-table")))
    assert len(row_texts(browser, "worker-table")) >= 3
    assert "Up for" in browser.find_element(By.ID, "process-figures").text
    shot(browser, "11-server-dashboard")

    go(browser, f"#/o/{name}/tagged.txt")
    key_field = wait(browser, lambda d: found(d, By.CSS_SELECTOR, "input[aria-label='Tag 1 key']"))
    assert key_field.get_attribute("value") == "stage"
    browser.find_element(By.ID, "add-tag").click()
    browser.find_element(By.CSS_SELECTOR, "input[aria-label='Tag 2 key']").send_keys("owner")
    browser.find_element(By.CSS_SELECTOR, "input[aria-label='Tag 2 value']").send_keys("ops & <dev>")
    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Remove tag 1']").click()
    browser.find_element(By.ID, "save-tags").click()
    wait(browser, lambda d: d.find_element(By.ID, "tags-saved").text == "Saved.")
    assert s3.get_object_tagging(Bucket=name, Key="tagged.txt")["TagSet"] == [{"Key": "owner", "Value": "ops & <dev>"}]

    user = create_user(srv, "carol")
    browser.find_element(By.ID, "sign-out").click()
    sign_in(browser, srv.console_url, user.access_key, user.secret_key)
    go(browser, "#/m")
    assert "Only the root user" in wait(browser, lambda d: found(d, By.ID, "dashboard-error")).text


def test_upload_resumes_after_the_network_fails(console_server, browser, bucket_names, tmp_path):
    """The network drops in the middle of a multipart upload (Chromium's network emulation:
    throttled, then offline): the parts are retried, the upload is then reported failed with a
    Resume button, and once the network is back Resume sends only the missing parts."""
    srv, s3 = console_server, console_server.client()
    name = random_bucket_name("console")
    s3.create_bucket(Bucket=name)
    bucket_names.append((name, s3))
    big = tmp_path / "resume.bin"
    data = write_random_file(big, 40 * 1024 * 1024)
    browser.set_window_size(1280, 900)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    go(browser, f"#/b/{name}/")
    wait(browser, lambda d: found(d, By.ID, "upload-input"))
    browser.execute_cdp_cmd("Network.enable", {})
    slow = {"offline": False, "latency": 5, "downloadThroughput": 8 * 1024 * 1024, "uploadThroughput": 4 * 1024 * 1024}
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", slow)
    browser.find_element(By.ID, "upload-input").send_keys(str(big))
    progress = "return document.querySelector('.upload progress')?.value ?? 0"
    wait(browser, lambda d: d.execute_script(progress) >= 25, timeout=60)
    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {**slow, "offline": True})
    wait(browser, lambda d: found(d, By.CSS_SELECTOR, ".upload.failed"), timeout=60)
    reached = browser.execute_script(progress)
    assert 0 < reached < 100, reached
    uploads = s3.list_multipart_uploads(Bucket=name).get("Uploads", [])
    assert [u["Key"] for u in uploads] == ["resume.bin"]  # kept for the resume
    shot(browser, "12-upload-failed")

    browser.execute_cdp_cmd("Network.emulateNetworkConditions", {**slow, "offline": False, "uploadThroughput": -1, "downloadThroughput": -1})
    browser.find_element(By.CSS_SELECTOR, "button.resume").click()
    wait(browser, lambda d: found(d, By.CSS_SELECTOR, ".upload.done"), timeout=120)
    assert s3.get_object(Bucket=name, Key="resume.bin")["Body"].read() == data
    assert not s3.list_multipart_uploads(Bucket=name).get("Uploads")
