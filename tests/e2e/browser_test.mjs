// The web page of `lingualinked serve` in a real browser: Debian's headless Chromium driven
// through its DevTools protocol over a pipe (--remote-debugging-pipe), so no npm driver and no
// browser download. Sends a chat message, sees the answer stream in, checks it equals the API's
// greedy answer, stops a long answer, checks the dashboard shows every device of the ring and
// saves a screenshot. Run by browser_test.sh with LL_BASE_URL, LL_SCREENSHOT, LL_CHROMIUM.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = process.env.LL_BASE_URL;
const screenshot = process.env.LL_SCREENSHOT;
const chromium = process.env.LL_CHROMIUM || '/usr/bin/chromium';
const deadlineMs = 150_000;  // generous: CI is a shared 2-core machine

let failures = 0;
function check(cond, what, detail = '') {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}${!cond && detail ? ': ' + detail : ''}`);
  if (!cond) failures++;
  return cond;
}

// ---- a DevTools protocol client over Chromium's pipe: fd 3 in, fd 4 out, \0-separated JSON.
class Cdp {
  constructor(proc) {
    this.proc = proc;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
    let buf = '';
    proc.stdio[4].on('data', (d) => {
      buf += d.toString('utf8');
      let cut;
      while ((cut = buf.indexOf('\0')) >= 0) {
        const msg = JSON.parse(buf.slice(0, cut));
        buf = buf.slice(cut + 1);
        if (msg.id && this.pending.has(msg.id)) {
          const { resolve, reject, method } = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) reject(new Error(`${method}: ${msg.error.message}`));
          else resolve(msg.result);
        } else if (msg.method) {
          for (const l of this.listeners) l(msg);
        }
      }
    });
  }
  send(method, params = {}, sessionId) {
    const id = this.nextId++;
    const msg = { id, method, params };
    if (sessionId) msg.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.proc.stdio[3].write(JSON.stringify(msg) + '\0');
    });
  }
  once(method, sessionId) {
    return new Promise((resolve) => {
      const l = (msg) => {
        if (msg.method === method && (!sessionId || msg.sessionId === sessionId)) {
          this.listeners = this.listeners.filter((x) => x !== l);
          resolve(msg.params);
        }
      };
      this.listeners.push(l);
    });
  }
}

const profile = mkdtempSync(join(tmpdir(), 'll-chromium-'));
const proc = spawn(chromium, [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--remote-debugging-pipe',
  '--window-size=1400,1000', 'about:blank',
], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
let chromiumLog = '';
proc.stderr.on('data', (d) => { chromiumLog = (chromiumLog + d).slice(-4000); });
const timer = setTimeout(() => {
  console.log(`FAIL the browser test did not finish within ${deadlineMs / 1000} s`);
  console.log(chromiumLog);
  proc.kill('SIGKILL');
  process.exit(1);
}, deadlineMs);

const cdp = new Cdp(proc);
let session;
const page = (method, params) => cdp.send(method, params, session);

async function evaluate(expression) {
  const r = await page('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
  if (r.exceptionDetails) {
    const d = r.exceptionDetails;
    throw new Error(`in the page: ${d.exception?.description || d.text} (evaluating ${expression.slice(0, 80)}...)`);
  }
  return r.result.value;
}

// Waits until an expression in the page is truthy and returns its value: one evaluation of a
// promise that looks again at every change of the page (a MutationObserver; `load` events for
// images), with a deadline in the page. Nothing is polled.
async function waitFor(expression, what, ms = 30_000) {
  return evaluate(`new Promise((resolve, reject) => {
    const test = () => (${expression});
    let timer = null;
    const obs = new MutationObserver(() => look());
    const done = (settle, v) => {
      obs.disconnect();
      document.removeEventListener('load', look, true);
      clearTimeout(timer);
      settle(v);
    };
    function look() {
      let v;
      try { v = test(); } catch (e) { return done(reject, e); }
      if (v) done(resolve, v);
    }
    obs.observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
    document.addEventListener('load', look, true);
    timer = setTimeout(() => done(reject, new Error(${JSON.stringify('timed out waiting for ' + what)})), ${ms});
    look();
  })`);
}

async function apiGreedy(content, maxTokens) {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content }], max_tokens: maxTokens, temperature: 0 }),
  });
  const j = await res.json();
  return j.choices[0].message.content;
}

// Sends `text` from the chat box as a user would (typed, then Enter) and records every text the
// answer bubble shows while it streams.
async function chat(text) {
  await evaluate(`(() => {
    window.__seen = [];
    const obs = new MutationObserver(() => {
      const m = [...document.querySelectorAll('.msg.assistant')].pop();
      if (m && m.classList.contains('streaming')) window.__seen.push(m.textContent);
    });
    obs.observe(document.getElementById('messages'), { childList: true, subtree: true, characterData: true });
    document.getElementById('chat-input').focus();
    return true;
  })()`);
  await page('Input.insertText', { text });
  await page('Input.dispatchKeyEvent', { type: 'keyDown', key: 'Enter', code: 'Enter', windowsVirtualKeyCode: 13 });
  await page('Input.dispatchKeyEvent', { type: 'keyUp', key: 'Enter', code: 'Enter', windowsVirtualKeyCode: 13 });
}

const lastAnswer = `(() => { const m = [...document.querySelectorAll('.msg.assistant')].pop();
  return m ? { done: !m.classList.contains('streaming'), finish: m.dataset.finish || '',
               text: m.firstChild && m.firstChild.nodeType === 3 ? m.firstChild.textContent : '' } : null; })()`;

try {
  const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank' });
  ({ sessionId: session } = await cdp.send('Target.attachToTarget', { targetId, flatten: true }));
  await page('Page.enable');
  await page('Runtime.enable');
  await page('Emulation.setDeviceMetricsOverride', { width: 1400, height: 1000, deviceScaleFactor: 1, mobile: false });
  const loaded = cdp.once('Page.loadEventFired', session);
  await page('Page.navigate', { url: base + '/' });
  await loaded;
  check(await evaluate('document.title') === 'LinguaLinked', 'the page loads from the server');

  // The dashboard: every device of the ring, as the status endpoint names them.
  const status = await (await fetch(`${base}/v1/cluster/status`)).json();
  const names = status.devices.map((d) => d.name);
  check(names.length === 3, 'status lists 3 devices', JSON.stringify(names));
  await waitFor(`document.querySelectorAll('#ring [data-device-name]').length === ${names.length}`, 'the ring picture');
  const drawn = await evaluate(`[...document.querySelectorAll('#ring [data-device-name]')].map((g) => g.dataset.deviceName)`);
  check(JSON.stringify(drawn) === JSON.stringify(names), 'the ring picture shows every device in ring order', JSON.stringify(drawn));
  const rows = await evaluate(`[...document.querySelectorAll('#devices tbody tr')].map((r) => r.dataset.deviceName)`);
  check(JSON.stringify(rows) === JSON.stringify(names), 'the device table lists every device', JSON.stringify(rows));
  check(names.every((n) => !n.startsWith('tcp://')), 'devices are named, not addressed', JSON.stringify(names));
  check(await waitFor(`!!document.querySelector('#events li[data-kind="deploy"]')`, 'the deploy event'),
        'the events list shows the deploy');
  check(await waitFor(`(() => { const i = document.querySelector('#plan img');
                                return !!i && i.complete && i.naturalWidth > 0; })()`, 'the plan picture'),
        'the plan picture is shown');

  // Chat, greedy so the answer can be compared with the API's.
  await evaluate(`document.getElementById('temperature').value = '0';
                  document.getElementById('max_tokens').value = '48'; true`);
  const prompt = 'Tell me a story about a cat.';
  const want = await apiGreedy(prompt, 48);
  await chat(prompt);
  const got = await waitFor(`(() => { const a = ${lastAnswer}; return a && a.done ? a : null; })()`, 'the answer');
  const seen = await evaluate('window.__seen.filter((t) => t.length > 0)');
  check(got.text.length > 0, 'the answer has text', JSON.stringify(got));
  check(new Set(seen).size >= 2 && seen.some((t) => t.length < got.text.length),
        'the answer streamed in (partial texts were shown first)', `${new Set(seen).size} distinct texts`);
  check(got.text === want, 'the chat shows the API\'s greedy answer', JSON.stringify([got.text, want]));
  check(['stop', 'length'].includes(got.finish), 'the answer ended normally', got.finish);
  const user = await evaluate(`[...document.querySelectorAll('.msg.user')].pop().textContent`);
  check(user === prompt, 'the user message is shown', user);

  // Stop: a long answer, stopped once text has arrived; the server frees its slot.
  // 3000 tokens (the server has a context of 4096) take far longer than the click.
  await evaluate(`document.getElementById('max_tokens').value = '3000'; true`);
  // The random-weight model may end an answer by itself (an end-of-generation token) before the
  // click lands; such an answer says nothing about the button, so the next prompt is tried.
  let started = null, stopped = null;
  for (const ask of ['Go on, a long one.', 'And another one.', 'Once more, please.']) {
    await chat(ask);
    started = await waitFor(`(() => { const e = document.querySelector('.msg.error');
      if (e) return 'error: ' + e.textContent;
      const a = ${lastAnswer}; return a && a.text.length > 0 ? 'started' : null; })()`, 'the next answer to start');
    if (started !== 'started') break;
    await evaluate(`document.getElementById('stop').click(); true`);
    stopped = await waitFor(`(() => { const a = ${lastAnswer}; return a && a.done ? a : null; })()`, 'the stop');
    if (stopped.finish !== 'stop') break;
  }
  check(started === 'started', 'the second answer starts', started);
  check(stopped?.finish === 'stopped', 'the stop button ends the answer', stopped?.finish);
  check(await evaluate(`!document.getElementById('send').disabled`), 'the page can send again after a stop');
  // One long-poll: the server answers when no request is active or queued, or after 20 s.
  const after = await (await fetch(`${base}/v1/cluster/status?wait_for=idle&timeout=20`)).json();
  const active = after.requests?.active;
  check(active === 0, 'the stopped sequence leaves the ring', `${active} still active`);

  // The dashboard counts the tokens just generated.
  await waitFor(`Number(document.getElementById('generated').textContent) > 0`, 'tokens generated on the dashboard');

  const shot = await page('Page.captureScreenshot', { format: 'png' });
  writeFileSync(screenshot, Buffer.from(shot.data, 'base64'));
  console.log(`screenshot: ${screenshot}`);
} catch (e) {
  check(false, 'browser session', e.stack || String(e));
  if (chromiumLog) console.log(chromiumLog);
} finally {
  clearTimeout(timer);
  const exited = proc.exitCode !== null ? Promise.resolve() : new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
  try {
    rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
  } catch (e) {
    console.log(`note: could not remove ${profile}: ${e.message}`);
  }
}

if (failures) {
  console.log(`${failures} check(s) failed`);
  process.exit(1);
}
console.log('browser: all checks passed');
