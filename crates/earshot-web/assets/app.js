// Earshot desk: keyboard shortcuts, live inbox (server-sent events), SLA
// countdowns, composer helpers, case presence, copy buttons and dashboard
// charts. No dependencies except the vendored Chart.js on the dashboard.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function post(url, data) {
    var body = new URLSearchParams(data);
    body.set("csrf_token", csrf);
    return fetch(url, { method: "POST", body: body, credentials: "same-origin" });
  }

  function fmt(mins) {
    if (mins < 60) return mins + "m";
    if (mins < 48 * 60) return Math.floor(mins / 60) + "h " + (mins % 60) + "m";
    return Math.floor(mins / 1440) + "d";
  }

  // SLA countdowns tick without a reload: due time and warning lead come
  // from the policy the server evaluated.
  function tickSla() {
    document.querySelectorAll(".sla[data-due]").forEach(function (el) {
      var due = Number(el.dataset.due);
      if (!due) return;
      var warn = Number(el.dataset.warn || 0);
      var kind = el.dataset.kind ? el.dataset.kind + " " : "";
      var ms = due - Date.now();
      var left = Math.round(ms / 60000);
      el.classList.remove("sla-ok", "sla-warn", "sla-breach");
      if (ms <= 0) { el.classList.add("sla-breach"); el.textContent = kind + fmt(-left) + " overdue"; }
      else if (ms < warn) { el.classList.add("sla-warn"); el.textContent = kind + "due in " + fmt(left); }
      else { el.classList.add("sla-ok"); el.textContent = kind + "due in " + fmt(left); }
    });
  }

  function inbox() {
    var body = document.getElementById("inbox-rows");
    if (!body) return;
    var selected = null; // case id

    function rows() { return Array.prototype.slice.call(body.querySelectorAll("tr.case-row")); }
    function select(row) {
      rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
      if (!row) { selected = null; return; }
      row.classList.add("selected");
      row.setAttribute("aria-selected", "true");
      selected = row.dataset.case;
      var link = row.querySelector("a");
      if (link) link.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
    function current() { return selected ? body.querySelector('tr[data-case="' + selected + '"]') : null; }
    function move(step) {
      var all = rows();
      if (!all.length) return;
      var i = all.indexOf(current());
      i = i < 0 ? 0 : Math.max(0, Math.min(all.length - 1, i + step));
      select(all[i]);
    }

    var pending = null;
    function refresh() {
      if (pending) return;
      pending = setTimeout(function () {
        pending = null;
        var url = new URL(window.location.href);
        url.searchParams.set("fragment", "rows");
        fetch(url, { credentials: "same-origin" }).then(function (r) {
          if (!r.ok) throw new Error(r.status);
          return r.text();
        }).then(function (html) {
          body.innerHTML = html;
          var again = selected && body.querySelector('tr[data-case="' + selected + '"]');
          if (again) { again.classList.add("selected"); again.setAttribute("aria-selected", "true"); }
          tickSla();
        }).catch(function () {});
      }, 250);
    }

    document.addEventListener("keydown", function (e) {
      var t = e.target;
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) return;
      var row = current();
      switch (e.key) {
        case "j": move(1); e.preventDefault(); break;
        case "k": move(-1); e.preventDefault(); break;
        case "Enter": if (row) { window.location = row.dataset.href; e.preventDefault(); } break;
        case "r": if (row) { window.location = row.dataset.href + "#reply"; e.preventDefault(); } break;
        case "a": if (row) { post("/inbox/assign", { case_id: row.dataset.case }).then(refresh); e.preventDefault(); } break;
        case "e": if (row) { post("/inbox/resolve", { case_id: row.dataset.case }).then(refresh); e.preventDefault(); } break;
      }
    });
    body.addEventListener("click", function (e) {
      var row = e.target.closest("tr.case-row");
      if (row && e.target.tagName !== "A") select(row);
    });

    if (window.EventSource) {
      var status = document.getElementById("live-status");
      var es = new EventSource("/inbox/stream");
      es.onopen = function () { if (status) status.textContent = "Live: new mentions appear here."; document.body.dataset.live = "1"; };
      es.onerror = function () { if (status) status.textContent = "Live updates paused; reconnecting…"; };
      es.addEventListener("mention", refresh);
      es.addEventListener("case", refresh);
    }
  }

  function composer() {
    var pick = document.getElementById("template");
    var area = document.getElementById("reply-body");
    if (pick && area) {
      pick.addEventListener("change", function () {
        if (pick.value) { area.value = pick.value; area.focus(); count(); }
      });
    }
    var counter = document.getElementById("reply-count");
    function count() {
      if (!area || !counter || !area.dataset.max) return;
      counter.textContent = area.value.length + " / " + area.dataset.max + " characters";
    }
    if (area) area.addEventListener("input", count);
    if (window.location.hash === "#reply" && area) area.focus();
  }

  // Who else is on this case: a heartbeat (viewing, or drafting while the
  // agent types a reply) that answers the banner, refreshed in between.
  function presence() {
    var banner = document.getElementById("presence");
    if (!banner) return;
    var url = "/cases/" + banner.dataset.case + "/presence";
    var typedAt = 0, sentTypingAt = 0;
    function show(r) {
      if (!r.ok) throw new Error(r.status);
      return r.json().then(function (d) { banner.textContent = d.text; banner.hidden = !d.text; });
    }
    function beat() {
      var typing = Date.now() - typedAt < 20000;
      post(url, { activity: typing ? "drafting" : "viewing" }).then(show).catch(function () {});
    }
    ["reply-body", "private-body"].forEach(function (id) {
      var area = document.getElementById(id);
      if (!area) return;
      area.addEventListener("input", function () {
        typedAt = Date.now();
        if (typedAt - sentTypingAt > 5000) { sentTypingAt = typedAt; beat(); }
      });
    });
    beat();
    setInterval(beat, 20000);
    setInterval(function () {
      fetch(url, { credentials: "same-origin" }).then(show).catch(function () {});
    }, 10000);
  }

  function dashboard() {
    var data = document.getElementById("dash-data");
    if (!data || !window.Chart) return;
    var d = JSON.parse(data.textContent);
    var charts = {};
    var volume = document.getElementById("chart-volume");
    var sentiments = ["negative", "neutral", "positive"];
    charts.volume = new window.Chart(volume, {
      type: "bar",
      data: {
        labels: d.days,
        datasets: [
          { label: "negative", data: d.negative, backgroundColor: "#b3261e" },
          { label: "neutral", data: d.neutral, backgroundColor: "#6b7280" },
          { label: "positive", data: d.positive, backgroundColor: "#1b7f3b" }
        ]
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
        onClick: function (evt, els) {
          if (!els.length) return;
          var el = els[0];
          window.location = "/inbox?status=any&day=" + encodeURIComponent(d.days[el.index]) +
            "&sentiment=" + sentiments[el.datasetIndex];
        }
      }
    });
    var bands = [[0, 25], [25, 50], [50, 75], [75, 101]];
    charts.priority = new window.Chart(document.getElementById("chart-priority"), {
      type: "bar",
      data: {
        labels: ["0–24", "25–49", "50–74", "75–100"],
        datasets: [{ label: "open cases", data: d.priority_bands, backgroundColor: ["#2563eb", "#ca8a04", "#ea580c", "#b3261e"] }]
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { y: { beginAtZero: true } },
        onClick: function (evt, els) {
          if (!els.length) return;
          var b = bands[els[0].index];
          window.location = "/inbox?min_priority=" + b[0] + "&max_priority=" + b[1];
        }
      }
    });
    window.earshotCharts = charts;
  }

  // "Copy" for replies to post by hand: the buttons stay hidden without
  // script, where the read-only text can still be selected and copied.
  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (btn) {
      var area = document.getElementById(btn.dataset.copy);
      if (!area) return;
      var status = btn.parentNode.querySelector(".copy-status");
      btn.hidden = false;
      btn.addEventListener("click", function () {
        function done(ok) { if (status) status.textContent = ok ? "Copied." : "Select the text and copy it."; }
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(area.value).then(function () { done(true); }, function () {
            area.select(); done(document.execCommand && document.execCommand("copy"));
          });
        } else {
          area.select();
          done(document.execCommand && document.execCommand("copy"));
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    copyButtons();
    tickSla();
    setInterval(tickSla, 30000);
    inbox();
    composer();
    presence();
    dashboard();
  });
})();
