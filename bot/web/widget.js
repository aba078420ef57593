/* Live petition counter: <div data-petition-counter data-petition="ID"></div>
   <script src=".../widget.js" async></script>. Each counter renders in an open shadow root
   (the site's CSS cannot reach it, nor it the site's); one request per refresh fetches every
   counter on the page. On /embed the counter is already rendered: it is only kept live. */
(() => {
  "use strict";
  const TEMPLATE = "__TEMPLATE__";
  const CSS = "__CSS__";
  const script = document.currentScript;
  const base = script ? script.src.replace(/[^/?#]*([?#].*)?$/, "") : "./";
  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
  const escapeHtml = (value) => String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  const fill = (data) => TEMPLATE.replace(/\{(\w+)\}/g, (_, key) => escapeHtml(data[key] ?? ""));

  function sheet() {
    try {
      const css = new CSSStyleSheet();
      css.replaceSync(CSS);
      return css;
    } catch (error) {
      return null; // an old browser: the counter still works, unstyled
    }
  }

  function show(root, data) {
    const counter = root.querySelector(".pc");
    if (!counter) {
      root.innerHTML = fill(data);
      return;
    }
    const count = counter.querySelector(".pc-count");
    if (count.textContent !== data.summary) count.textContent = data.summary; // aria-live
    const bar = counter.querySelector(".pc-bar");
    bar.max = data.goal;
    bar.value = data.total;
    const sign = counter.querySelector(".pc-sign");
    sign.textContent = data.sign;
    sign.href = data.link;
    counter.querySelector(".pc-title").textContent = data.title;
  }

  function start() {
    const hosts = Array.from(document.querySelectorAll("[data-petition-counter]"));
    if (!hosts.length) return;
    const style = sheet();
    const counters = hosts.map((host) => {
      let root = host;
      if (!host.querySelector(".pc")) {
        root = host.shadowRoot || host.attachShadow({ mode: "open" });
        if (style) root.adoptedStyleSheets = [style];
      }
      return { root, petition: host.dataset.petition || "" };
    });
    const lang = hosts[0].dataset.lang || document.documentElement.lang || navigator.language || "";
    const ids = Array.from(new Set(counters.map((c) => c.petition)));
    const url = `${base}counts.json?petition=${encodeURIComponent(ids.join(","))}` +
      `&lang=${encodeURIComponent(lang)}`;
    let delay = 5000;
    async function refresh() {
      if (!document.hidden) {
        try {
          // no-cache: the browser revalidates with the ETag, a 304 costs the server nothing
          const response = await fetch(url, { cache: "no-cache", credentials: "omit" });
          if (response.ok) {
            const body = await response.json();
            delay = Math.max(1, body.refresh) * 1000;
            for (const counter of counters) {
              const data = body.counters[counter.petition];
              if (data) show(counter.root, data);
            }
          }
        } catch (error) {
          // offline or the server is restarting: try again at the next refresh
        }
      }
      setTimeout(refresh, delay);
    }
    refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
