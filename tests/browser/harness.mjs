// Test harness for the web UI: starts the real `logstream server` on a free
// loopback port with a temporary data directory, runs pipelines with the real
// worker (`logstream run FILE --server URL`), and drives Debian's Chromium
// through playwright-core.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const HERE = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(HERE, '..', '..');
export const SCREENSHOTS = process.env.LS_SCREENSHOTS || join(ROOT, 'docs', 'screenshots');

export function binary() {
  const b = process.env.LOGSTREAM_BINARY;
  if (!b) throw new Error('set LOGSTREAM_BINARY to the logstream executable (run.sh does)');
  return b;
}

// Resolves with the first stdout line of proc (rejects on exit or timeout).
function firstLine(proc, what, timeoutMs = 20000) {
  return new Promise((resolve, reject) => {
    let buf = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${what}: no output after ${timeoutMs} ms; stderr: ${err}`)), timeoutMs);
    proc.stderr.on('data', (d) => {
      err += d;
    });
    proc.stdout.on('data', function onData(d) {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        proc.stdout.off('data', onData);
        proc.stdout.resume();
        resolve(buf.slice(0, nl));
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before printing; stderr: ${err}`));
    });
  });
}

// Tokens of the servers this process started: origin -> {admin, worker, read}.
const TOKENS = new Map();

function tokenFor(url, kind = 'read') {
  const t = TOKENS.get(new URL(url).origin);
  return t ? t[kind] : null;
}

// Starts `logstream server` with access control on (the default: no
// --public-read). The admin token goes to DATA/admin.token at first start;
// the returned server has it and a worker and a read token made with it
// through the tokens API (tokens.admin, tokens.worker, tokens.read).
export async function startServer(extraArgs = []) {
  const data = mkdtempSync(join(tmpdir(), 'ls-web-'));
  const tokenFile = join(data, 'admin.token');
  const proc = spawn(binary(), ['server', '--listen', '127.0.0.1:0', '--data', data, '--admin-token-file', tokenFile, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const line = await firstLine(proc, 'logstream server');
  const m = /^logstream server listening on (http:\/\/\S+)/.exec(line);
  if (!m) throw new Error(`unexpected first line from the server: ${line}`);
  const url = m[1].replace(/\/$/, '');
  const tokens = { admin: readFileSync(tokenFile, 'utf8').trim() };
  for (const scope of ['worker', 'read']) {
    const r = await fetch(`${url}/api/v1/tokens`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${tokens.admin}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ scope, name: `browser tests ${scope}` }),
    });
    if (r.status !== 201) throw new Error(`POST /api/v1/tokens (${scope}): HTTP ${r.status} ${await r.text()}`);
    tokens[scope] = (await r.json()).token;
  }
  TOKENS.set(new URL(url).origin, tokens);
  return {
    url,
    proc,
    data,
    tokens,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      rmSync(data, { recursive: true, force: true });
    },
  };
}

// Pipeline files of this process go in one temp dir, removed at exit.
let pipeDir = null;

// Writes a pipeline file and returns its path.
export function pipelineFile(name, yaml) {
  if (!pipeDir) {
    pipeDir = mkdtempSync(join(tmpdir(), 'ls-web-pipe-'));
    process.on('exit', () => rmSync(pipeDir, { recursive: true, force: true }));
  }
  const file = join(mkdtempSync(join(pipeDir, 'p-')), `${name}.yml`);
  writeFileSync(file, yaml);
  return file;
}

// Starts `logstream run FILE --server URL`; resolves once it printed
// "build ID URL", with `done` resolving to its exit code.
export async function runPipeline(serverUrl, file) {
  const env = { ...process.env, LOGSTREAM_TOKEN: tokenFor(serverUrl, 'worker') || '' };
  const proc = spawn(binary(), ['run', file, '--server', serverUrl], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const done = new Promise((r) => proc.on('exit', (code) => r(code)));
  const line = await firstLine(proc, 'logstream run');
  const m = /^build (\d+) (\S+)/.exec(line);
  if (!m) throw new Error(`unexpected first line from the worker: ${line}`);
  return { id: parseInt(m[1], 10), url: m[2], proc, done };
}

// A fresh profile directory each time (playwright passes it to Chromium as
// --user-data-dir). Returns a browser context: newPage(), close().
export async function launchBrowser(viewport = { width: 1280, height: 800 }) {
  const profile = mkdtempSync(join(tmpdir(), 'ls-web-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const close = context.close.bind(context);
  context.close = async () => {
    await close();
    rmSync(profile, { recursive: true, force: true });
  };
  return context;
}

// GETs with the server's read token (token: another token, or null for none).
function authHeaders(url, token) {
  const t = token === undefined ? tokenFor(url) : token;
  return t ? { Authorization: `Bearer ${t}` } : {};
}

export async function getJson(url, token) {
  const r = await fetch(url, { headers: authHeaders(url, token) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

export async function getText(url, token) {
  const r = await fetch(url, { headers: authHeaders(url, token) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
}

// A page URL of server srv that carries its read token the way users get
// one: in the fragment (#token=) or, as `logstream demo` prints it and when the
// path has a fragment of its own (#L42), as ?access_token=. The UI keeps the
// token and strips it from the address bar.
export function pageUrl(srv, path) {
  const t = encodeURIComponent(srv.tokens.read);
  const hash = path.indexOf('#');
  if (hash >= 0) return `${srv.url}${path.slice(0, hash)}?access_token=${t}${path.slice(hash)}`;
  return `${srv.url}${path}#token=${t}`;
}

export async function waitFor(fn, what, timeoutMs = 20000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

// Scrolls the log view from top to bottom and returns [[seq, text], ...] of
// every row it rendered, in seq order: the text the viewer holds for the log.
export async function collectLogRows(page) {
  return page.evaluate(async () => {
    const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const v = window.logstreamView;
    const vp = v.viewport;
    const out = new Map();
    vp.scrollTop = 0;
    const deadline = performance.now() + 60000;
    for (;;) {
      if (performance.now() > deadline) throw new Error(`scrolling through the log took over 60 s (at ${vp.scrollTop} of ${vp.scrollHeight})`);
      await frame();
      for (let i = 0; i < 200 && vp.querySelector('.lv-row.lv-loading'); i++) await frame();
      for (const row of vp.querySelectorAll('.lv-row[data-seq]')) {
        const seq = Number(row.dataset.seq);
        const text = row.querySelector('.lv-text').textContent;
        if (out.has(seq) && out.get(seq) !== text) throw new Error(`line ${seq} changed while scrolling`);
        out.set(seq, text);
      }
      if (vp.scrollTop >= vp.scrollHeight - vp.clientHeight - 1) break;
      vp.scrollTop += Math.max(20, Math.floor(vp.clientHeight * 0.8));
    }
    return [...out.entries()].sort((a, b) => a[0] - b[0]);
  });
}
