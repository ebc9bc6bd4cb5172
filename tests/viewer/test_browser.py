"""The pages in a real headless Chromium against the real gunicorn: each tab draws what the API
answers, zoom re-buckets, the console follows a running task, names are shown as typed."""
from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.viewer.conftest import (
    HOSTILE_LOG, HOSTILE_METRIC, HOSTILE_TITLE, HOSTILE_VARIANT, IMAGE_ITERATIONS, STORED_ITERATIONS,
    screenshot,
)

CHARTS = """return [...document.querySelectorAll('.chart')].map(d => ({
    metric: d.dataset.metric, range: d.dataset.range || '', loading: !!d.dataset.loading,
    title: (d.querySelector('.gtitle') || {}).textContent,
    legend: [...d.querySelectorAll('.legendtext')].map(e => e.textContent),
    bands: d.data.filter(t => t.meta === 'band').length,
    lines: d.data.filter(t => t.meta === 'line').map(t => ({x: Array.from(t.x), y: Array.from(t.y)}))}))"""


CHARTS_READY = "return document.querySelector('.charts')?.dataset.ready === '1'"


def wait(driver, condition, timeout: float = 20):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))


def open_tab(driver, rec, tab: str) -> None:
    driver.get(f"{rec.base}/projects/{rec.project}/experiments/{rec.task}/{tab}")
    wait(driver, lambda d: d.execute_script("return document.getElementById('tab').dataset.ready === '1'"))


def no_script_ran(driver) -> bool:
    return driver.execute_script("return window.__xss === undefined")


def test_the_sdk_link_opens_the_console_and_tabs_have_their_paths(browser, recorded):
    browser.get(f"{recorded.base}/projects/{recorded.project}/experiments/{recorded.task}/output/log")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#console .line"))
    assert browser.find_element(By.CSS_SELECTOR, ".tabs a.active").text == "Console"
    assert browser.find_element(By.ID, "task-name").text == "<b>run A</b>"


def test_scalars_draw_the_api_histogram_per_metric_and_variant(browser, recorded):
    open_tab(browser, recorded, "scalars")
    api = recorded.api("events.scalar_metrics_iter_histogram", task=recorded.task, samples=1000)
    charts = browser.execute_script(CHARTS)
    screenshot(browser, "scalars")
    assert [c["metric"] for c in charts] == list(api) == [HOSTILE_METRIC, "loss"]
    for chart in charts:
        variants = api[chart["metric"]]
        assert chart["title"] == chart["metric"]  # shown as typed
        assert chart["legend"] == list(variants)
        assert [line["x"] for line in chart["lines"]] == [v["x"] for v in variants.values()]
        assert [line["y"] for line in chart["lines"]] == [v["y"] for v in variants.values()]
        # a min/max band (two traces) for every series whose points were merged
        assert chart["bands"] == 2 * sum("y_min" in v for v in variants.values())
    loss = charts[1]
    assert loss["legend"] == [HOSTILE_VARIANT, "train"] and len(loss["lines"][1]["x"]) < 3000
    overflow = browser.execute_script("return [...document.querySelectorAll('.chart')].map(c =>"
                                      "c.querySelector('.main-svg').getBoundingClientRect().right"
                                      "- c.getBoundingClientRect().right)")
    assert all(px <= 0 for px in overflow), overflow  # each chart inside its card
    assert no_script_ran(browser)


def test_smoothing_log_scale_and_hiding_a_variant(browser, recorded):
    open_tab(browser, recorded, "scalars")
    api = recorded.api("events.scalar_metrics_iter_histogram", task=recorded.task, samples=1000)
    api = api["loss"]["train"]
    browser.execute_script("const s = document.getElementById('smoothing'); s.value = '0.5';"
                           "s.dispatchEvent(new Event('input'))")
    browser.find_element(By.ID, "log-scale").click()
    loss = "[...document.querySelectorAll('.chart')].find(c => c.dataset.metric === 'loss')"
    smoothed = browser.execute_script(f"return Array.from({loss}.data.filter(t => t.meta === 'line')[1].y)")
    ema, last = [], 0.0
    for n, y in enumerate(api["y"], 1):
        last = last * 0.5 + 0.5 * y
        ema.append(last / (1 - 0.5 ** n))
    assert smoothed == pytest.approx(ema) and smoothed != api["y"]
    assert browser.execute_script(f"return {loss}.layout.yaxis.type") == "log"
    browser.find_elements(By.CSS_SELECTOR, ".chart[data-metric=loss] .legendtoggle")[1].click()
    hidden = wait(browser, lambda d: d.execute_script(
        f"return {loss}.data.filter(t => t.visible === 'legendonly').map(t => t.legendgroup)"))
    assert set(hidden) == {"train"} and len(hidden) == 3  # the line and its min/max band


def _zoom(driver, metric: str, lo: float, hi: float) -> dict:
    driver.execute_script(
        "const d = [...document.querySelectorAll('.chart')].find(c => c.dataset.metric === arguments[0]);"
        "delete d.dataset.range; Plotly.relayout(d, {'xaxis.range': [arguments[1], arguments[2]]});",
        metric, lo, hi)
    return wait(driver, lambda d: next(
        (c for c in d.execute_script(CHARTS) if c["metric"] == metric and c["range"] and not c["loading"]),
        None))


def test_zoom_by_iteration_shows_every_point_of_the_range(browser, recorded):
    open_tab(browser, recorded, "scalars")
    before = next(c for c in browser.execute_script(CHARTS) if c["metric"] == "loss")
    chart = _zoom(browser, "loss", 1200, 1500)
    every = recorded.api("events.scalar_metrics_iter_histogram", task=recorded.task, samples=0)["loss"]
    for line, (name, points) in zip(chart["lines"], every.items()):
        wanted = [(x, y) for x, y in zip(points["x"], points["y"]) if 1200 <= x <= 1500]
        assert list(zip(line["x"], line["y"])) == wanted, name
        shown_before = [x for x in before["lines"][0]["x"] if 1200 <= x <= 1500]
        assert len(line["x"]) == 301 > len(shown_before)
    assert chart["bands"] == 0  # no point merged any more
    # back to the whole series (double click = autorange)
    browser.execute_script("const d = [...document.querySelectorAll('.chart')]"
                           ".find(c => c.dataset.metric === 'loss');"
                           "Plotly.relayout(d, {'xaxis.autorange': true});")
    wait(browser, lambda d: next(c for c in d.execute_script(CHARTS) if c["metric"] == "loss")["range"] == "")


def test_zoom_by_time_matches_the_api_points_of_that_time_range(browser, recorded):
    open_tab(browser, recorded, "scalars")
    Select(browser.find_element(By.ID, "x-axis")).select_by_value("time")
    wait(browser, lambda d: d.execute_script(CHARTS_READY))
    t0 = int(browser.execute_script("return document.querySelector('.charts').dataset.t0"))
    assert recorded.t0 - 3000 < t0 <= recorded.t0  # the start of the first bucket
    chart = _zoom(browser, "loss", 600, 700)  # seconds from the start
    lo, hi = t0 + 600_000, t0 + 700_000
    every = recorded.api("events.scalar_metrics_iter_histogram", task=recorded.task, samples=0,
                         key="timestamp")["loss"]
    for line, points in zip(chart["lines"], every.values()):
        wanted = [(x, y) for x, y in zip(points["x"], points["y"]) if lo <= x <= hi]
        shown = [(round(t0 + x * 1000), y) for x, y in zip(line["x"], line["y"])]
        assert shown == wanted and len(wanted) in (100, 101)


def test_plots_render_each_figure_as_sent_newest_first(browser, recorded):
    open_tab(browser, recorded, "plots")
    screenshot(browser, "plots")
    figures = browser.execute_script("""return [...document.querySelectorAll('.plot-figure')].map(f => ({
        metric: f.dataset.metric, iter: Number(f.dataset.iter),
        traces: f.querySelector('.plot').data.length,
        types: f.querySelector('.plot').data.map(t => t.type),
        title: (f.querySelector('.gtitle') || {}).textContent}))""")
    api = recorded.api("events.get_task_plots", task=recorded.task, iters=3)["plots"]
    # grouped by metric (in the order the newest plots name them), newest iteration first in each
    metrics = list(dict.fromkeys(p["metric"] for p in api))
    api.sort(key=lambda p: (metrics.index(p["metric"]), -p["iter"]))
    assert [(f["metric"], f["iter"]) for f in figures] == \
        [("roc", 4), ("roc", 3), ("roc", 2), ("pr", 2)] == [(p["metric"], p["iter"]) for p in api]
    for figure, plot in zip(figures, api):
        sent = json.loads(plot["plot_str"])
        assert figure["types"] == [t["type"] for t in sent["data"]]
        title = sent["layout"]["title"]
        assert figure["title"] == (title["text"] if isinstance(title, dict) else title)
    assert figures[0]["title"] == f"{HOSTILE_TITLE} 4"
    assert no_script_ran(browser)
    browser.find_element(By.ID, "more-plots").click()  # 9 iterations per plot: every one of these
    wait(browser, lambda d: d.execute_script("return document.getElementById('tab').dataset.ready === '1'"))
    shown = browser.execute_script("return [...document.querySelectorAll('.plot-figure')]"
                                   ".map(f => [f.dataset.metric, Number(f.dataset.iter)])")
    assert shown == [["roc", 4], ["roc", 3], ["roc", 2], ["roc", 1], ["pr", 2]]


def _samples(driver, metric: str | None = None) -> list:
    return driver.execute_script("""
        return [...document.querySelectorAll('.debug-metric .iteration')]
            .filter(i => arguments[0] === null || i.closest('.debug-metric').dataset.metric === arguments[0])
            .map(i => ({
            iter: Number(i.dataset.iter),
            images: [...i.querySelectorAll('img')].map(
                m => [m.getAttribute('src'), m.naturalWidth, m.naturalHeight, m.complete,
                      m.clientWidth, m.clientHeight, m.title])}))""", metric)


def test_debug_samples_show_images_by_iteration_and_navigate(browser, recorded):
    open_tab(browser, recorded, "debug-samples")
    newest = wait(browser, lambda d: (s := _samples(d)) and all(m[3] for i in s for m in i["images"]) and s)
    screenshot(browser, "debug-samples")
    assert [i["iter"] for i in newest] == [IMAGE_ITERATIONS, IMAGE_ITERATIONS - 1, IMAGE_ITERATIONS - 2]
    for iteration in newest:
        assert len(iteration["images"]) == 2
        for src, width, height, *_ in iteration["images"]:
            assert (width, height) == recorded.images[src]
    browser.find_element(By.CSS_SELECTOR, ".debug-metric .earlier").click()
    earlier = wait(browser, lambda d: (s := _samples(d)) and s[0]["iter"] == 2 and s)
    assert [i["iter"] for i in earlier] == [2, 1]
    browser.find_element(By.CSS_SELECTOR, ".debug-metric .later").click()
    later = wait(browser, lambda d: (s := _samples(d)) and s[0]["iter"] != 2 and s)
    assert [i["iter"] for i in later] == [5, 4, 3]


def test_debug_samples_in_the_files_store_show_with_the_session_only(browser, recorded):
    """The SDK's uploads: the URL recorded is this service's /files/..., which the page's <img> reads
    with the signed-in session's cookie (no API credentials in a browser)."""
    browser.get(f"{recorded.base}/projects/{recorded.project}/experiments/{recorded.other_task}"
                "/debug-samples")
    shown = wait(browser, lambda d: (s := _samples(d, "stored")) and all(m[3] for i in s for m in i["images"])
                 and s)
    screenshot(browser, "debug-samples-stored")
    assert [i["iter"] for i in shown] == list(range(STORED_ITERATIONS, 0, -1))
    images = [image for iteration in shown for image in iteration["images"]]
    assert len(images) == 2 * STORED_ITERATIONS
    assert {image[6] for image in images} == set(recorded.stored_images)  # each address recorded
    for src, width, height, _, shown_width, shown_height, recorded_url in images:
        # loaded from this host's files store, whatever host name the SDK recorded
        assert src.startswith(f"/files/viewer%20project/run%20B.{recorded.other_task}/")
        assert recorded_url.endswith(src)
        assert (width, height) == (shown_width, shown_height) == recorded.stored_images[recorded_url]
    # an address whose file is not there says so, instead of an empty box
    lost = ".debug-metric[data-metric=lost] .sample"
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, lost).text.startswith("could not load"))
    assert browser.find_element(By.CSS_SELECTOR, lost).text == f"could not load {recorded.lost_image}\ngone"
    # every iteration is shown: a step either way says there is nothing more
    stored = ".debug-metric[data-metric=stored]"
    for direction, note in (("earlier", "No earlier iterations"), ("later", "No later iterations yet")):
        browser.find_element(By.CSS_SELECTOR, f"{stored} .{direction}").click()
        wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"{stored} .end").text == note)
        assert [i["iter"] for i in _samples(browser, "stored")] == [2, 1]


def _console(driver) -> list[str]:
    return driver.execute_script("return [...document.querySelectorAll('#console .line .msg')]"
                                 ".map(e => e.textContent)")


def test_console_shows_the_newest_lines_scrolls_back_and_follows_new_lines(browser, recorded):
    open_tab(browser, recorded, "console")
    screenshot(browser, "console")
    api = recorded.api("events.get_task_log", task=recorded.task, batch_size=500)["events"]
    assert _console(browser) == [e["msg"] for e in reversed(api)]
    assert _console(browser)[-1] == f"line 1199 {HOSTILE_LOG}"
    at_bottom = browser.execute_script("const b = document.getElementById('console');"
                                       "return b.scrollHeight - b.scrollTop - b.clientHeight < 5")
    assert at_bottom
    # scroll back to the very first line (scrolled to the top again until every page is there)
    scroll_up = ("const b = document.getElementById('console'); b.scrollTop = 0;"
                 "b.dispatchEvent(new Event('scroll'))")
    lines = wait(browser, lambda d: (d.execute_script(scroll_up), c := _console(d)) and len(c) == 1200 and c)
    assert lines == [f"line {n} {HOSTILE_LOG}" for n in range(1200)]
    # a line reported while the console is open appears without reloading
    browser.execute_script("window.__still_open = true")
    recorded.add([{"type": "log", "task": recorded.task, "timestamp": recorded.t0 + 999_999,
                   "level": "warning", "msg": "<b>fresh</b> line"}])
    wait(browser, lambda d: _console(d)[-1] == "<b>fresh</b> line", timeout=15)
    assert browser.execute_script("return window.__still_open === true")  # same page, no reload
    assert no_script_ran(browser)


def test_console_search_finds_lines_in_the_whole_log(browser, recorded):
    open_tab(browser, recorded, "console")
    browser.find_element(By.ID, "log-search").send_keys("line 11")
    found = wait(browser, lambda d: (c := _console(d)) and all("line 11" in m for m in c) and c)
    assert found == [f"line {n} {HOSTILE_LOG}" for n in [11, *range(110, 120), *range(1100, 1200)]]


def test_project_page_lists_tasks_and_compares_the_selected(browser, recorded):
    browser.get(f"{recorded.base}/projects/{recorded.project}")
    rows = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#tasks tbody tr"))
    names = {r.find_element(By.CSS_SELECTOR, ".name").text: r for r in rows}
    assert set(names) == {"<b>run A</b>", "run B"}
    for row in rows:
        row.find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    browser.find_element(By.ID, "compare").click()
    wait(browser, lambda d: d.execute_script(CHARTS_READY))
    screenshot(browser, "compare")
    links = browser.execute_script("return [...document.querySelectorAll('#compared a')]"
                                   ".map(a => [a.textContent, a.getAttribute('href')])")
    page = f"/projects/{recorded.project}/experiments/{{}}/scalars"
    assert sorted(links) == [["<b>run A</b>", page.format(recorded.task)],
                             ["run B", page.format(recorded.other_task)]]
    loss = next(c for c in browser.execute_script(CHARTS) if c["metric"] == "loss")
    assert sorted(loss["legend"]) == sorted([f"<b>run A</b> · {HOSTILE_VARIANT}", "<b>run A</b> · train",
                                             "run B · train"])
    api = recorded.api("events.multi_task_scalar_metrics_iter_histogram",
                       tasks=[recorded.task, recorded.other_task], samples=1000)["metrics"]["loss"]
    assert sorted(len(line["x"]) for line in loss["lines"]) == sorted(
        len(points["x"]) for by_task in api.values() for points in by_task.values())
    assert no_script_ran(browser)


def test_task_list_sorts_and_searches_in_the_page(browser, recorded):
    browser.get(f"{recorded.base}/projects/{recorded.project}")
    names = "return [...document.querySelectorAll('#tasks tbody .name')].map(e => e.textContent)"
    wait(browser, lambda d: len(d.execute_script(names)) == 2)
    sorted_by = "return [...document.querySelectorAll('th.sorted')].map(h => [h.dataset.sort, h.className])"
    assert browser.execute_script(sorted_by) == [["last_update", "sorted desc"]]  # the list's own order
    browser.find_element(By.CSS_SELECTOR, "th[data-sort=name]").click()
    wait(browser, lambda d: d.execute_script(names) == ["<b>run A</b>", "run B"])
    assert browser.execute_script(sorted_by) == [["name", "sorted asc"]]
    browser.find_element(By.CSS_SELECTOR, "th[data-sort=name]").click()
    wait(browser, lambda d: d.execute_script(names) == ["run B", "<b>run A</b>"])
    browser.find_element(By.ID, "search").send_keys("<B>RUN")
    wait(browser, lambda d: d.execute_script(names) == ["<b>run A</b>"])


def test_another_companys_task_is_not_found(browser, recorded):
    foreign = f"{recorded.base}/projects/{recorded.foreign_project}"
    browser.get(f"{foreign}/experiments/{recorded.foreign_task}/scalars")
    assert browser.find_element(By.CSS_SELECTOR, "#error h1").text == "404"
    browser.get(f"{recorded.base}/projects/{recorded.foreign_project}")
    assert browser.find_element(By.CSS_SELECTOR, "#error h1").text == "404"
    browser.get(f"{recorded.base}/projects/*/experiments/{recorded.foreign_task}/console")
    assert browser.find_element(By.CSS_SELECTOR, "#error h1").text == "404"
