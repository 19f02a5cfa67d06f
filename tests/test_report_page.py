"""report.html in a real browser: Debian's chromium (installed here when
missing: `apt-get install -y chromium` as root with apt; skipped with the
reason where that cannot be done), driven by Playwright. The page is
opened from a file as from a USB stick; every request it makes is
recorded (none may leave the page), a screenshot is taken, and every
mark on the timeline is checked against the data and the axis."""
import csv
import datetime
import os
import shutil
import subprocess

import pytest

from bodycam import cli

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
CLEAN = [0, 1, 3, 4, 5]


def _install_chromium():
    if os.path.exists(CHROMIUM):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "Debian's chromium is not installed and cannot be here (not root, or no apt-get)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
        if p.returncode:
            return "apt-get could not install chromium: %s" % (p.stderr or p.stdout)[-500:]
    return None if os.path.exists(CHROMIUM) else "chromium installed but %s is missing" % CHROMIUM


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is a test extra: pip install '.[test]'")
    why = _install_chromium()
    if why:
        pytest.skip(why)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, args=ARGS,
                                                   headless=True, viewport={"width": 1400, "height": 900})
        yield ctx
        ctx.close()


def dev(n):
    return "bc-%08x" % (0x1000 + n)


def open_page(browser, path):
    """Open a file; returns (page, every URL it requested). Anything but
    the page's own file is recorded and refused."""
    seen = []
    page = browser.new_page()
    page.on("request", lambda r: seen.append(r.url))
    page.route("**/*", lambda route: route.continue_() if route.request.url == path.as_uri() else route.abort())
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, seen


def test_page_in_chromium_makes_no_request_and_marks_sit_where_the_data_says(report_fleet, browser, tmp_path):
    out = tmp_path / "rep"
    code = cli.main(["report"] + [os.path.join(report_fleet.station, dev(c)) for c in CLEAN] +
                    ["--roster", report_fleet.roster, "--key", report_fleet.keyring, "--out", str(out)])
    assert code == 0
    page, seen = open_page(browser, out / "report.html")
    assert seen == [(out / "report.html").as_uri()]
    png = page.screenshot(full_page=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20000
    assert page.locator("#integrity").inner_text().startswith("Integrity: all 5 camera trail(s) VERIFIED")
    marks = page.evaluate("""() => {
        const svg = document.querySelector('svg.timeline'), box = svg.getBoundingClientRect();
        const d = svg.dataset;
        const lanes = [...svg.querySelectorAll('g.lane')].map(g => {
            const y = +g.dataset.y;
            return {camera: g.dataset.camera, y: y, recs: [...g.querySelectorAll('g.rec')].map(r => {
                const b = r.querySelector('rect.body').getBoundingClientRect();
                return {clip: r.dataset.clip, press: +r.dataset.pressMs, end: +r.dataset.endMs,
                        x: b.left - box.left, w: b.width, top: b.top - box.top, bottom: b.bottom - box.top};
            })};
        });
        const untitled = [...svg.querySelectorAll('.on, .pre, .body, .marker, .offload, .clock')]
            .filter(e => !e.querySelector(':scope > title') || !e.querySelector(':scope > title').textContent.trim())
            .length;
        const marked = svg.querySelectorAll('.on, .pre, .body, .marker, .offload, .clock').length;
        return {lo: +d.loMs, hi: +d.hiMs, labelW: +d.labelW, plotW: +d.plotW, lanes: lanes,
                untitled: untitled, marked: marked,
                clocks: [...svg.querySelectorAll('line.clock')].map(l => l.dataset.offsetMs)};
    }""")
    assert marks["untitled"] == 0 and marks["marked"] > 150
    assert [lane["camera"] for lane in marks["lanes"]] == [dev(c) for c in CLEAN]
    assert marks["clocks"] == ["-90000"]
    scale = marks["plotW"] / (marks["hi"] - marks["lo"])
    with open(out / "recordings.csv") as f:
        want = {(r["device"], r["clip"], r["seq"]): r for r in csv.DictReader(f) if r["press_utc"]}
    drawn = 0
    for lane in marks["lanes"]:
        for r in lane["recs"]:
            x = marks["labelW"] + (r["press"] - marks["lo"]) * scale
            assert abs(r["x"] - x) < 0.6, r
            assert abs(r["w"] - max(1.5, (r["end"] - r["press"]) * scale)) < 0.6, r
            assert lane["y"] <= r["top"] and r["bottom"] <= lane["y"] + 22
            csv_press = [_ms(w["press_utc"]) for k, w in want.items() if k[0] == lane["camera"] and k[1] == r["clip"]]
            assert any(0 <= r["press"] - p < 1000 for p in csv_press), (lane["camera"], r)
            drawn += 1
    assert drawn == len(want)
    page.close()


def test_public_page_makes_no_request(report_fleet, browser, tmp_path):
    out = tmp_path / "pub"
    cli.main(["report", report_fleet.station, "--roster", report_fleet.roster, "--key", report_fleet.keyring,
              "--public", "--out", str(out)])
    page, seen = open_page(browser, out / "report.html")
    assert seen == [(out / "report.html").as_uri()]
    assert "suppressed: fewer than 5 officers or 10 recordings" in page.inner_text("body")
    page.close()


def _ms(iso):
    return int(datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000)
