// Test harness for the web UI: starts the real `logstream server` on a free
// loopback port with a temporary data directory, runs pipelines with the real
// worker (`logstream run FILE --server URL`), and drives Debian's Chromium
// through playwright-core.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
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

export async function startServer(extraArgs = []) {
  const data = mkdtempSync(join(tmpdir(), 'ls-web-'));
  const proc = spawn(binary(), ['server', '--listen', '127.0.0.1:0', '--data', data, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const line = await firstLine(proc, 'logstream server');
  const m = /^logstream server listening on (http:\/\/\S+)/.exec(line);
  if (!m) throw new Error(`unexpected first line from the server: ${line}`);
  return {
    url: m[1],
    proc,
    data,
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
  const proc = spawn(binary(), ['run', file, '--server', serverUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
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

export async function getJson(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

export async function getText(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.text();
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
