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
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from harness import REGION, coffer_admin, create_kms_key, create_user, empty_and_delete_bucket, free_port, random_bucket_name, start_server, stop_server, write_random_file

try:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # reported by the `browser` fixture
    By = Keys = WebDriverWait = StaleElementReferenceException = None

WAIT_S = 60
BIG = 50 * 1024 * 1024


def start_console_server(root):
    """A server with its console on a port of its own (`console_url`)."""
    port = free_port()
    srv = start_server(root, "http", ("--console-address", f"127.0.0.1:{port}"))
    srv.console_url = f"http://127.0.0.1:{port}"
    return srv


@pytest.fixture(scope="module")
def console_server(tmp_root):
    srv = start_console_server(tmp_root)
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
    """Polls until the condition holds. An element the page re-rendered between finding it and
    reading it (stale), or one not there yet, counts as "not yet" rather than a failure."""
    waiter = WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,))
    return waiter.until(lambda d: condition(d))


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


def assert_fits_phone(driver):
    """The page (in a 390-pixel-wide window) needs no sideways scrolling: nothing sticks out."""
    wide = driver.execute_script("""
        const w = document.documentElement.clientWidth;
        return [w, Array.from(document.querySelectorAll('body *'))
          .filter((e) => e.getBoundingClientRect().right > w + 0.5)
          .map((e) => `${e.tagName}#${e.id}.${e.className} ${e.getBoundingClientRect().right}`)];""")
    assert wide[0] <= 390 and not wide[1], wide


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
    s3.put_object(Bucket=name, Key="notes/plan.txt", Body=b"the old plan", Metadata={"author": "ann"}, ServerSideEncryption="AES256")
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
    restored = s3.get_object(Bucket=name, Key="notes/plan.txt")
    assert restored["Body"].read() == b"the old plan"
    assert restored.get("ServerSideEncryption") == "AES256", "the restored copy is encrypted as the version was"

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
    assert_fits_phone(browser)
    shot(browser, "07-phone-objects")
    browser.set_window_size(1280, 900)

    # The bucket list counts the objects (the bucket's usage, current at once): 1 + 130 + 1 + 1.
    go(browser, "#/")
    def counted(d):
        row = next((r for r in row_texts(d, "bucket-table") if name in r), "")
        if "133" in row.replace(name, ""):  # the random name may hold the digits too
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
    bob_s3.put_object(Bucket=mine, Key="a.txt", Body=b"x" * 2048)
    bob_s3.put_object(Bucket=mine, Key="b.txt", Body=b"y" * 1024)

    sign_in(browser, srv.console_url, bob.access_key, bob.secret_key)
    wait(browser, lambda d: any(mine in t for t in row_texts(d, "bucket-table")))
    assert not any(theirs in t for t in row_texts(browser, "bucket-table"))
    # A user who is not root sees its buckets' object counts and sizes too (?coffer-usage,
    # authorized as a listing), and the figures follow a change at once.
    wait(browser, lambda d: any(mine in t and "\t2\t" in t.replace("\n", "\t") and "3.0 KiB" in t for t in row_texts(d, "bucket-table")))
    shot(browser, "08-user-buckets")
    bob_s3.delete_object(Bucket=mine, Key="b.txt")
    browser.find_element(By.ID, "refresh-buckets").click()
    wait(browser, lambda d: any(mine in t and "\t1\t" in t.replace("\n", "\t") and "2.0 KiB" in t for t in row_texts(d, "bucket-table")))
    # A quota shows beside the figures.
    coffer_admin(srv, "bucket", "quota", mine, "--max-objects", "50")
    browser.find_element(By.ID, "refresh-buckets").click()
    wait(browser, lambda d: any(mine in t and "1 of 50" in t for t in row_texts(d, "bucket-table")))
    go(browser, f"#/b/{theirs}/")
    error = wait(browser, lambda d: found(d, By.ID, "objects-error"))
    assert "AccessDenied" in error.text
    go(browser, f"#/o/{theirs}/secret.txt")
    error = wait(browser, lambda d: found(d, By.ID, "details-error"))
    assert "403" in error.text or "AccessDenied" in error.text


def set_value(driver, element_id, value, event="input"):
    """Sets a field's value and sends the page the event a user's change would."""
    driver.execute_script("""
        const field = document.getElementById(arguments[0]);
        field.value = arguments[1];
        field.dispatchEvent(new Event(arguments[2], {bubbles: true}));""", element_id, value, event)


def set_textarea(driver, element_id, text):
    """Replaces a textarea's text the way typing would (an input event for the page)."""
    set_value(driver, element_id, text)


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


def choose(driver, select_id, value):
    """Picks an option of a <select> the way a user would (a change event for the page)."""
    set_value(driver, select_id, value, "change")


def set_input(driver, element_id, value):
    """Sets an input's value as typing would (an input event), for fields such as
    datetime-local whose keyboard entry depends on the browser's locale."""
    set_value(driver, element_id, value)


def text_of(driver, element_id) -> str:
    """The element's text, or '' while it is missing or being re-rendered."""
    element = found(driver, By.ID, element_id)
    try:
        return element.text if element else ""
    except StaleElementReferenceException:
        return ""


def saved(driver, element_id):
    wait(driver, lambda d: text_of(d, element_id) == "Saved.")


def test_bucket_setting_forms(console_server, browser, bucket_names):
    """Versioning, default encryption (SSE-S3, SSE-KMS with a key, none) and Object Lock with
    its default retention are set with forms; each change is what boto3 then reads, the
    document editors below show it, and a refusal shows S3's error."""
    srv = console_server
    s3, name = new_bucket(srv, bucket_names)
    key = create_kms_key(srv, "console")
    browser.set_window_size(1280, 900)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    go(browser, f"#/s/{name}")
    wait(browser, lambda d: found(d, By.ID, "sse-none") and d.find_element(By.ID, "sse-none").is_selected())
    # A draft in one of the documents below survives the reloads that saving the forms causes.
    set_textarea(browser, "cors-doc", "<CORSConfiguration>a draft")

    # SSE-KMS with a key of the keyring and a bucket key.
    browser.find_element(By.ID, "sse-kms").click()
    browser.find_element(By.ID, "sse-kms-key").send_keys(key.name)
    browser.find_element(By.ID, "sse-bucket-key").click()
    browser.find_element(By.ID, "encryption-form-save").click()
    saved(browser, "encryption-form-saved")
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert key.name in rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] and rule["BucketKeyEnabled"]
    wait(browser, lambda d: "aws:kms" in d.find_element(By.ID, "encryption-doc").get_attribute("value"))
    s3.put_object(Bucket=name, Key="sealed", Body=b"x")
    assert s3.head_object(Bucket=name, Key="sealed")["ServerSideEncryption"] == "aws:kms"
    # SSE-S3, then none.
    browser.find_element(By.ID, "sse-s3").click()
    browser.find_element(By.ID, "encryption-form-save").click()
    wait(browser, lambda d: "AES256" in d.find_element(By.ID, "encryption-doc").get_attribute("value"))
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    browser.find_element(By.ID, "sse-none").click()
    browser.find_element(By.ID, "encryption-form-save").click()
    wait(browser, lambda d: "none set yet" in d.find_element(By.CSS_SELECTOR, "label[for='encryption-doc']").text)
    with pytest.raises(Exception, match="ServerSideEncryptionConfigurationNotFoundError"):
        s3.get_bucket_encryption(Bucket=name)

    # Object Lock needs versioning: S3's refusal shows, then versioning goes on and lock with it.
    choose(browser, "lock-mode", "GOVERNANCE")
    set_input(browser, "lock-period", "2")
    choose(browser, "lock-unit", "years")
    browser.find_element(By.ID, "lock-form-save").click()
    browser.switch_to.alert.accept()
    error = wait(browser, lambda d: found(d, By.ID, "lock-form-error"))
    assert "InvalidBucketState" in error.text, error.text
    browser.find_element(By.ID, "enable-versioning").click()
    wait(browser, lambda d: d.find_element(By.ID, "versioning-status").text == "Enabled")
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    browser.find_element(By.ID, "lock-form-save").click()
    browser.switch_to.alert.accept()
    saved(browser, "lock-form-saved")
    lock = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled" and lock["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Years": 2}
    wait(browser, lambda d: "cannot be turned off" in d.find_element(By.ID, "lock-status").text)
    # Ten days of COMPLIANCE instead; a period of 0 is refused with S3's message.
    choose(browser, "lock-mode", "COMPLIANCE")
    choose(browser, "lock-unit", "days")
    set_input(browser, "lock-period", "10")
    browser.find_element(By.ID, "lock-form-save").click()
    wait(browser, lambda d: s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
         == {"Mode": "COMPLIANCE", "Days": 10})
    wait(browser, lambda d: "<Days>10</Days>" in d.find_element(By.ID, "object-lock-doc").get_attribute("value"))
    browser.execute_script("document.getElementById('lock-period').removeAttribute('min')")
    set_input(browser, "lock-period", "0")
    browser.find_element(By.ID, "lock-form-save").click()
    error = wait(browser, lambda d: found(d, By.ID, "lock-form-error"))
    assert "InvalidArgument" in error.text or "InvalidRetentionPeriod" in error.text, error.text
    shot(browser, "19-settings-forms")
    set_input(browser, "lock-period", "10")
    choose(browser, "lock-mode", "")
    browser.find_element(By.ID, "lock-form-save").click()
    wait(browser, lambda d: "Rule" not in s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"])
    assert browser.find_element(By.ID, "cors-doc").get_attribute("value") == "<CORSConfiguration>a draft"


def test_object_metadata_retention_and_legal_hold(console_server, browser, bucket_names):
    """User metadata is replaced by a copy onto itself (content type, tags and encryption
    kept); retention and legal hold are set on the object's page, and S3's refusal to
    shorten COMPLIANCE retention is shown."""
    srv, s3 = console_server, console_server.client()
    name = random_bucket_name("console")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    bucket_names.append((name, s3))
    s3.put_object(Bucket=name, Key="doc.txt", Body=b"contract", ContentType="text/x-contract", Metadata={"author": "ann"},
                  Tagging="team=legal", ServerSideEncryption="AES256", CacheControl="max-age=60")
    browser.set_window_size(1280, 900)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    go(browser, f"#/o/{name}/doc.txt")
    value = wait(browser, lambda d: found(d, By.CSS_SELECTOR, "input[aria-label='Metadata 1 value']"))
    assert browser.find_element(By.CSS_SELECTOR, "input[aria-label='Metadata 1 key']").get_attribute("value") == "author"
    value.clear()
    value.send_keys("bob")
    browser.find_element(By.ID, "add-meta").click()
    browser.find_element(By.CSS_SELECTOR, "input[aria-label='Metadata 2 key']").send_keys("reviewed")
    browser.find_element(By.CSS_SELECTOR, "input[aria-label='Metadata 2 value']").send_keys("yes")
    # Not ASCII: the page refuses before sending (S3 carries metadata in headers).
    browser.find_element(By.ID, "add-meta").click()
    browser.find_element(By.CSS_SELECTOR, "input[aria-label='Metadata 3 key']").send_keys("note")
    browser.find_element(By.CSS_SELECTOR, "input[aria-label='Metadata 3 value']").send_keys("größer")
    browser.find_element(By.ID, "save-meta").click()
    assert "printable ASCII" in wait(browser, lambda d: found(d, By.ID, "meta-error")).text
    browser.find_element(By.CSS_SELECTOR, "button[aria-label='Remove metadata entry 3']").click()
    browser.find_element(By.ID, "save-meta").click()
    wait(browser, lambda d: "Metadata reviewed" in text_of(d, "object-props"))
    head = s3.head_object(Bucket=name, Key="doc.txt")
    assert head["Metadata"] == {"author": "bob", "reviewed": "yes"}, head["Metadata"]
    assert head["ContentType"] == "text/x-contract" and head["CacheControl"] == "max-age=60" and head["ServerSideEncryption"] == "AES256"
    assert s3.get_object_tagging(Bucket=name, Key="doc.txt")["TagSet"] == [{"Key": "team", "Value": "legal"}]
    assert s3.get_object(Bucket=name, Key="doc.txt")["Body"].read() == b"contract"
    wait(browser, lambda d: len(row_texts(d, "version-table")) == 2)  # the copy is a new version

    # GOVERNANCE retention for two days, then COMPLIANCE for three.
    def retain(mode, days):
        until = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + days * 86400))
        choose(browser, "retention-mode", mode)
        wait(browser, lambda d: found(d, By.ID, "retention-until"))
        set_input(browser, "retention-until", until)
        browser.find_element(By.ID, "save-retention").click()

    version = s3.head_object(Bucket=name, Key="doc.txt")["VersionId"]
    wait(browser, lambda d: found(d, By.ID, "retention-mode"))
    retain("GOVERNANCE", 2)
    wait(browser, lambda d: "GOVERNANCE until" in text_of(d, "object-props"))
    got = s3.get_object_retention(Bucket=name, Key="doc.txt", VersionId=version)["Retention"]
    assert got["Mode"] == "GOVERNANCE"
    # Leaving GOVERNANCE takes the bypass (which the root user may use).
    retain("COMPLIANCE", 3)
    assert "AccessDenied" in wait(browser, lambda d: found(d, By.ID, "retention-error")).text
    browser.find_element(By.ID, "retention-bypass").click()
    browser.find_element(By.ID, "save-retention").click()
    wait(browser, lambda d: "COMPLIANCE until" in text_of(d, "object-props"))
    assert s3.get_object_retention(Bucket=name, Key="doc.txt", VersionId=version)["Retention"]["Mode"] == "COMPLIANCE"
    # Shortening COMPLIANCE retention is refused, even with the bypass: S3's error shows.
    wait(browser, lambda d: found(d, By.ID, "retention-bypass")).click()
    retain("COMPLIANCE", 1)
    error = wait(browser, lambda d: found(d, By.ID, "retention-error"))
    assert "AccessDenied" in error.text, error.text
    assert s3.get_object_retention(Bucket=name, Key="doc.txt", VersionId=version)["Retention"]["RetainUntilDate"].timestamp() > time.time() + 2.5 * 86400

    # Legal hold on, then off.
    browser.find_element(By.ID, "toggle-legal-hold").click()
    wait(browser, lambda d: text_of(d, "legal-hold-status") == "ON")
    assert s3.get_object_legal_hold(Bucket=name, Key="doc.txt", VersionId=version)["LegalHold"]["Status"] == "ON"
    shot(browser, "20-object-lock")
    browser.find_element(By.ID, "toggle-legal-hold").click()
    wait(browser, lambda d: text_of(d, "legal-hold-status") == "OFF")
    assert s3.get_object_legal_hold(Bucket=name, Key="doc.txt", VersionId=version)["LegalHold"]["Status"] == "OFF"


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
    disposition); rename copies to the new key, encrypted as the object was (the bucket has no
    default encryption), and deletes the old one."""
    srv, s3 = console_server, console_server.client()
    name = random_bucket_name("console")
    s3.create_bucket(Bucket=name)
    bucket_names.append((name, s3))
    s3.put_object(Bucket=name, Key="docs/a b+c.txt", Body=b"report body", ServerSideEncryption="AES256")
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
    renamed = s3.get_object(Bucket=name, Key="docs/renamed ü.txt")
    assert renamed["Body"].read() == b"report body"
    assert renamed.get("ServerSideEncryption") == "AES256", "the renamed copy is encrypted as the object was"
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


def new_bucket(srv, bucket_names):
    """A root user's bucket for one test (removed after it): the boto3 client and its name."""
    s3, name = srv.client(), random_bucket_name("console")
    s3.create_bucket(Bucket=name)
    bucket_names.append((name, s3))
    return s3, name


def sign_out(driver):
    driver.find_element(By.ID, "sign-out").click()
    wait(driver, lambda d: found(d, By.ID, "access"))


def key_row(driver, access_key):
    return found(driver, By.CSS_SELECTOR, f"#key-table tr[data-key='{access_key}']")


def new_secret(driver, shot_name=None):
    """The access key and secret the page shows once (then dismissed)."""
    wait(driver, lambda d: found(d, By.ID, "new-secret-key"))
    if shot_name:
        shot(driver, shot_name)
    pair = driver.find_element(By.ID, "new-access-key").text, driver.find_element(By.ID, "new-secret-key").text
    assert driver.switch_to.active_element.get_attribute("id") == "new-secret", "the new secret gets the focus"
    driver.find_element(By.ID, "dismiss-secret").click()
    return pair


def test_root_manages_users_keys_and_kms_keys(console_server, browser, bucket_names):
    """The root user creates a user and a second key for it in the console; the new user signs
    in with the first key and is not shown (or let into) the root pages; root disables that
    key and signing in with it fails, while the second still works; root creates and rotates
    a KMS key that boto3 then encrypts with; S3's errors show in role=alert lines."""
    srv = console_server
    browser.set_window_size(1280, 900)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    wait(browser, lambda d: found(d, By.ID, "users-link")).click()
    wait(browser, lambda d: any("root" in t for t in row_texts(d, "user-table")))
    name = "web-" + uuid.uuid4().hex[:8]
    browser.find_element(By.ID, "new-user").send_keys(name)
    browser.find_element(By.ID, "create-user").click()
    first_key, first_secret = new_secret(browser, "13-new-user-secret")
    wait(browser, lambda d: key_row(d, first_key))
    row = next(t for t in row_texts(browser, "user-table") if name in t)
    assert "enabled" in row and "1 of 1" in row
    browser.find_element(By.CSS_SELECTOR, f"button[aria-label='New key for {name}']").click()
    second_key, second_secret = new_secret(browser)
    wait(browser, lambda d: key_row(d, second_key))
    shot(browser, "14-users-and-keys")

    # The same name again: the server's error, announced.
    browser.find_element(By.ID, "new-user").send_keys(name)
    browser.find_element(By.ID, "create-user").click()
    error = wait(browser, lambda d: found(d, By.ID, "users-error"))
    assert "EntityConflict" in error.text and error.get_attribute("role") == "alert"

    # At phone width the tables stack.
    browser.set_window_size(390, 844)
    assert_fits_phone(browser)
    shot(browser, "15-phone-users")
    browser.set_window_size(1280, 900)

    # The new user signs in with its first key; the root pages are neither linked nor served.
    sign_out(browser)
    assert sign_in(browser, srv.console_url, first_key, first_secret).get_attribute("id") == "who"
    wait(browser, lambda d: found(d, By.ID, "bucket-table") or "No buckets yet" in d.page_source)
    assert not browser.find_elements(By.ID, "users-link")
    go(browser, "#/u")
    refused = wait(browser, lambda d: found(d, By.ID, "admin-refused"))
    assert refused.get_attribute("role") == "alert" and not browser.find_elements(By.ID, "user-table")

    # Root disables the first key in the console...
    sign_out(browser)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    go(browser, "#/u")
    wait(browser, lambda d: key_row(d, first_key))
    browser.find_element(By.CSS_SELECTOR, f"button[aria-label='Disable key {first_key}']").click()
    wait(browser, lambda d: "disabled" in (key_row(d, first_key).text if key_row(d, first_key) else ""))
    assert "1 of 2" in next(t for t in row_texts(browser, "user-table") if name in t)

    # ...and signing in with it fails (the server trusts a looked-up key for a second).
    sign_out(browser)
    time.sleep(1.2)
    error = sign_in(browser, srv.console_url, first_key, first_secret)
    assert error.get_attribute("id") == "signin-error" and "InvalidAccessKeyId" in error.text, error.text
    browser.find_element(By.ID, "access").clear()
    assert sign_in(browser, srv.console_url, second_key, second_secret).get_attribute("id") == "who"

    # KMS keys: create one, rotate it, and boto3 encrypts with it.
    sign_out(browser)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    wait(browser, lambda d: found(d, By.ID, "kms-link")).click()
    kms_name = "web-" + uuid.uuid4().hex[:8]
    wait(browser, lambda d: found(d, By.ID, "new-kms-key")).send_keys(kms_name)
    browser.find_element(By.ID, "create-kms-key").click()
    wait(browser, lambda d: any(kms_name in t for t in row_texts(d, "kms-table")))
    browser.find_element(By.CSS_SELECTOR, f"button[aria-label='Rotate KMS key {kms_name}']").click()
    wait(browser, lambda d: any(kms_name in t and "\t2\t" in t.replace("\n", "\t") for t in row_texts(d, "kms-table")))
    browser.find_element(By.ID, "new-kms-key").send_keys("bad name!")
    browser.find_element(By.ID, "new-kms-key").send_keys(Keys.ENTER)
    error = wait(browser, lambda d: found(d, By.ID, "kms-error"))
    assert "InvalidArgument" in error.text and error.get_attribute("role") == "alert", error.text
    shot(browser, "16-kms-keys")
    s3, bucket = new_bucket(srv, bucket_names)
    s3.put_object(Bucket=bucket, Key="k", Body=b"sealed", ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_name)
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"].startswith("arn:aws:kms:")


def test_root_manages_remotes_and_tiers(console_server, browser, bucket_names, tmp_path):
    """A remote (this server, with its root keys) and a directory tier added with the forms,
    listed without the remote's secret, the server's refusal shown, and both removed."""
    srv = console_server
    s3, bucket = new_bucket(srv, bucket_names)
    browser.set_window_size(1280, 900)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    wait(browser, lambda d: found(d, By.ID, "storage-link")).click()
    remote = "self-" + uuid.uuid4().hex[:6]
    wait(browser, lambda d: found(d, By.ID, "remote-name")).send_keys(remote)
    browser.find_element(By.ID, "remote-endpoint").send_keys(srv.endpoint)
    browser.find_element(By.ID, "remote-access").send_keys(srv.access_key)
    browser.find_element(By.ID, "remote-secret").send_keys(srv.secret_key)
    browser.find_element(By.ID, "add-remote").click()
    wait(browser, lambda d: any(remote in t for t in row_texts(d, "remote-table")))
    assert srv.secret_key not in browser.page_source

    # A tier on the remote, in a bucket that is not there: the server's check fails.
    tier = "cold-" + uuid.uuid4().hex[:6]
    browser.find_element(By.ID, "tier-name").send_keys(tier)
    browser.find_element(By.ID, "tier-kind-remote").click()
    browser.find_element(By.ID, "tier-bucket").send_keys(random_bucket_name("missing"))
    browser.find_element(By.ID, "class-GLACIER_IR").click()
    browser.find_element(By.ID, "add-tier").click()
    error = wait(browser, lambda d: found(d, By.ID, "tiers-error"))
    assert "InvalidArgument" in error.text and error.get_attribute("role") == "alert"
    browser.find_element(By.ID, "tier-bucket").clear()
    browser.find_element(By.ID, "tier-bucket").send_keys(bucket)
    browser.find_element(By.ID, "add-tier").click()
    wait(browser, lambda d: any(tier in t for t in row_texts(d, "tier-table")))
    disk = "disk-" + uuid.uuid4().hex[:6]
    browser.find_element(By.ID, "tier-name").send_keys(disk)
    browser.find_element(By.ID, "tier-path").send_keys(str(tmp_path / "tier"))
    browser.find_element(By.ID, "class-DEEP_ARCHIVE").click()
    browser.find_element(By.ID, "tier-archive").click()
    browser.find_element(By.ID, "add-tier").click()
    wait(browser, lambda d: any(disk in t and "yes" in t for t in row_texts(d, "tier-table")))
    assert (tmp_path / "tier").is_dir()
    shot(browser, "17-remotes-and-tiers")
    browser.set_window_size(390, 844)
    assert_fits_phone(browser)
    browser.set_window_size(1280, 900)

    # The remote is in use by a tier: refused, with the server's message.
    browser.find_element(By.CSS_SELECTOR, f"button[aria-label='Remove remote {remote}']").click()
    browser.switch_to.alert.accept()
    error = wait(browser, lambda d: found(d, By.ID, "remotes-error"))
    assert "EntityConflict" in error.text
    for name in (tier, disk):
        browser.find_element(By.CSS_SELECTOR, f"button[aria-label='Remove tier {name}']").click()
        browser.switch_to.alert.accept()
        wait(browser, lambda d, n=name: not any(n in t for t in row_texts(d, "tier-table")))
    browser.find_element(By.CSS_SELECTOR, f"button[aria-label='Remove remote {remote}']").click()
    browser.switch_to.alert.accept()
    wait(browser, lambda d: not any(remote in t for t in row_texts(d, "remote-table")))


def test_versions_past_one_page(console_server, browser, bucket_names):
    """A key with 1,005 versions: the details page lists the first 1,000 and "Load more
    versions" brings the other 5, and no version of a longer key that shares the prefix."""
    srv = console_server
    s3, name = new_bucket(srv, bucket_names)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=name, Key="v.txt", Body=str(i).encode()), range(1005)))
    s3.put_object(Bucket=name, Key="v.txt.other", Body=b"x")
    browser.set_window_size(1280, 900)
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    go(browser, f"#/o/{name}/v.txt")
    wait(browser, lambda d: len(row_texts(d, "version-table")) == 1000)
    assert "more on the server" in browser.find_element(By.ID, "version-count").text
    browser.find_element(By.ID, "more-versions").click()
    wait(browser, lambda d: len(row_texts(d, "version-table")) == 1005)
    assert not browser.find_elements(By.ID, "more-versions")
    browser.execute_script("document.getElementById('version-count').scrollIntoView({block: 'end'})")
    shot(browser, "18-versions-paged")
    ids = browser.execute_script("return Array.from(document.querySelectorAll('#version-table tbody tr'), (r) => r.dataset.version)")
    listed = s3.get_paginator("list_object_versions").paginate(Bucket=name, Prefix="v.txt")
    assert ids == [v["VersionId"] for page in listed for v in page.get("Versions", []) if v["Key"] == "v.txt"]


AXE = Path(__file__).resolve().parents[2] / "console" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_violations(driver):
    """axe-core's serious and critical findings on the page as it is now."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: run (cd console && npm ci) for the axe-core package")
    driver.execute_script(AXE.read_text())
    found_ = driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        axe.run(document, { runOnly: { type: 'tag', values: arguments[0] } })
          .then((r) => done(r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }))), (e) => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: [] }]));""",
        AXE_TAGS)
    return [v for v in found_ if v["impact"] in ("serious", "critical")]


def test_accessibility_audit(console_server, browser, bucket_names):
    """axe-core (the npm package, injected into the page) finds no serious or critical
    violation of WCAG 2.1 A/AA or its best practices on any page of the console."""
    srv = console_server
    s3, name = new_bucket(srv, bucket_names)
    s3.put_object(Bucket=name, Key="docs/a.txt", Body=b"a", Tagging="k=v")
    browser.set_window_size(1280, 900)
    browser.set_script_timeout(60)
    browser.get(srv.console_url + "/")
    wait(browser, lambda d: found(d, By.ID, "access"))
    pages = {"sign-in": axe_violations(browser)}
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    for label, fragment, ready in [
        ("buckets", "#/", "bucket-table"), ("objects", f"#/b/{name}/docs/", "object-table"),
        ("details", f"#/o/{name}/docs/a.txt", "version-table"), ("settings", f"#/s/{name}", "settings-title"),
        ("server", "#/m", "request-table"), ("users", "#/u", "key-table"), ("kms", "#/k", "kms-title"),
        ("remotes", "#/r", "add-tier"),
    ]:
        go(browser, fragment)
        wait(browser, lambda d, i=ready: found(d, By.ID, i))
        time.sleep(0.3)
        pages[label] = axe_violations(browser)
    browser.set_window_size(390, 844)
    pages["users-phone"] = axe_violations(browser)
    assert not any(pages.values()), {k: v for k, v in pages.items() if v}


@pytest.fixture
def tidy_server(tmp_path):
    """A server of its own, holding only what one test puts there."""
    srv = start_console_server(tmp_path)
    yield srv
    stop_server(srv)


def test_screenshots_of_the_main_pages(tidy_server, browser):
    """A small, tidy store photographed page by page at 1280x800 and at a phone's 390x844 (the
    PNGs under docs/console/ come from this test, run with COFFER_CONSOLE_SHOTS); every page
    must show its content, so the test also checks that each one renders for the root user."""
    srv, s3 = tidy_server, tidy_server.client()
    photos, backups = "family-photos", "nightly-backups"
    for name in (photos, backups):
        s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=photos, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=photos, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    for i, size in enumerate((2_400_000, 3_100_000, 1_800_000, 2_750_000)):
        s3.put_object(Bucket=photos, Key=f"2026/summer/IMG_{4810 + i}.jpg", Body=b"\xff" * size, ContentType="image/jpeg")
    s3.put_object(Bucket=photos, Key="2026/summer/notes.txt", Body=b"the first draft", ContentType="text/plain")
    s3.put_object(Bucket=photos, Key="2026/summer/notes.txt", Body=b"what we did in the summer", ContentType="text/plain",
                  Metadata={"author": "ann"}, Tagging="album=summer&shared=family")
    s3.put_object(Bucket=photos, Key="2025/index.html", Body=b"<h1>2025</h1>", ContentType="text/html")
    for day in range(1, 4):
        s3.put_object(Bucket=backups, Key=f"db/2026-12-0{day}.sql.gz", Body=b"\x1f\x8b" * 400_000)
    create_user(srv, "ann")
    create_kms_key(srv, "photos")

    def viewport(width, height):
        """Sizes the window so that the page itself (what a screenshot holds) is `height` high."""
        browser.set_window_size(width, height)
        extra = browser.execute_script("return window.outerHeight - window.innerHeight")
        browser.set_window_size(width, height + max(extra, 0))

    def page(fragment, ready, name):
        go(browser, fragment)
        wait(browser, lambda d: found(d, By.ID, ready))
        time.sleep(0.3)
        browser.execute_script("window.scrollTo(0, 0); document.activeElement?.blur()")
        shot(browser, name)

    viewport(1280, 800)
    browser.get(srv.console_url + "/")
    wait(browser, lambda d: found(d, By.ID, "access"))
    shot(browser, "sign-in")
    sign_in(browser, srv.console_url, srv.access_key, srv.secret_key)
    go(browser, "#/")
    wait(browser, lambda d: any(backups in t and "2.3 MiB" in t for t in row_texts(d, "bucket-table")))
    shot(browser, "buckets")
    page(f"#/b/{photos}/2026%2Fsummer%2F", "object-table", "objects")
    page(f"#/o/{photos}/2026/summer/notes.txt", "version-table", "object-details")
    page(f"#/s/{photos}", "lock-form-save", "settings")
    page("#/m", "request-table", "dashboard")
    page("#/u", "key-table", "users")
    page("#/k", "kms-table", "kms-keys")
    page("#/r", "add-tier", "remotes-and-tiers")
    viewport(390, 844)
    page("#/", "bucket-table", "phone-buckets")
    assert_fits_phone(browser)
    page(f"#/o/{photos}/2026/summer/notes.txt", "version-table", "phone-object-details")
    assert_fits_phone(browser)
