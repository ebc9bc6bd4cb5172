/* The pages' behaviour: task list, Scalars, Plots, Debug samples, Console, Compare.
 * Everything a training script reported is put into the page as text (textContent, or escaped
 * for Plotly, which reads a little HTML in names and titles), never as markup. */
"use strict";
const Viewer = (() => {
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                   "#7f7f7f", "#bcbd22", "#17becf"];
  const SAMPLES = 1000;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  // Plotly renders a subset of HTML in names and titles: entities make it show them as typed.
  function literal(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  async function getJSON(url) {
    const response = await fetch(url, {credentials: "same-origin"});
    const body = await response.json().catch(() => ({error: `${response.status} ${response.statusText}`}));
    if (!response.ok) throw new Error(body.error || `${response.status}`);
    return body;
  }

  function message(container, text, isError) {
    const node = el("p", {class: "message" + (isError ? " error" : ""), text});
    container.append(node);
    return node;
  }

  // --- task list -------------------------------------------------------------------------------
  function taskList(root) {
    const body = root.querySelector("tbody"), more = root.querySelector("#more");
    const note = root.querySelector("#tasks-message"), search = root.querySelector("#search");
    const compare = root.querySelector("#compare");
    const project = root.dataset.project;
    const state = {sort: "last_update", order: "desc", next: null, q: ""};
    const selected = new Set();

    async function load(reset) {
      if (reset) { body.replaceChildren(); state.next = null; }
      const params = new URLSearchParams({project, sort: state.sort, order: state.order, q: state.q});
      if (state.next) params.set("after", state.next);
      try {
        const page = await getJSON(`/ui/data/tasks?${params}`);
        for (const t of page.tasks) body.append(row(t));
        state.next = page.next;
        more.hidden = !page.next;
        note.textContent = body.children.length ? "" : "No tasks";
      } catch (e) { note.textContent = e.message; note.classList.add("error"); }
    }

    function row(t) {
      const box = el("input", {type: "checkbox", value: t.id});
      box.checked = selected.has(t.id);
      box.addEventListener("change", () => {
        if (box.checked) selected.add(t.id); else selected.delete(t.id);
        compare.disabled = selected.size < 2;
      });
      const link = el("a", {href: `/projects/${encodeURIComponent(t.project || "*")}/experiments/` +
                                  `${encodeURIComponent(t.id)}/scalars`, text: t.name || t.id});
      const tags = el("td", {class: "tags"});
      for (const tag of t.tags) tags.append(el("span", {class: "tag", text: tag}));
      return el("tr", {"data-id": t.id}, el("td", {}, box), el("td", {class: "name"}, link),
                el("td", {}, el("span", {class: `status status-${t.status}`, text: t.status})),
                el("td", {class: "num", text: String(t.last_iteration)}),
                el("td", {text: new Date(t.last_update).toLocaleString()}), tags);
    }

    for (const th of root.querySelectorAll("th[data-sort]")) {
      th.addEventListener("click", () => {
        if (state.sort === th.dataset.sort) state.order = state.order === "asc" ? "desc" : "asc";
        else { state.sort = th.dataset.sort; state.order = th.dataset.sort === "name" ? "asc" : "desc"; }
        for (const h of root.querySelectorAll("th[data-sort]")) h.className = "";
        th.className = `sorted ${state.order}`;
        load(true);
      });
    }
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { state.q = search.value; load(true); }, 250);
    });
    more.addEventListener("click", () => load(false));
    compare.addEventListener("click", () => {
      location.href = `/projects/${encodeURIComponent(project)}/compare?tasks=` +
                      [...selected].map(encodeURIComponent).join(",");
    });
    load(true);
  }

  // --- charts (Scalars and Compare) ------------------------------------------------------------
  function ema(values, weight) {
    if (!weight) return values;
    const out = [];
    let last = 0, n = 0;
    for (const v of values) {
      last = last * weight + (1 - weight) * v; n += 1;
      out.push(last / (1 - Math.pow(weight, n)));
    }
    return out;
  }

  /* A set of charts, one per metric. `load(metric, lo, hi)` answers {metric: {line name: points}}
   * (every metric when `metric` is null), with x as iterations or epoch ms. */
  function charts(root, load, xModes) {
    const controls = el("div", {class: "controls"});
    const xSelect = el("select", {id: "x-axis"});
    for (const [value, label] of xModes) xSelect.append(el("option", {value, text: label}));
    const smooth = el("input", {type: "range", id: "smoothing", min: "0", max: "0.99", step: "0.01",
                                value: "0"});
    const smoothValue = el("span", {text: "0"});
    const log = el("input", {type: "checkbox", id: "log-scale"});
    controls.append(el("label", {}, "X axis ", xSelect), el("label", {}, "Smoothing ", smooth, smoothValue),
                    el("label", {}, log, " Log scale"));
    const grid = el("div", {class: "charts"});
    root.append(controls, grid);
    const state = {full: {}, shown: {}, ranges: {}, t0: 0, mode: xModes[0][0]};

    const serverX = () => (state.mode === "iter" ? "iter" : "time");
    const toPlot = (x) => (state.mode === "time" ? (x - state.t0) / 1000 : x);
    function fromPlot(v) {
      if (state.mode === "iter") return Number(v);
      if (state.mode === "time") return state.t0 + Number(v) * 1000;
      return typeof v === "number" ? v : Date.parse(String(v).replace(" ", "T") + "Z");
    }

    function traces(lines) {
      const out = [];
      Object.keys(lines).forEach((name, i) => {
        const p = lines[name], color = PALETTE[i % PALETTE.length], x = p.x.map(toPlot);
        if (p.y_min) {
          out.push({x, y: p.y_max, mode: "lines", line: {width: 0, color}, showlegend: false, legendgroup: name,
                    hoverinfo: "skip", meta: "band"});
          out.push({x, y: p.y_min, mode: "lines", line: {width: 0, color}, fill: "tonexty", showlegend: false,
                    legendgroup: name, hoverinfo: "skip", fillcolor: color + "40", meta: "band"});
        }
        out.push({x, y: ema(p.y, Number(smooth.value)), name: literal(name), legendgroup: name, meta: "line",
                  mode: p.x.length <= 50 ? "lines+markers" : "lines", line: {color, width: 1.5}});
      });
      return out;
    }

    function layout(metric) {
      const xaxis = {title: {text: {iter: "Iterations", time: "Seconds from start", wall: "Wall clock"}[
                     state.mode]}, type: state.mode === "wall" ? "date" : "linear"};
      if (state.ranges[metric]) Object.assign(xaxis, {range: state.ranges[metric], autorange: false});
      return {title: {text: literal(metric), x: 0.01, xanchor: "left"}, xaxis, uirevision: `${metric}-${state.mode}`,
              yaxis: {type: log.checked ? "log" : "linear"}, margin: {t: 40, r: 10, b: 40, l: 50},
              height: 360, showlegend: true, legend: {orientation: "h", y: -0.25, yanchor: "top"}};
    }

    function draw(metric) {
      const div = state.divs[metric];
      Plotly.react(div, traces(state.shown[metric]), layout(metric), {responsive: true});
    }

    /* By time, the iteration window that covers [lo, hi]: from the first iteration (`it`) of the
     * last point shown at or before lo to just before that of the first point after hi. */
    function iterationWindow(metric, lo, hi) {
      let first = Infinity, last = -Infinity;
      for (const p of Object.values(state.shown[metric] || {})) {
        if (!p.it || !p.it.length) return null;
        let a = p.it[0], b = Number.MAX_SAFE_INTEGER;
        for (let i = 0; i < p.x.length; i++) {
          if (p.x[i] <= lo) a = p.it[i];
          else if (p.x[i] > hi) { b = p.it[i] - 1; break; }
        }
        first = Math.min(first, a); last = Math.max(last, b);
      }
      return first <= last ? [first, last] : null;
    }

    async function zoom(metric, event) {
      const div = state.divs[metric];
      if (event["xaxis.autorange"]) {
        state.shown[metric] = state.full[metric];
        delete state.ranges[metric];
        div.dataset.range = "";
        draw(metric);
        return;
      }
      const range = event["xaxis.range"] || [event["xaxis.range[0]"], event["xaxis.range[1]"]];
      if (range[0] === undefined) return;
      const lo = Math.floor(fromPlot(range[0])), hi = Math.ceil(fromPlot(range[1]));
      div.dataset.loading = "1";
      try {
        const its = serverX() === "time" ? iterationWindow(metric, lo, hi) : null;
        const found = await load(metric, lo, hi, serverX(), its);
        state.shown[metric] = found[metric] || {};
        state.ranges[metric] = range;
        div.dataset.range = `${lo},${hi}`;
        draw(metric);
      } catch (e) { message(div, e.message, true); }
      delete div.dataset.loading;
    }

    async function reload() {
      grid.replaceChildren();
      state.divs = {};
      let found;
      try { found = await load(null, null, null, serverX()); } catch (e) {
        message(grid, e.message, true); grid.dataset.ready = root.dataset.ready = "1"; return;
      }
      state.full = found; state.shown = {...found}; state.ranges = {};
      const xs = Object.values(found).flatMap((lines) => Object.values(lines).map((p) => p.x[0]))
        .filter((x) => x !== undefined);
      state.t0 = xs.length ? Math.min(...xs) : 0;
      grid.dataset.t0 = String(state.t0);
      const metrics = Object.keys(found);
      if (!metrics.length) { message(grid, "No scalars reported"); grid.dataset.ready = root.dataset.ready = "1"; return; }
      for (const metric of metrics) {
        const div = el("div", {class: "chart", "data-metric": metric});
        grid.append(div);
        state.divs[metric] = div;
        draw(metric);
        div.on("plotly_relayout", (event) => zoom(metric, event));
      }
      grid.dataset.ready = root.dataset.ready = "1";
    }

    xSelect.addEventListener("change", () => { state.mode = xSelect.value; delete grid.dataset.ready; reload(); });
    smooth.addEventListener("input", () => {
      smoothValue.textContent = smooth.value;
      for (const m of Object.keys(state.divs || {})) draw(m);
    });
    log.addEventListener("change", () => { for (const m of Object.keys(state.divs || {})) draw(m); });
    reload();
  }

  function zoomParams(base, metric, lo, hi, its) {
    const params = new URLSearchParams(base);
    if (metric !== null) { params.set("metric", metric); params.set("lo", lo); params.set("hi", hi); }
    if (its) { params.set("ilo", its[0]); params.set("ihi", its[1]); }
    return params;
  }

  function scalars(root, task) {
    charts(root, async (metric, lo, hi, x, its) => {
      const params = zoomParams({task, x, samples: SAMPLES}, metric, lo, hi, its);
      return (await getJSON(`/ui/data/scalars?${params}`)).metrics;
    }, [["iter", "Iterations"], ["time", "Time from start"], ["wall", "Wall clock"]]);
  }

  function compare(root, tasks) {
    charts(root, async (metric, lo, hi, x, its) => {
      const params = zoomParams({tasks, x, samples: SAMPLES}, metric, lo, hi, its);
      const found = (await getJSON(`/ui/data/compare?${params}`)).metrics;
      const out = {};
      for (const [m, variants] of Object.entries(found)) {
        out[m] = {};
        for (const [variant, byTask] of Object.entries(variants)) {
          for (const [, p] of Object.entries(byTask)) out[m][`${p.name} · ${variant}`] = p;
        }
      }
      return out;
    }, [["iter", "Iterations"], ["wall", "Wall clock"]]);
  }

  // --- plots -----------------------------------------------------------------------------------
  async function plots(root, task, iters = 3) {
    let found;
    root.replaceChildren();
    try { found = await getJSON(`/ui/data/plots?task=${encodeURIComponent(task)}&iters=${iters}`); }
    catch (e) { message(root, e.message, true); return; }
    if (!found.plots.length) message(root, "No plots reported");
    else {
      const more = el("button", {id: "more-plots", text: `Show ${iters * 3} iterations per plot`});
      more.addEventListener("click", () => { delete root.dataset.ready; plots(root, task, iters * 3); });
      root.append(el("div", {class: "controls"}, el("span", {class: "muted",
        text: `The last ${iters} iterations of each plot, newest first`}), more));
    }
    const sections = {};
    for (const p of found.plots) {
      if (!sections[p.metric]) {
        sections[p.metric] = el("section", {class: "plot-metric"}, el("h3", {text: p.metric}));
        root.append(sections[p.metric]);
      }
      const div = el("div", {class: "plot"});
      sections[p.metric].append(el("figure", {class: "plot-figure", "data-metric": p.metric,
                                              "data-variant": p.variant, "data-iter": String(p.iter)},
                                   el("figcaption", {text: `${p.variant} · iteration ${p.iter}`}), div));
      let figure;
      try { figure = JSON.parse(p.plot_str); } catch (e) { message(div, "This plot is not valid JSON", true); continue; }
      const layout = Object.assign({height: 360}, figure.layout || {});
      const title = layout.title;
      if (typeof title === "string") layout.title = {text: literal(title)};
      else if (title && typeof title.text === "string") layout.title = {...title, text: literal(title.text)};
      Plotly.newPlot(div, figure.data || [], layout, {responsive: true});
    }
    root.dataset.ready = "1";
  }

  // --- debug samples ---------------------------------------------------------------------------
  const SAFE_URL = /^(https?:\/\/|\/)/i;

  async function debugSamples(root, task) {
    let found;
    try { found = await getJSON(`/ui/data/debug?task=${encodeURIComponent(task)}`); }
    catch (e) { message(root, e.message, true); return; }
    if (!found.metrics.length) message(root, "No debug samples reported");
    for (const metric of found.metrics) {
      const earlier = el("button", {class: "earlier", text: "◀ Earlier"});
      const later = el("button", {class: "later", text: "Later ▶"});
      const note = el("span", {class: "muted end"});
      const body = el("div", {class: "samples"});
      const section = el("section", {class: "debug-metric", "data-metric": metric},
                         el("h3", {text: metric}), el("div", {class: "nav"}, earlier, later, note), body);
      root.append(section);
      let scrollId = "";
      const step = async (isLater) => {
        const params = new URLSearchParams({task, metric, iters: 3});
        if (scrollId) params.set("scroll_id", scrollId);
        if (isLater) params.set("later", "1");
        section.dataset.loading = "1";
        try {
          const page = await getJSON(`/ui/data/debug?${params}`);
          scrollId = page.scroll_id;
          note.textContent = "";
          if (page.iterations.length) show(body, page.iterations);
          else if (body.children.length) {
            section.dataset.end = isLater ? "later" : "earlier";
            note.textContent = isLater ? "No later iterations yet" : "No earlier iterations";
          }
        } catch (e) { message(body, e.message, true); }
        delete section.dataset.loading;
      };
      earlier.addEventListener("click", () => step(false));
      later.addEventListener("click", () => step(true));
      await step(false);
    }
    root.dataset.ready = "1";
  }

  function show(body, iterations) {
    body.replaceChildren();
    for (const it of iterations) {
      const row = el("div", {class: "iteration", "data-iter": String(it.iter)},
                     el("h4", {text: `iteration ${it.iter}`}));
      for (const image of it.images) {
        const media = SAFE_URL.test(image.src)
          ? el("img", {src: image.src, alt: image.variant, title: image.url, loading: "lazy"})
          : el("span", {class: "message error", text: `not an image address: ${image.url}`});
        // a broken image would show as an empty box: say which address did not load instead
        media.addEventListener("error", () => media.replaceWith(
          el("span", {class: "message error", text: `could not load ${image.url}`})));
        row.append(el("figure", {class: "sample", "data-variant": image.variant}, media,
                      el("figcaption", {text: image.variant})));
      }
      body.append(row);
    }
  }

  // --- console ---------------------------------------------------------------------------------
  function console_(root, task) {
    const search = el("input", {type: "search", id: "log-search", placeholder: "Search the whole log"});
    const download = el("a", {href: `/ui/data/log/download?task=${encodeURIComponent(task)}`,
                              id: "log-download", text: "Download"});
    const status = el("span", {class: "muted", id: "log-status"});
    const box = el("div", {class: "console", id: "console"});
    root.append(el("div", {class: "controls"}, search, download, status), box);
    const q = encodeURIComponent(task);
    const state = {oldest: null, newest: null, oldestId: null, busy: false, end: false, query: ""};

    const line = (l) => el("div", {class: `line level-${l.level}`, "data-ts": String(l.ts)},
                           el("span", {class: "ts", text: new Date(l.ts).toISOString().replace("T", " ")
                                                       .slice(0, 23)}),
                           el("span", {class: "level", text: l.level}), el("span", {class: "msg", text: l.msg}));

    async function first() {
      state.busy = true;
      box.replaceChildren();
      const params = state.query ? `&q=${encodeURIComponent(state.query)}` : "";
      try {
        const page = await getJSON(`/ui/data/log?task=${q}${params}`);
        for (const l of page.lines) box.append(line(l));
        state.oldest = page.lines.length ? page.lines[0].ts : null;
        state.oldestId = page.lines.length ? page.lines[0].id : null;
        if (!state.query) state.newest = page.lines.length ? page.lines[page.lines.length - 1].ts : null;
        state.end = page.lines.length === 0;
        status.textContent = state.query ? `lines containing “${state.query}”` :
          (page.total !== null ? `${page.total} lines` : "");
        box.scrollTop = box.scrollHeight;
        if (!page.lines.length) box.append(el("p", {class: "message", text: "No log lines"}));
      } catch (e) { message(box, e.message, true); }
      state.busy = false;
      root.dataset.ready = "1";
    }

    async function back() {
      if (state.busy || state.end || state.oldest === null) return;
      state.busy = true;
      let params = `task=${q}&before=${state.oldest}`;
      if (state.query) params += `&q=${encodeURIComponent(state.query)}&before_id=${state.oldestId}`;
      try {
        const page = await getJSON(`/ui/data/log?${params}`);
        const height = box.scrollHeight;
        box.prepend(...page.lines.map(line));
        box.scrollTop += box.scrollHeight - height;
        if (page.lines.length) { state.oldest = page.lines[0].ts; state.oldestId = page.lines[0].id; }
        else state.end = true;
      } catch (e) { message(box, e.message, true); }
      state.busy = false;
    }

    async function poll() {
      if (!state.busy && !state.query) {
        state.busy = true;
        try {
          const params = state.newest === null ? "" : `&after=${state.newest}`;
          const page = await getJSON(`/ui/data/log?task=${q}${params}`);
          const fresh = page.lines.filter((l) => state.newest === null || l.ts > state.newest);
          if (fresh.length) {
            const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 30;
            box.querySelector(".message")?.remove();
            box.append(...fresh.map(line));
            state.newest = fresh[fresh.length - 1].ts;
            if (state.oldest === null) state.oldest = fresh[0].ts;
            if (atBottom) box.scrollTop = box.scrollHeight;
            status.textContent = `${page.total} lines`;
          }
        } catch (e) { status.textContent = e.message; }
        state.busy = false;
      }
      setTimeout(poll, 2000);
    }

    box.addEventListener("scroll", () => { if (box.scrollTop < 40) back(); });
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => { state.query = search.value.trim(); state.end = false; first(); }, 300);
    });
    first().then(() => setTimeout(poll, 2000));
  }

  function tab(root) {
    const {tab: name, task} = root.dataset;
    if (name === "scalars") scalars(root, task);
    else if (name === "plots") plots(root, task);
    else if (name === "debug-samples") debugSamples(root, task);
    else if (name === "console") console_(root, task);
    else if (name === "compare") compare(root, root.dataset.tasks);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const list = document.getElementById("task-list");
    if (list) taskList(list);
    const tabRoot = document.getElementById("tab");
    if (tabRoot) tab(tabRoot);
  });
  return {taskList, tab};
})();
