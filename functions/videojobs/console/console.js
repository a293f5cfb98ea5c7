// The videojobs web console: the public /v1 API, with the key the user signs in with.
// The key lives in sessionStorage only (this tab); every request carries it as a Bearer token.
"use strict";

(function () {
  const KEY_STORAGE = "videojobs.apiKey";
  const REFRESH_MS = 2000;
  const LIST_LIMIT = 50;
  // Running jobs whose progress is asked for on each refresh (a read refreshes progress;
  // the listing does not).
  const WATCH_MAX = 10;
  const TERMINAL = new Set(["completed", "failed", "cancelled"]);
  const REASONS = {
    waiting_for_slot: "waiting for a free slot",
    waiting_for_tenant_slot: "your other jobs hold your share of slots",
    provider_throttled: "provider request budget spent, retrying shortly",
    waiting_for_provider: "provider is generating",
    storing: "storing the files",
  };

  const state = {
    key: null,
    jobs: new Map(), // id -> Video, in listing order
    order: [],
    hasMore: false,
    pages: 1,
    selected: null,
    tab: "jobs",
    timer: null,
    confirmAction: null,
    batchIds: [], // the batches the batches tab last drew
    schema: null,
    sprites: new Map(), // spritesheet url -> {cols, rows}
  };

  const $ = (id) => document.getElementById(id);
  const api = (path) => new URL("v1/" + path, document.baseURI).toString();

  class ApiError extends Error {
    constructor(status, body) {
      const error = (body && body.error) || {};
      super(error.message || "HTTP " + status);
      this.status = status;
      this.code = error.code || null;
    }
  }

  // A 429 (this key's request rate, or the stage's throttle) is waited out and retried, as
  // the openai SDK does: at most twice, never longer than MAX_RETRY_WAIT_S at a time.
  const RATE_LIMIT_RETRIES = 2;
  const MAX_RETRY_WAIT_S = 10;

  function retryWaitMs(response) {
    const seconds = Number(response.headers.get("Retry-After"));
    const wait = Number.isFinite(seconds) && seconds > 0 ? seconds : 1;
    return Math.min(wait, MAX_RETRY_WAIT_S) * 1000;
  }

  async function request(method, path, body) {
    const headers = { Authorization: "Bearer " + state.key };
    const init = { method, headers, cache: "no-store" };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response = await fetch(api(path), init);
    for (let retry = 0; response.status === 429 && retry < RATE_LIMIT_RETRIES; retry++) {
      await new Promise((resolve) => setTimeout(resolve, retryWaitMs(response)));
      response = await fetch(api(path), init);
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch (ignored) {
      payload = null;
    }
    if (!response.ok) {
      if (response.status === 401) {
        signOut("The API key was refused (invalid or revoked).");
      }
      throw new ApiError(response.status, payload);
    }
    return payload;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function notice(message, kind) {
    const box = $("notice");
    box.textContent = message || "";
    box.className = kind === "info" ? "info" : "";
    box.hidden = !message;
  }

  function when(epoch) {
    return epoch ? new Date(epoch * 1000).toLocaleString() : "";
  }

  function reasonText(job) {
    const reason = job.status_reason;
    if (!reason) return "";
    if (reason.startsWith("waiting_for_") && reason.endsWith("slot") && job.queue_position) {
      return REASONS[reason] + " (#" + job.queue_position + " in line)";
    }
    if (reason === "waiting_for_provider" && job.status === "queued") {
      return "submitted, waiting for the provider to start";
    }
    return REASONS[reason] || reason.replace(/_/g, " ");
  }

  // --- signing in --------------------------------------------------------------------------

  async function signIn(key) {
    state.key = key;
    await request("GET", "videos?limit=1");
    sessionStorage.setItem(KEY_STORAGE, key);
    $("signin-view").hidden = true;
    $("tabs").hidden = false;
    $("signout").hidden = false;
    notice("");
    showTab("jobs");
    loadSchema();
    refresh();
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY_STORAGE);
    state.key = null;
    state.jobs = new Map();
    state.order = [];
    state.pages = 1;
    state.selected = null;
    state.batchIds = [];
    clearTimeout(state.timer);
    for (const id of ["jobs-view", "new-view", "batches-view", "usage-view", "tabs", "signout"]) {
      $(id).hidden = true;
    }
    $("jobs").replaceChildren();
    $("detail").hidden = true;
    $("player").removeAttribute("src");
    $("signin-view").hidden = false;
    $("api-key").value = "";
    const error = $("signin-error");
    error.textContent = message || "";
    error.hidden = !message;
  }

  function showTab(tab) {
    state.tab = tab;
    for (const button of document.querySelectorAll(".tab")) {
      button.classList.toggle("active", button.dataset.tab === tab);
    }
    for (const name of ["jobs", "new", "batches", "usage"]) {
      $(name + "-view").hidden = name !== tab;
    }
    if (tab === "batches") renderBatches();
    if (tab === "usage") renderUsage();
  }

  // --- the job list ------------------------------------------------------------------------

  async function refresh() {
    clearTimeout(state.timer);
    if (!state.key) return;
    try {
      await loadJobs();
      renderJobs();
      renderDetail();
      // The batches tab lists the batches of the jobs loaded: shown before the first list
      // arrived, or when a new batch appears, it is drawn again.
      if (state.tab === "batches" && batchIds().join() !== state.batchIds.join()) renderBatches();
    } catch (error) {
      if (state.key) notice(error.message);
    }
    if (state.key) state.timer = setTimeout(refresh, REFRESH_MS);
  }

  async function loadJobs() {
    // As many pages as the user has asked for ("Load more"), newest first.
    const status = $("status-filter").value;
    const jobs = new Map();
    const order = [];
    let after = null;
    let hasMore = false;
    for (let page = 0; page < state.pages; page += 1) {
      let query = "videos?limit=" + LIST_LIMIT + "&order=desc";
      if (status) query += "&status=" + encodeURIComponent(status);
      if (after) query += "&after=" + encodeURIComponent(after);
      const answer = await request("GET", query);
      for (const job of answer.data) {
        jobs.set(job.id, job);
        order.push(job.id);
      }
      hasMore = answer.has_more;
      if (!hasMore || !answer.last_id) break;
      after = answer.last_id;
    }
    state.jobs = jobs;
    state.order = order;
    state.hasMore = hasMore;
    // Reading a running job refreshes its progress from the provider; the listing does not.
    const running = state.order.filter((id) => !TERMINAL.has(state.jobs.get(id).status));
    const watched = running.slice(0, WATCH_MAX);
    if (state.selected && !watched.includes(state.selected)) watched.push(state.selected);
    await Promise.all(
      watched.map(async (id) => {
        try {
          state.jobs.set(id, await request("GET", "videos/" + id));
        } catch (error) {
          if (error.status === 404) state.jobs.delete(id);
        }
      }),
    );
    state.order = state.order.filter((id) => state.jobs.has(id));
  }

  function renderJobs() {
    const list = $("jobs");
    const seen = new Set();
    let previous = null;
    for (const id of state.order) {
      const job = state.jobs.get(id);
      seen.add(id);
      let item = list.querySelector('li[data-id="' + id + '"]');
      if (!item) {
        item = buildJobItem(job);
      }
      updateJobItem(item, job);
      if (previous ? previous.nextSibling !== item : list.firstChild !== item) {
        if (previous) previous.after(item);
        else list.prepend(item);
      }
      previous = item;
    }
    for (const item of Array.from(list.children)) {
      if (!seen.has(item.dataset.id)) item.remove();
    }
    $("jobs-empty").hidden = state.order.length > 0;
    $("more").hidden = !state.hasMore;
  }

  function buildJobItem(job) {
    const thumb = el("div", { class: "thumb" });
    const item = el(
      "li",
      { class: "job", "data-id": job.id, tabindex: 0 },
      thumb,
      el(
        "div",
        { class: "body" },
        el("div", { class: "title" }),
        el(
          "div",
          { class: "line" },
          el("span", { class: "status" }),
          el("span", { class: "reason" }),
          el("span", { class: "pct meta" }),
        ),
        el("div", { class: "progress" }, el("div", { class: "bar" })),
        el("div", { class: "meta info" }),
      ),
    );
    item.addEventListener("click", () => select(job.id));
    item.addEventListener("keydown", (event) => {
      if (event.key === "Enter") select(job.id);
    });
    thumb.addEventListener("mousemove", (event) => scrub(thumb, event));
    thumb.addEventListener("mouseleave", () => unscrub(thumb));
    return item;
  }

  function updateJobItem(item, job) {
    item.classList.toggle("selected", job.id === state.selected);
    item.dataset.status = job.status;
    item.querySelector(".title").textContent = job.prompt;
    item.querySelector(".title").title = job.prompt;
    const status = item.querySelector(".status");
    status.textContent = job.status.replace("_", " ");
    status.className = "status " + job.status;
    item.querySelector(".reason").textContent = reasonText(job);
    item.dataset.reason = job.status_reason || "";
    const progress = job.status === "completed" ? 100 : job.progress || 0;
    item.dataset.progress = String(progress);
    item.querySelector(".pct").textContent = TERMINAL.has(job.status) ? "" : " " + progress + " %";
    const bar = item.querySelector(".bar");
    bar.style.width = progress + "%";
    bar.classList.toggle("done", job.status === "completed");
    const parts = [job.model, job.size, job.seconds + " s", when(job.created_at)];
    if (job.batch_id) parts.push("batch " + job.batch_id);
    item.querySelector(".info").textContent = parts.join(" · ");
    const thumb = item.querySelector(".thumb");
    const assets = job.assets || {};
    thumb.dataset.sprite = assets.spritesheet || "";
    thumb.dataset.seconds = job.seconds;
    thumb.dataset.size = job.size;
    if (assets.thumbnail) {
      // Links are presigned anew on every read: keep the first one while it is shown.
      if (!thumb.querySelector("img")) {
        thumb.replaceChildren(el("img", { src: assets.thumbnail, alt: "" }));
      }
    } else {
      const label = job.status === "completed" ? "no preview" : job.status.replace("_", " ");
      if (thumb.textContent !== label || thumb.querySelector("img")) thumb.replaceChildren(label);
    }
  }

  // Hovering a thumbnail shows the spritesheet tile for that point of the video.
  function spriteGrid(url, seconds, size, done) {
    if (state.sprites.has(url)) return done(state.sprites.get(url));
    const image = new Image();
    image.onload = () => {
      const [width, height] = size.split("x").map(Number);
      // Tiles have the video's aspect ratio; the sheet's shape then gives columns / rows.
      const tiles = Math.max(1, Number(seconds) * 2);
      const ratio = image.naturalWidth / image.naturalHeight / (width / height);
      const rows = Math.max(1, Math.round(Math.sqrt(tiles / ratio)));
      const cols = Math.max(1, Math.round(ratio * rows));
      const grid = { cols, rows, width, height };
      state.sprites.set(url, grid);
      done(grid);
    };
    image.src = url;
  }

  function scrub(thumb, event) {
    const url = thumb.dataset.sprite;
    if (!url) return;
    const box = thumb.getBoundingClientRect();
    const at = Math.min(0.999, Math.max(0, (event.clientX - box.left) / box.width));
    spriteGrid(url, thumb.dataset.seconds, thumb.dataset.size, (grid) => {
      let layer = thumb.querySelector(".scrub");
      if (!layer) {
        layer = el("div", { class: "scrub" });
        thumb.append(layer);
      }
      // The tile fitted into the thumbnail box, like the image it covers.
      const scale = Math.min(box.width / grid.width, box.height / grid.height);
      const tileW = grid.width * scale;
      const tileH = grid.height * scale;
      const index = Math.floor(at * grid.cols * grid.rows);
      const col = index % grid.cols;
      const row = Math.floor(index / grid.cols);
      layer.style.width = tileW + "px";
      layer.style.height = tileH + "px";
      layer.style.left = (box.width - tileW) / 2 + "px";
      layer.style.top = (box.height - tileH) / 2 + "px";
      layer.style.backgroundImage = 'url("' + url + '")';
      layer.style.backgroundSize = grid.cols * tileW + "px " + grid.rows * tileH + "px";
      layer.style.backgroundPosition = -col * tileW + "px " + -row * tileH + "px";
      layer.dataset.tile = String(index);
    });
  }

  function unscrub(thumb) {
    const layer = thumb.querySelector(".scrub");
    if (layer) layer.remove();
  }

  // --- one job -----------------------------------------------------------------------------

  function select(id) {
    state.selected = id;
    hideConfirm();
    $("player").removeAttribute("src");
    $("player").dataset.job = "";
    renderJobs();
    renderDetail();
    // Fresh progress at once, not at the next tick.
    request("GET", "videos/" + id)
      .then((job) => {
        state.jobs.set(id, job);
        renderJobs();
        renderDetail();
      })
      .catch((error) => notice(error.message));
  }

  function renderDetail() {
    const panel = $("detail");
    const job = state.selected && state.jobs.get(state.selected);
    if (!job) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    panel.dataset.id = job.id;
    panel.dataset.status = job.status;
    $("detail-title").textContent = job.id;
    const reason = reasonText(job);
    const progress = job.status === "completed" ? 100 : job.progress || 0;
    $("detail-status").textContent =
      job.status.replace("_", " ") + (reason ? " — " + reason : "") +
      (TERMINAL.has(job.status) ? "" : " · " + progress + " %");
    $("detail-bar").style.width = progress + "%";
    $("detail-bar").classList.toggle("done", job.status === "completed");
    $("detail-prompt").textContent = job.prompt;

    const fields = [
      ["model", job.model],
      ["size", job.size],
      ["seconds", job.seconds],
      ["created", when(job.created_at)],
      ["completed", when(job.completed_at)],
      ["batch", job.batch_id],
      ["remix of", job.remixed_from_video_id],
      ["cost", job.cost ? "$" + (job.cost.settled_usd ?? job.cost.estimated_usd).toFixed(2) +
        (job.cost.settled_usd === null || job.cost.settled_usd === undefined ? " (estimate)" : "") : null],
    ];
    for (const [name, value] of Object.entries(job.metadata || {})) {
      fields.push(["metadata." + name, value]);
    }
    $("detail-fields").replaceChildren(
      ...fields.filter(([, value]) => value).flatMap(([name, value]) => [
        el("dt", { text: name }),
        el("dd", { text: String(value) }),
      ]),
    );
    const error = $("detail-error");
    error.hidden = !job.error;
    error.textContent = job.error ? job.error.code + ": " + job.error.message : "";

    const assets = job.assets || {};
    const player = $("player");
    if (assets.video) {
      // A new link on every read; set it once per job so playback is not restarted.
      if (player.dataset.job !== job.id) {
        player.src = assets.video;
        player.dataset.job = job.id;
      }
      player.hidden = false;
      $("detail-links").replaceChildren(
        ...["video", "thumbnail", "spritesheet"]
          .filter((name) => assets[name])
          .map((name) => el("a", { href: assets[name], target: "_blank", rel: "noopener", text: name })),
      );
    } else {
      player.hidden = true;
      player.removeAttribute("src");
      player.dataset.job = "";
      $("detail-links").replaceChildren();
    }
    const running = !TERMINAL.has(job.status);
    $("cancel-button").hidden = !running;
    $("delete-button").hidden = running;
    $("remix-form").hidden = job.status !== "completed";
  }

  function askConfirm(text, action) {
    $("confirm-text").textContent = text;
    state.confirmAction = action;
    $("confirm").hidden = false;
  }

  function hideConfirm() {
    state.confirmAction = null;
    $("confirm").hidden = true;
  }

  async function removeSelected(what) {
    const id = state.selected;
    hideConfirm();
    try {
      if (what === "cancel") {
        // Cancelling keeps the job (and shows it cancelled); only Delete removes it.
        state.jobs.set(id, await request("POST", "videos/" + id + "/cancel"));
      } else {
        await request("DELETE", "videos/" + id);
      }
      notice(what === "cancel" ? "Cancelled " + id + "." : "Deleted " + id + ".", "info");
      if (what === "delete") {
        state.selected = null;
        $("player").removeAttribute("src");
      }
      refresh();
    } catch (error) {
      notice(error.message);
    }
  }

  async function remix(event) {
    event.preventDefault();
    const prompt = $("remix-prompt").value.trim();
    if (!prompt) return;
    try {
      const job = await request("POST", "videos/" + state.selected + "/remix", { prompt });
      $("remix-prompt").value = "";
      notice("Remix submitted: " + job.id + ".", "info");
      state.jobs.set(job.id, job);
      state.order.unshift(job.id);
      select(job.id);
    } catch (error) {
      notice(error.message);
    }
  }

  // --- submitting --------------------------------------------------------------------------

  async function loadSchema() {
    if (state.schema) return;
    try {
      const response = await fetch(api("openapi.json"));
      state.schema = await response.json();
    } catch (ignored) {
      return;
    }
    const body = state.schema.components.schemas.CreateVideoBody.properties;
    const choices = (field) => {
      const schema = body[field] || {};
      const options = schema.anyOf || [schema];
      for (const option of options) {
        if (option.enum) return option.enum;
        if (option.$ref) {
          const name = option.$ref.split("/").pop();
          const target = state.schema.components.schemas[name] || {};
          if (target.enum) return target.enum;
        }
      }
      return [];
    };
    for (const field of ["preset", "model", "seconds", "size"]) {
      const select = $(field);
      for (const value of choices(field)) {
        select.append(el("option", { value, text: value }));
      }
    }
  }

  async function submit(event) {
    event.preventDefault();
    const message = $("submit-message");
    const fields = { prompt: $("prompt").value.trim() };
    for (const name of ["preset", "model", "seconds", "size"]) {
      if ($(name).value) fields[name] = $(name).value;
    }
    const file = $("reference").files[0];
    let body = fields;
    if (file) {
      body = new FormData();
      for (const [name, value] of Object.entries(fields)) body.append(name, value);
      body.append("input_reference", file, file.name);
    }
    $("submit-button").disabled = true;
    try {
      const job = await request("POST", "videos", body);
      message.textContent = "Submitted " + job.id + ".";
      message.className = "";
      message.hidden = false;
      $("submit-form").reset();
      state.jobs.set(job.id, job);
      state.order.unshift(job.id);
      showTab("jobs");
      select(job.id);
    } catch (error) {
      message.textContent = error.message;
      message.className = "error";
      message.hidden = false;
    } finally {
      $("submit-button").disabled = false;
    }
  }

  // --- batches and usage -------------------------------------------------------------------

  function batchIds() {
    return [...new Set(state.order.map((id) => state.jobs.get(id).batch_id).filter(Boolean))];
  }

  async function renderBatches() {
    const ids = batchIds();
    state.batchIds = ids;
    const list = $("batches");
    $("batches-empty").hidden = ids.length > 0;
    try {
      const batches = await Promise.all(ids.map((id) => request("GET", "video_batches/" + id)));
      list.replaceChildren(
        ...batches.map((batch) => {
          const counts = Object.entries(batch.counts)
            .filter(([, n]) => n)
            .map(([name, n]) => n + " " + name.replace("_", " "))
            .join(", ");
          const bar = el("div", { class: "bar" });
          bar.style.width = batch.percent_complete + "%";
          bar.classList.toggle("done", batch.status === "completed");
          return el(
            "li",
            { class: "card batch", "data-id": batch.id },
            el("strong", { text: batch.id }),
            el("span", { class: "meta", text: " · " + batch.total + " videos · " + counts + " · " + when(batch.created_at) }),
            el("div", { class: "progress" }, bar),
            el(
              "ul",
              {},
              ...batch.job_ids.map((id) => {
                const job = state.jobs.get(id);
                const link = el("a", { href: "#", text: id });
                link.addEventListener("click", (event) => {
                  event.preventDefault();
                  showTab("jobs");
                  select(id);
                });
                return el("li", {}, link, " ", job ? el("span", { class: "status " + job.status, text: job.status }) : null);
              }),
            ),
          );
        }),
      );
    } catch (error) {
      notice(error.message);
    }
  }

  async function renderUsage() {
    try {
      const usage = await request("GET", "usage");
      const budget = (name, b) =>
        el(
          "div",
          { class: "card" },
          el("strong", { text: name + " budget (" + b.period + ")" }),
          el("p", {
            text:
              "spent $" + b.spent_usd.toFixed(2) + ", reserved $" + b.reserved_usd.toFixed(2) +
              (b.limit_usd === null ? ", no limit" : " of $" + b.limit_usd.toFixed(2) +
                " (remaining $" + b.remaining_usd.toFixed(2) + ")"),
          }),
        );
      $("budgets").replaceChildren(
        budget("Daily", usage.budgets.daily),
        budget("Monthly", usage.budgets.monthly),
      );
      const row = (first, second, c) =>
        el("tr", {}, ...[first, second, c.jobs, c.completed, c.failed, c.cancelled, c.running,
          c.seconds, c.cost_usd.toFixed(2)].map((v) => el("td", { text: String(v) })));
      $("usage").tBodies[0].replaceChildren(
        ...usage.data.map((line) => row(line.day, line.model, line)),
        row("total", usage.start + " – " + usage.end, usage.totals),
      );
    } catch (error) {
      notice(error.message);
    }
  }

  // --- wiring ------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("signin-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (!key) return;
      try {
        await signIn(key);
      } catch (error) {
        if (state.key) signOut(error.message);
        else $("signin-error").hidden = false;
      }
    });
    $("signout").addEventListener("click", () => signOut(""));
    for (const button of document.querySelectorAll(".tab")) {
      button.addEventListener("click", () => showTab(button.dataset.tab));
    }
    $("status-filter").addEventListener("change", () => {
      state.pages = 1;
      refresh();
    });
    $("more").addEventListener("click", () => {
      state.pages += 1;
      refresh();
    });
    $("detail-close").addEventListener("click", () => {
      state.selected = null;
      $("player").removeAttribute("src");
      renderJobs();
      renderDetail();
    });
    $("cancel-button").addEventListener("click", () =>
      askConfirm("Cancel this job? Generation stops; the job stays listed as cancelled.", () => removeSelected("cancel")),
    );
    $("delete-button").addEventListener("click", () =>
      askConfirm("Delete this video and its files for good?", () => removeSelected("delete")),
    );
    $("confirm-yes").addEventListener("click", () => state.confirmAction && state.confirmAction());
    $("confirm-no").addEventListener("click", hideConfirm);
    $("remix-form").addEventListener("submit", remix);
    $("submit-form").addEventListener("submit", submit);

    const saved = sessionStorage.getItem(KEY_STORAGE);
    if (saved) {
      signIn(saved).catch((error) => signOut(error.message));
    }
  });
})();
