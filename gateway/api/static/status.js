// Status page: polls /api/v1/status every 2 s and renders it; no framework, no external assets.
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + u[i];
}

function fmtUptime(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + "d " : "") + h + "h " + m + "m " + (s % 60) + "s";
}

function details(obj, skip) {
  return Object.entries(obj || {}).filter(([k]) => !skip.includes(k))
    .map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : v)).join(", ");
}

function fill(tableId, rows) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren(...rows.map(cells => {
    const tr = el("tr");
    cells.forEach(([text, cls]) => tr.appendChild(el("td", text, cls)));
    return tr;
  }));
  if (!rows.length) {
    const tr = el("tr"); const td = el("td", "none"); td.colSpan = 5; tr.appendChild(td); body.appendChild(tr);
  }
}

function render(s) {
  document.getElementById("version").textContent = s.version;
  document.getElementById("store").textContent = s.store.id + " · " + s.store.name;
  document.getElementById("uptime").textContent = fmtUptime(s.uptime_s);
  document.getElementById("boot").textContent = s.boot_id.slice(0, 12);
  document.getElementById("mode").textContent = s.demo ? "demo" : "production";
  document.getElementById("disk").textContent = s.disk ? fmtBytes(s.disk.free_bytes) + " of " + fmtBytes(s.disk.total_bytes) : "–";
  document.getElementById("seq").textContent = s.ledger.last_seq;
  document.getElementById("size").textContent = fmtBytes(s.ledger.size_bytes);
  document.getElementById("products").textContent = s.ledger.products ?? "–";
  const v = s.ledger.last_verification;
  const ve = document.getElementById("verify");
  ve.textContent = v ? (v.ok ? "ok" : "FAILED at seq " + v.first_bad_seq) + " (" + v.at + ", " + v.checked + " rows)" : "not yet";
  ve.className = v ? (v.ok ? "ok" : "failed") : "";
  fill("links", Object.entries(s.links).map(([n, l]) => [[n], [l.state, l.state], [details(l, ["state"])]]));
  renderDevices(s.devices);
  fill("components", Object.entries(s.components).map(([n, c]) => [[n], [c.state, c.state], [details(c, ["state"])]]));
  fill("errors", s.recent_errors.map(e => [[new Date(e.ts * 1000).toLocaleTimeString()], [e.level, e.level], [e.logger], [e.message]]));
  if (s.last_receipt_text) {
    document.getElementById("receipt-section").hidden = false;
    document.getElementById("receipt").textContent = s.last_receipt_text;
  }
}

const BUTTONS = { test_page: "Test page", open_drawer: "Open drawer", read_weight: "Read weight" };

function deviceInfo(d) {
  const st = d.last_state || {};
  const parts = [d.transport || ""];
  if (d.reason) parts.push(d.reason);
  ["paper_near_end", "paper_out", "cover_open", "drawer_open"].forEach(k => { if (st[k]) parts.push(k.replace(/_/g, " ")); });
  if (st.weight_g !== undefined && st.weight_g !== null) parts.push(st.weight_g + " g");
  return parts.filter(Boolean).join(" · ");
}

function renderDevices(devices) {
  const body = document.querySelector("#devices tbody");
  body.replaceChildren(...devices.map(d => {
    const tr = el("tr");
    tr.appendChild(el("td", d.id));
    tr.appendChild(el("td", d.kind || ""));
    tr.appendChild(el("td", d.role || ""));
    tr.appendChild(el("td", d.state, d.state));
    tr.appendChild(el("td", deviceInfo(d), "details"));
    const actions = el("td");
    (d.actions || []).filter(a => BUTTONS[a]).forEach(a => {
      const b = el("button", BUTTONS[a]);
      b.dataset.device = d.id;
      b.dataset.action = a;
      b.addEventListener("click", () => runCommand(d.id, a));
      actions.appendChild(b);
    });
    tr.appendChild(actions);
    return tr;
  }));
  if (!devices.length) {
    const tr = el("tr"); const td = el("td", "none"); td.colSpan = 6; tr.appendChild(td); body.appendChild(tr);
  }
}

async function runCommand(device, action) {
  const out = document.getElementById("command-result");
  const token = document.getElementById("token").value.trim();
  sessionStorage.setItem("storegw-token", token);
  if (!token) { out.textContent = "enter a technician token first"; out.className = "failed"; return; }
  try {
    const r = await fetch(`/api/v1/devices/${encodeURIComponent(device)}/commands/${action}`, {
      method: "POST",
      headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json",
                 "Idempotency-Key": "status-page-" + Date.now() + "-" + Math.random().toString(36).slice(2) },
      body: "{}",
    });
    const doc = await r.json();
    out.textContent = `${device} ${action}: ` + (r.ok ? JSON.stringify(doc) : (doc.detail || r.status));
    out.className = r.ok ? "ok" : "failed";
  } catch (err) {
    out.textContent = `${device} ${action}: ${err.message}`;
    out.className = "failed";
  }
}

async function poll() {
  const badge = document.getElementById("live");
  try {
    const r = await fetch("/api/v1/status", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    badge.textContent = "live " + new Date().toLocaleTimeString();
    badge.className = "badge live";
  } catch (err) {
    badge.textContent = "unreachable: " + err.message;
    badge.className = "badge stale";
  }
}

document.getElementById("token").value = sessionStorage.getItem("storegw-token") || "";
poll();
setInterval(poll, 2000);
