// Web UI benchmark: a 1,000,000-line step log in headless Chromium.
//
//   node bench/bench_ui.mjs PATH_TO_logstream [--lines N] [--runs R]
//
// Needs tests/browser's npm dependencies (tests/browser/run.sh installs them)
// and /usr/bin/chromium. Starts the real server on loopback with a temporary
// data dir, creates one build whose step log has N lines (streamed to the
// ingest endpoint as text/plain), then measures, R times each in a fresh page:
//   first paint   navigation start -> line 1 visible in the log view
//   jump to end   End key in the log view -> line N visible
//   seek          scrollbar jump to a random place -> those lines visible
//   wheel         150 mouse-wheel steps: frame times while rows stream in
//   search        Enter in the search box -> the only match (line N-1, far
//                 outside the rendered window) visible, found by the server
//                 (GET .../search); and the endpoint alone for a rare and a
//                 common text (fetch in the page, whole answer read)
// and reports the median, with the number of rows in the DOM and the JS heap.
// The server runs with access control on: the bench uses the admin token for
// the API and opens the page with the read token.

import http from 'node:http';
import { performance } from 'node:perf_hooks';
import * as H from '../tests/browser/harness.mjs';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const LINES = arg('--lines', 1000000);
const RUNS = arg('--runs', 5);
if (process.argv[2] && !process.argv[2].startsWith('--')) process.env.LOGSTREAM_BINARY = process.argv[2];

let TOKEN = null; // the server's admin token

async function api(url, method, body) {
  const r = await fetch(url, { method, headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${url}: ${r.status} ${await r.text()}`);
  return r.json();
}

// Streams N lines as text/plain to the ingest endpoint (the server numbers them).
function ingest(url, n) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'Content-Type': 'text/plain', Authorization: `Bearer ${TOKEN}` } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`ingest: ${res.statusCode} ${body}`))));
    });
    req.on('error', reject);
    let i = 1;
    const pump = () => {
      while (i <= n) {
        let chunk = '';
        for (let k = 0; k < 5000 && i <= n; k++, i++) {
          const colour = i % 10 === 0 ? `\x1b[3${i % 8}mcoloured\x1b[0m ` : '';
          chunk += `${colour}line ${i} of the benchmark log: lorem ipsum dolor sit amet ${i * 7919 % 100003}\n`;
        }
        if (!req.write(chunk)) return req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// (a function, not a string: the page's CSP forbids eval)
function rowShown(seq) {
  const r = document.querySelector(`.lv-row[data-seq="${seq}"]`);
  return !!r && !r.classList.contains('lv-loading');
}
const waitShown = (page, seq) => page.waitForFunction(rowShown, seq, { polling: 'raf', timeout: 30000 });

async function main() {
  const srv = await H.startServer();
  TOKEN = srv.tokens.admin;
  const browser = await H.launchBrowser({ width: 1280, height: 800 });
  try {
    const b = await api(`${srv.url}/api/v1/builds`, 'POST', { name: 'bench-ui', steps: [{ name: 'big', kind: 'step' }] });
    const step = `${srv.url}/api/v1/builds/${b.id}/steps/1`;
    await api(`${srv.url}/api/v1/builds/${b.id}`, 'PATCH', { status: 'running' });
    await api(step, 'PATCH', { status: 'running' });
    const t0 = performance.now();
    const res = await ingest(`${step}/stream`, LINES);
    const ingestMs = performance.now() - t0;
    await api(step, 'PATCH', { status: 'success', exit_code: 0 });
    await api(`${srv.url}/api/v1/builds/${b.id}`, 'PATCH', { status: 'success' });
    console.log(`ingested ${res.durable_seq} lines (${(res.bytes / 1048576).toFixed(1)} MiB) in ${(ingestMs / 1000).toFixed(1)} s`);

    const first = [];
    const end = [];
    const seek = [];
    const search = [];
    const endpoint = { rare: [], common: [] };
    const frames = [];
    let dom = 0;
    let heap = 0;
    for (let run = 0; run < RUNS; run++) {
      const page = await browser.newPage();
      await page.goto(H.pageUrl(srv, `/builds/${b.id}/steps/1`), { waitUntil: 'commit' });
      await waitShown(page, 1);
      first.push(await page.evaluate(() => performance.now()));

      await page.focus('.lv-viewport');
      let s = performance.now();
      await page.keyboard.press('End');
      await waitShown(page, LINES);
      end.push(performance.now() - s);

      const target = 1 + Math.floor(((run + 1) / (RUNS + 1)) * (LINES - 100));
      s = performance.now();
      await page.evaluate((seq) => window.logstreamView.scrollToSeq(seq, 'top'), target);
      await waitShown(page, target + 5);
      seek.push(performance.now() - s);

      // smooth scrolling: 150 mouse-wheel steps of 400 px, frame times in the page
      await page.evaluate(() => {
        window.__frames = [];
        let last = performance.now();
        const tick = (t) => {
          window.__frames.push(t - last);
          last = t;
          if (window.__frames.length < 100000 && !window.__stopFrames) requestAnimationFrame(tick);
        };
        window.__stopFrames = false;
        requestAnimationFrame(tick);
      });
      await page.mouse.move(700, 500);
      for (let i = 0; i < 150; i++) {
        await page.mouse.wheel(0, 400);
        await page.waitForTimeout(8);
      }
      const fr = await page.evaluate(() => {
        window.__stopFrames = true;
        const xs = window.__frames.slice(1).sort((a, b) => a - b);
        const blank = document.querySelectorAll('.lv-row.lv-loading').length;
        return { p50: xs[Math.floor(xs.length * 0.5)], p95: xs[Math.floor(xs.length * 0.95)], max: xs[xs.length - 1], n: xs.length, blank };
      });
      frames.push(fr);

      // search from the top: the only match is line LINES-1, far outside the view
      // (after the wheel steps' smooth scrolling has settled)
      await page.waitForTimeout(1000);
      await page.evaluate(() => window.logstreamView.scrollToSeq(1, 'top'));
      await waitShown(page, 1);
      await page.fill('.lv-search-input', `line ${LINES - 1} of the`);
      s = performance.now();
      await page.press('.lv-search-input', 'Enter');
      await waitShown(page, LINES - 1);
      await page.waitForFunction((seq) => !!document.querySelector(`.lv-row.lv-cur[data-seq="${seq}"]`), LINES - 1, { polling: 'raf', timeout: 30000 });
      search.push(performance.now() - s);
      const ep = await page.evaluate(async (u) => {
        const time = async (q) => {
          const t = performance.now();
          const r = await fetch(`${u}/search?q=${encodeURIComponent(q)}&limit=10000`, { headers: { Authorization: `Bearer ${localStorage.getItem('logstream.token')}` } });
          const j = await r.json();
          return { ms: performance.now() - t, total: j.total };
        };
        return { rare: await time('line 999 of the'), common: await time('COLOURED') };
      }, `/api/v1/builds/${b.id}/steps/1`);
      endpoint.rare.push(ep.rare.ms);
      endpoint.common.push(ep.common.ms);
      endpoint.totals = `${ep.rare.total} / ${ep.common.total}`;

      dom = await page.evaluate(() => document.querySelectorAll('.lv-row').length);
      heap = await page.evaluate(() => (performance.memory ? performance.memory.usedJSHeapSize : 0));
      if (run === 0) await H.screenshot(page, 'log-view-1m-lines');
      await page.close();
    }
    const f = (xs) => `${median(xs).toFixed(0)} ms (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)})`;
    console.log(`lines: ${LINES}, runs: ${RUNS}`);
    console.log(`first lines visible after navigation: ${f(first)}   target < 500 ms`);
    console.log(`jump to end (End key -> line ${LINES} visible): ${f(end)}   target < 1000 ms`);
    console.log(`seek by scrollbar to a random place: ${f(seek)}`);
    console.log(`search (Enter -> the match at line ${LINES - 1} shown, server-side): ${f(search)}`);
    console.log(`search endpoint alone, whole log: rare text ${f(endpoint.rare)}; common text (matches in every 10th line, first 10000 listed) ${f(endpoint.common)}; totals ${endpoint.totals}`);
    console.log(`rows in the DOM: ${dom}; JS heap used: ${(heap / 1048576).toFixed(1)} MiB`);
    const p = (k) => median(frames.map((x) => x[k])).toFixed(1);
    console.log(`wheel scrolling (150 x 400 px): frame time p50 ${p('p50')} ms, p95 ${p('p95')} ms, max ${p('max')} ms (medians over runs)`);
  } finally {
    await browser.close();
    await srv.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
