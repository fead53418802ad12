// The page served at / by `lingualinked serve`: a chat over /v1/chat/completions (streamed)
// and a live view of the ring from GET /v1/cluster/status (docs/server.md). No libraries.
'use strict';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const state = { history: [], controller: null, lastEvent: 0, planShown: false, key: '' };

state.key = localStorage.getItem('ll-api-key') || '';
$('api-key').value = state.key;
$('api-key').addEventListener('change', () => {
  state.key = $('api-key').value.trim();
  localStorage.setItem('ll-api-key', state.key);
  state.lastEvent = 0;
  $('events').textContent = '';
  state.planShown = false;
});

function headers(extra = {}) {
  const h = { ...extra };
  if (state.key) h.Authorization = 'Bearer ' + state.key;
  return h;
}

async function api(path, options = {}) {
  const res = await fetch(path, { ...options, headers: headers(options.headers) });
  if (res.status === 401) $('key-box').hidden = false;
  return res;
}

// ---- chat

function addMessage(role, text = '') {
  const div = document.createElement('div');
  div.className = 'msg ' + role;
  div.textContent = text;
  $('messages').appendChild(div);
  div.scrollIntoView({ block: 'end' });
  return div;
}

function numberField(id) {
  const v = $(id).value.trim();
  return v === '' ? undefined : Number(v);
}

function requestBody() {
  const messages = [];
  const system = $('system').value.trim();
  if (system) messages.push({ role: 'system', content: system });
  messages.push(...state.history);
  const body = { messages, stream: true, stream_options: { include_usage: true } };
  for (const k of ['max_tokens', 'temperature', 'top_p', 'top_k', 'min_p', 'repeat_penalty', 'seed']) {
    const v = numberField(k);
    if (v !== undefined && !Number.isNaN(v)) body[k] = v;
  }
  const stop = $('stop_str').value;
  if (stop) body.stop = [stop];
  return body;
}

// Reads an SSE body and calls onEvent with each parsed `data:` payload until [DONE].
async function readSse(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ')) continue;  // ": keep-alive" comments
        const data = line.slice(6);
        if (data === '[DONE]') return;
        onEvent(JSON.parse(data));
      }
    }
  }
}

function setBusy(busy) {
  $('send').disabled = busy;
  $('stop').disabled = !busy;
}

async function send(text) {
  state.history.push({ role: 'user', content: text });
  addMessage('user', text);
  const out = addMessage('assistant streaming');
  const controller = new AbortController();
  state.controller = controller;
  setBusy(true);
  let answer = '';
  let finish = null;
  let usage = null;
  const started = performance.now();
  try {
    const res = await api('/v1/chat/completions', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(requestBody()),
      signal: controller.signal,
    });
    if (!res.ok) {
      const j = await res.json().catch(() => ({}));
      throw new Error((j.error && j.error.message) || `HTTP ${res.status}`);
    }
    await readSse(res, (chunk) => {
      if (chunk.error) throw new Error(chunk.error.message);
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices && chunk.choices[0];
      if (!choice) return;
      if (choice.delta && choice.delta.content) {
        answer += choice.delta.content;
        out.textContent = answer;
        out.scrollIntoView({ block: 'end' });
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    });
  } catch (e) {
    if (e.name === 'AbortError') {
      finish = 'stopped';
    } else {
      addMessage('error', String(e.message || e));
      finish = 'error';
    }
  } finally {
    state.controller = null;
    setBusy(false);
    out.classList.remove('streaming');
  }
  out.textContent = answer;
  const secs = (performance.now() - started) / 1000;
  const meta = document.createElement('span');
  meta.className = 'meta';
  const n = usage ? usage.completion_tokens : null;
  meta.textContent = `${finish || ''}${n !== null ? ` · ${n} tokens · ${(n / secs).toFixed(1)} tok/s` : ''}`;
  out.appendChild(meta);
  out.dataset.finish = finish || '';
  if (answer) state.history.push({ role: 'assistant', content: answer });
}

$('chat-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('chat-input').value.trim();
  if (!text || state.controller) return;
  $('chat-input').value = '';
  send(text);
});
$('chat-input').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    $('chat-form').requestSubmit();
  }
});
$('stop').addEventListener('click', () => state.controller && state.controller.abort());
$('clear').addEventListener('click', () => {
  if (state.controller) state.controller.abort();
  state.history = [];
  $('messages').textContent = '';
});

// ---- dashboard

function fmtBytes(b) {
  if (b === null || b === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return `${b.toFixed(b < 10 && i ? 1 : 0)} ${units[i]}`;
}
const fmt = (v, digits = 1, unit = '') => (v === null || v === undefined ? '–' : v.toFixed(digits) + unit);
const layers = (d) => (d.layers ? `L${d.layers[0]}–L${d.layers[1]}` : '–');
const stage = (d) => (d.stage_ms !== null ? fmt(d.stage_ms, 2, ' ms')
                      : d.planned_stage_ms !== null ? fmt(d.planned_stage_ms, 2, ' ms (planned)') : '–');

function el(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// Devices on a circle in ring order, head at the top, arrows along the ring.
function drawRing(status) {
  const devs = status.devices;
  const n = devs.length;
  const W = 660, H = n <= 2 ? 260 : 380, bw = 190, bh = 84;
  const clip = (t, max) => (t.length > max ? t.slice(0, max - 1) + '…' : t);
  const cx = W / 2, cy = H / 2, rx = n <= 1 ? 0 : W / 2 - bw / 2 - 10, ry = n <= 1 ? 0 : H / 2 - bh / 2 - 10;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `ring of ${n} devices` });
  const defs = el('defs');
  const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.appendChild(el('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#8a95a3' }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  const pos = devs.map((_, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
    return { x: cx + rx * Math.cos(a), y: cy + ry * Math.sin(a) };
  });
  // Links by device names (a plan's link indices count the devices it was offered, not the ring).
  const linkBy = new Map(status.links.filter((l) => l.kind !== 'residual').map((l) => [`${l.from_name}>${l.to_name}`, l]));
  for (let i = 0; n > 1 && i < n; i++) {
    const j = (i + 1) % n;
    const a = pos[i], b = pos[j];
    // Shorten the line so it ends at the box edges.
    const dx = b.x - a.x, dy = b.y - a.y;
    const len = Math.hypot(dx, dy) || 1;
    const exit = Math.min((bw / 2) / Math.max(Math.abs(dx), 1e-9), (bh / 2) / Math.max(Math.abs(dy), 1e-9));
    const s = Math.min(exit + 4 / len, 0.45);
    svg.appendChild(el('line', { class: 'link', x1: a.x + dx * s, y1: a.y + dy * s, x2: b.x - dx * s, y2: b.y - dy * s }));
    const l = linkBy.get(`${devs[i].name}>${devs[j].name}`);
    const lat = l ? (l.latency_ms !== null ? fmt(l.latency_ms, 2, ' ms') : l.planned_latency_ms !== null ? fmt(l.planned_latency_ms, 2, ' ms planned') : '') : '';
    const bytes = l && l.bytes !== null ? ' · ' + fmtBytes(l.bytes) : '';
    if (lat || bytes) svg.appendChild(el('text', { class: 'link-label', x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4, 'text-anchor': 'middle' }, lat + bytes));
  }
  devs.forEach((d, i) => {
    const g = el('g', { class: `dev${d.head ? ' head' : ''}${d.up ? '' : ' down'}`, 'data-device-name': d.name,
                        transform: `translate(${pos[i].x - bw / 2},${pos[i].y - bh / 2})` });
    g.appendChild(el('rect', { class: 'box', width: bw, height: bh, rx: 8 }));
    g.appendChild(el('text', { class: 'name', x: 8, y: 16 }, clip(`${i}. ${d.name}${d.head ? ' (head)' : ''}`, 26)));
    g.appendChild(el('text', { class: 'small', x: 8, y: 30 }, `${layers(d)}${d.address ? ' · ' + d.address.replace('tcp://', '') : ''}`));
    const memFrac = d.mem_bytes !== null && d.budget_bytes ? d.mem_bytes / d.budget_bytes : null;
    g.appendChild(el('rect', { class: 'bar-bg', x: 8, y: 36, width: bw - 16, height: 8, rx: 2 }));
    if (memFrac !== null) g.appendChild(el('rect', { class: 'bar-mem' + (memFrac > 1 ? ' over' : ''), x: 8, y: 36, width: (bw - 16) * Math.min(memFrac, 1), height: 8, rx: 2 }));
    g.appendChild(el('text', { class: 'small', x: 8, y: 55 }, `mem ${fmtBytes(d.mem_bytes)} / ${fmtBytes(d.budget_bytes)}`));
    g.appendChild(el('rect', { class: 'bar-bg', x: 8, y: 61, width: bw - 16, height: 6, rx: 2 }));
    if (d.utilization !== null) g.appendChild(el('rect', { class: 'bar-util', x: 8, y: 61, width: (bw - 16) * d.utilization, height: 6, rx: 2 }));
    g.appendChild(el('text', { class: 'small', x: 8, y: 79 }, `stage ${stage(d)} · util ${d.utilization !== null ? Math.round(100 * d.utilization) + '%' : '–'}`));
    const title = el('title', {}, `${d.name}${d.up ? '' : ' (down)'}\nlayers ${layers(d)}\nsteps ${d.steps ?? '–'}`);
    g.appendChild(title);
    svg.appendChild(g);
  });
  $('ring').replaceChildren(svg);
}

function drawTable(status) {
  const rows = status.devices.map((d, i) => {
    const tr = document.createElement('tr');
    tr.dataset.deviceName = d.name;
    const cells = [i, d.name + (d.head ? ' (head)' : '') + (d.up ? '' : ' — down'), layers(d),
                   `${fmtBytes(d.mem_bytes)} / ${fmtBytes(d.budget_bytes)}`, stage(d),
                   d.utilization !== null ? Math.round(100 * d.utilization) + '%' : '–',
                   `${fmtBytes(d.bytes_sent)} / ${fmtBytes(d.bytes_received)}`];
    for (const c of cells) {
      const td = document.createElement('td');
      td.textContent = c;
      tr.appendChild(td);
    }
    return tr;
  });
  $('devices').tBodies[0].replaceChildren(...rows);
}

function addEvents(events) {
  for (const e of events) {
    const li = document.createElement('li');
    li.dataset.kind = e.kind;
    const t = document.createElement('span');
    t.className = 'time';
    t.textContent = new Date(e.time * 1000).toLocaleTimeString();
    const k = document.createElement('span');
    k.className = 'kind';
    k.textContent = e.kind;
    li.append(t, k, document.createTextNode(' ' + e.message));
    $('events').prepend(li);
    state.lastEvent = Math.max(state.lastEvent, e.id);
  }
}

async function showPlan(url) {
  if (state.planShown) return;
  state.planShown = true;
  if (!url) {
    $('plan').innerHTML = '<span class="muted">this ring was not placed by the planner (in-process ring, even split)</span>';
    return;
  }
  const res = await api(url);
  if (!res.ok) { state.planShown = false; return; }
  // Through a blob URL in an <img>: the picture is shown, never run as part of the page.
  const img = document.createElement('img');
  img.alt = 'the plan: segments placed on devices';
  img.src = URL.createObjectURL(await res.blob());
  $('plan').replaceChildren(img);
}

async function poll() {
  try {
    const res = await api(`/v1/cluster/status?events_after=${state.lastEvent}`);
    if (!res.ok) {
      $('model-line').textContent = res.status === 401 ? 'API key needed' : `status: HTTP ${res.status}`;
      return;
    }
    const s = await res.json();
    $('model-line').textContent = `${s.model} · ${s.ring} · context ${s.n_ctx}`;
    $('ring-line').textContent = `${s.n_devices} device${s.n_devices === 1 ? '' : 's'}`;
    $('tok-s').textContent = fmt(s.tokens_per_second, 1);
    $('pred-tok-s').textContent = fmt(s.predicted_tok_s, 1);
    $('reqs').textContent = `${s.requests.active} / ${s.requests.queued}`;
    $('ttft').textContent = s.ttft_avg_s === null ? '–' : fmt(1000 * s.ttft_avg_s, 0, ' ms');
    $('generated').textContent = String(s.tokens_generated);
    drawRing(s);
    drawTable(s);
    addEvents(s.events);
    showPlan(s.plan_svg);
  } catch (e) {
    $('model-line').textContent = 'server unreachable';
  }
}

poll();
setInterval(poll, 1000);
