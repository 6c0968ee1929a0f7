// The web UI in headless Chromium against the real server and worker.
// Run through run.sh (it builds nothing: pass the logstream binary).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './harness.mjs';

let srv;
let browser;

before(async () => {
  srv = await H.startServer();
  browser = await H.launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (srv) await srv.stop();
});

async function newPage() {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.errors = errors;
  return page;
}

function stepUrl(id, step) {
  return `${srv.url}/api/v1/builds/${id}/steps/${step}`;
}

async function stepStatus(id, step) {
  const b = await H.getJson(`${srv.url}/api/v1/builds/${id}`);
  return b.steps.find((s) => s.number === step).status;
}

// The raw log as lines (the download ends every line with \n).
async function rawLines(id, step) {
  const text = await H.getText(`${stepUrl(id, step)}/logs`);
  return text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
}

function assertHoldsExactly(rows, raw) {
  const seqs = rows.map(([s]) => s);
  assert.deepEqual(seqs, raw.map((_, i) => i + 1), 'every seq once, in order, none missing');
  assert.deepEqual(rows.map(([, t]) => t), raw, 'the text of every line equals the raw log');
}

const LIVE_PIPELINE = `version: "1"
name: live
steps:
  - name: count
    commands:
      - for i in $(seq 1 80); do echo "line $i of the live step"; sleep 0.05; done
`;

test('lines appear while the step runs; the final view equals the raw log', async () => {
  const run = await H.runPipeline(srv.url, H.pipelineFile('live', LIVE_PIPELINE));
  const page = await newPage();
  await page.goto(H.pageUrl(srv, `/builds/${run.id}/steps/1`));
  // a line shows up in the DOM ...
  await page.locator('.lv-row .lv-text', { hasText: /^line 10 of the live step$/ }).waitFor({ timeout: 15000 });
  // ... while the server still says the step is running
  assert.equal(await stepStatus(run.id, 1), 'running', 'line 10 was shown before the step finished');
  // follow mode is on for a running step: the newest line stays in view
  assert.equal(await page.locator('.lv-follow').getAttribute('aria-pressed'), 'true');
  await H.screenshot(page, 'build-page-running');
  assert.equal(await run.done, 0);
  await page.locator('.step[data-step="1"] .badge', { hasText: 'passed' }).waitFor({ timeout: 15000 });
  await page.locator('.lv-row .lv-text', { hasText: /^line 80 of the live step$/ }).waitFor({ timeout: 15000 });
  const raw = await rawLines(run.id, 1);
  assert.ok(raw.includes('line 80 of the live step'));
  const rows = await H.collectLogRows(page);
  assertHoldsExactly(rows, raw);
  assert.deepEqual(page.errors, []);
  await page.close();
});

const SLOW_PIPELINE = `version: "1"
name: midrun
steps:
  - name: slow
    commands:
      - for i in $(seq 1 60); do echo "tick $i"; sleep 0.1; done
`;

test('opening a step mid-run shows the earlier lines, then live ones, without duplicates', async () => {
  const run = await H.runPipeline(srv.url, H.pipelineFile('midrun', SLOW_PIPELINE));
  // wait until the server holds some history
  await H.waitFor(async () => {
    const t = await H.getText(`${stepUrl(run.id, 1)}/logs?tail=1`);
    return t && JSON.parse(t).seq >= 15;
  }, 'history before opening');
  const page = await newPage();
  await page.goto(H.pageUrl(srv, `/builds/${run.id}/steps/1`));
  await page.locator('.lv-row .lv-text', { hasText: /^tick 60$/ }).waitFor({ timeout: 20000 });
  const live = await page.evaluate(() => ({ ...window.logstreamView.store.live }));
  assert.ok(live.startedAfter >= 15, `the live stream started after the history (${live.startedAfter})`);
  assert.equal(live.first, live.startedAfter + 1, 'the first live line follows the history directly');
  assert.ok(live.lines > 0, 'lines arrived live');
  assert.equal(live.dups, 0, 'no line was delivered twice');
  assert.equal(await run.done, 0);
  const rows = await H.collectLogRows(page);
  assertHoldsExactly(rows, await rawLines(run.id, 1));
  await page.close();
});

const FANCY_PIPELINE = `version: "1"
name: fancy
steps:
  - name: render
    commands:
      - printf '\\033[31mred\\033[0m \\033[1;4mbold-under\\033[0m \\033[38;5;208mcolour256\\033[0m \\033[38;2;10;200;30mtruecolour\\033[0m \\033[3mitalic\\033[0m \\033[44;97mwhite-on-blue\\033[0m\\n'
      - echo "::group::Install deps"; echo "inside 1"; echo "inside 2"; echo "::endgroup::"
      - printf '\\033[0Ksection_start:%s:build_sec\\r\\033[0KBuilding things\\n' $(date +%s); echo in section; sleep 1.2; printf '\\033[0Ksection_end:%s:build_sec\\r\\033[0K\\n' $(date +%s)
      - printf 'progress 10%%\\rprogress 50%%\\rprogress 100%%\\n'
      - echo "docs at https://example.com/docs?x=1, and <b>not markup</b>"
      - seq 1 3000 | sed 's/^/filler /'
      - echo needle-far-away
      - seq 1 500 | sed 's/^/tail /'
      - printf '\\033[0Ksection_start:%s:hidden_sec[collapsed=true]\\r\\033[0KHidden details\\n' $(date +%s); echo secret-detail; printf '\\033[0Ksection_end:%s:hidden_sec\\r\\033[0K\\n' $(date +%s)
`;

let fancy;
async function fancyBuild() {
  if (!fancy) {
    const run = await H.runPipeline(srv.url, H.pipelineFile('fancy', FANCY_PIPELINE));
    assert.equal(await run.done, 0);
    fancy = run;
  }
  return fancy;
}

function row(page, text) {
  return page.locator('.lv-row', { has: page.locator('.lv-text', { hasText: text }) });
}

test('ANSI colours and styles render as styled spans; \\r shows the last state; URLs link', async () => {
  const run = await fancyBuild();
  const page = await newPage();
  await page.goto(H.pageUrl(srv, `/builds/${run.id}/steps/1`));
  const line = row(page, /^red bold-under/);
  await line.waitFor();
  assert.equal(await line.locator('span.f1').textContent(), 'red');
  assert.equal(await line.locator('span.b.u').textContent(), 'bold-under');
  const styleOf = (t) => line.locator('.lv-text span', { hasText: new RegExp(`^${t}$`) }).evaluate((el) => getComputedStyle(el).color);
  assert.equal(await styleOf('colour256'), 'rgb(255, 135, 0)');
  assert.equal(await styleOf('truecolour'), 'rgb(10, 200, 30)');
  assert.equal(await line.locator('span.i').textContent(), 'italic');
  assert.equal(await line.locator('span.f15.g4').textContent(), 'white-on-blue');
  assert.equal(await line.locator('.lv-text').textContent(), 'red bold-under colour256 truecolour italic white-on-blue');
  // progress line: the last state only
  assert.equal(await row(page, /^progress/).locator('.lv-text').textContent(), 'progress 100%');
  // URL: a link; markup in the log stays text
  const docs = row(page, /^docs at/);
  assert.equal(await docs.locator('a.lv-url').getAttribute('href'), 'https://example.com/docs?x=1');
  assert.equal(await docs.locator('b').count(), 0);
  assert.match(await docs.locator('.lv-text').textContent(), /<b>not markup<\/b>/);
  await page.locator('.lv-row.lv-group', { hasText: 'Building things' }).locator('.lv-dur').waitFor();
  await H.screenshot(page, 'log-view');
  await page.emulateMedia({ colorScheme: 'dark' });
  await H.screenshot(page, 'log-view-dark');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('groups collapse and expand, with durations', async () => {
  const run = await fancyBuild();
  const page = await newPage();
  await page.goto(H.pageUrl(srv, `/builds/${run.id}/steps/1`));
  const header = page.locator('.lv-row.lv-group', { hasText: 'Install deps' });
  await header.waitFor();
  const inside = row(page, /^inside 1$/);
  await inside.waitFor();
  const before = await page.locator('.lv-row').first().getAttribute('data-seq');
  await header.locator('.lv-toggle').click();
  await inside.waitFor({ state: 'detached' });
  assert.equal(await header.locator('.lv-toggle').getAttribute('aria-expanded'), 'false');
  assert.equal(await row(page, /^::endgroup::$/).count(), 0, 'the end marker is inside the group');
  // the row after the group moves up right under the header
  const headerSeq = Number(await header.getAttribute('data-seq'));
  const next = page.locator(`.lv-row[data-seq="${headerSeq + 4}"]`);
  assert.equal(await page.locator('.lv-row').nth(headerSeq).getAttribute('data-seq'), String(headerSeq + 4));
  assert.ok(await next.count());
  await H.screenshot(page, 'log-view-group-collapsed');
  await header.locator('.lv-toggle').click();
  await inside.waitFor();
  assert.equal(await page.locator('.lv-row').first().getAttribute('data-seq'), before);
  // GitLab section: titled by its header text, duration from its lines
  const section = page.locator('.lv-row.lv-group', { hasText: 'Building things' });
  await section.locator('.lv-dur').waitFor();
  const dur = await section.locator('.lv-dur').textContent();
  assert.match(dur, /^1\.\ds$/, `section duration ${dur}`);
  await section.locator('.lv-toggle').click();
  await row(page, /^in section$/).waitFor({ state: 'detached' });
  // keyboard: the toggle is a button
  await section.locator('.lv-toggle').focus();
  await page.keyboard.press('Enter');
  await row(page, /^in section$/).waitFor();
  // a section marked [collapsed=true] starts collapsed; a search match inside
  // it opens it
  await page.keyboard.press('End');
  const hidden = page.locator('.lv-row.lv-group', { hasText: 'Hidden details' });
  await hidden.waitFor();
  await H.waitFor(async () => (await hidden.locator('.lv-toggle').getAttribute('aria-expanded')) === 'false', 'collapsed section');
  assert.equal(await row(page, /^secret-detail$/).count(), 0);
  await page.fill('.lv-search-input', 'secret-detail');
  await page.press('.lv-search-input', 'Enter');
  await H.waitFor(async () => /of 2 matches$/.test(await page.locator('.lv-search-count').textContent()), 'two matches');
  const cur = await page.locator('.lv-row.lv-cur .lv-text').textContent();
  if (!/^secret-detail$/.test(cur)) await page.click('button[aria-label="Next match"]');
  await row(page, /^secret-detail$/).waitFor();
  assert.equal(await hidden.locator('.lv-toggle').getAttribute('aria-expanded'), 'true');
  await page.close();
});

test('#L links select and show the right lines', async () => {
  const run = await fancyBuild();
  const page = await newPage();
  await page.goto(H.pageUrl(srv, `/builds/${run.id}/steps/1#L2000-L2004`));
  const sel = page.locator('.lv-row.lv-sel');
  await sel.first().waitFor();
  await H.waitFor(async () => (await sel.count()) === 5, 'five selected rows');
  const seqs = await sel.evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
  assert.deepEqual(seqs, [2000, 2001, 2002, 2003, 2004]);
  for (const s of seqs) assert.ok(await page.locator(`.lv-row[data-seq="${s}"]`).isVisible());
  const raw = await rawLines(run.id, 1);
  assert.equal(await page.locator('.lv-row[data-seq="2000"] .lv-text').textContent(), raw[1999]);
  // clicking a line number selects it and updates the address
  await page.locator('.lv-row[data-seq="2010"] .lv-ln').click();
  assert.ok(page.url().endsWith('#L2010'));
  await page.locator('.lv-row[data-seq="2012"] .lv-ln').click({ modifiers: ['Shift'] });
  assert.ok(page.url().endsWith('#L2010-L2012'));
  await H.waitFor(async () => (await sel.count()) === 3, 'three selected rows');
  // a hash change (back/forward, pasted link) moves the selection
  await page.evaluate(() => {
    location.hash = '#L7';
  });
  await H.waitFor(async () => (await sel.count()) === 1, 'one selected row');
  assert.equal(await sel.getAttribute('data-seq'), '7');
  await page.close();
});

test('search finds a match far outside the rendered window', async () => {
  const run = await fancyBuild();
  const page = await newPage();
  await page.goto(H.pageUrl(srv, `/builds/${run.id}/steps/1`));
  await row(page, /^filler 1$/).waitFor();
  const raw = await rawLines(run.id, 1);
  // the worker echoes each command, so the first match is "$ echo needle-far-away"
  const target = raw.findIndex((l) => l.includes('needle-far-away')) + 1;
  assert.ok(target > 3000);
  assert.equal(await page.locator(`.lv-row[data-seq="${target}"]`).count(), 0, 'not rendered yet');
  await page.keyboard.press('/');
  await page.keyboard.type('NEEDLE-far');
  await page.keyboard.press('Enter');
  const hit = page.locator(`.lv-row[data-seq="${target}"]`);
  await hit.waitFor();
  assert.ok(await hit.isVisible());
  assert.equal(await hit.locator('.hl').textContent(), 'needle-far');
  assert.match(await page.locator('.lv-search-count').textContent(), /^1 of 2 matches$/);
  // a common word: counted over the whole log, next/previous move through it
  // search starts from the top of the view: go back to the top
  await page.focus('.lv-viewport');
  await page.keyboard.press('Home');
  await page.locator('.lv-row[data-seq="1"]').waitFor();
  await page.fill('.lv-search-input', 'filler 29');
  await page.press('.lv-search-input', 'Enter');
  // filler 29, 290-299, 2900-2999
  await H.waitFor(async () => /of 111 matches$/.test(await page.locator('.lv-search-count').textContent()), 'count of "filler 29"');
  const current = (text) => page.locator('.lv-row.lv-cur', { has: page.locator('.lv-text', { hasText: new RegExp(`^${text}$`) }) });
  await current('filler 29').waitFor();
  const first = Number(await current('filler 29').getAttribute('data-seq'));
  await page.click('button[aria-label="Next match"]');
  assert.match(await page.locator('.lv-search-count').textContent(), /^2 of 111/);
  await current('filler 290').waitFor();
  assert.equal(Number(await current('filler 290').getAttribute('data-seq')), first + 261);
  await page.click('button[aria-label="Previous match"]');
  await page.click('button[aria-label="Previous match"]');
  assert.match(await page.locator('.lv-search-count').textContent(), /^111 of 111/);
  await current('filler 2999').waitFor();
  await page.close();
});

test('timestamps and wrap toggles', async () => {
  const run = await fancyBuild();
  const page = await newPage();
  await page.goto(H.pageUrl(srv, `/builds/${run.id}/steps/1`));
  await row(page, /^filler 1$/).waitFor();
  assert.equal(await page.locator('.lv-ts').count(), 0);
  await page.selectOption('.lv-ts-mode', 'absolute');
  await H.waitFor(async () => (await page.locator('.lv-ts').count()) > 0, 'timestamps');
  assert.match(await page.locator('.lv-ts').first().textContent(), /^\d\d:\d\d:\d\d\.\d{3}$/);
  await page.selectOption('.lv-ts-mode', 'relative');
  await H.waitFor(async () => /^\+\d+:\d\d\.\d{3}$/.test(await page.locator('.lv-ts').first().textContent()), 'relative timestamps');
  await page.click('.lv-wrap-btn');
  assert.equal(await page.locator('.lv-wrap-btn').getAttribute('aria-pressed'), 'true');
  assert.equal(await page.locator('.lv-viewport.lv-wrap').count(), 1);
  // the long first line (the echoed printf command) now takes several rows
  await page.focus('.lv-viewport');
  await page.keyboard.press('Home');
  const first = page.locator('.lv-row[data-seq="1"]');
  await first.waitFor();
  await H.waitFor(async () => (await first.boundingBox()).height > 30, 'a wrapped first line');
  const vpBox = await page.locator('.lv-viewport').boundingBox();
  assert.ok((await first.boundingBox()).width <= vpBox.width, 'no horizontal overflow when wrapped');
  await page.selectOption('.lv-ts-mode', 'off');
  await page.click('.lv-wrap-btn');
  // the raw download carries the token (a link cannot send a header)
  const raw = await page.locator('a.lv-raw').getAttribute('href');
  assert.equal(raw, `/api/v1/builds/${run.id}/steps/1/logs?access_token=${encodeURIComponent(srv.tokens.read)}`);
  const dl = await page.evaluate(async (u) => (await fetch(u)).status, raw);
  assert.equal(dl, 200);
  await page.close();
});

test('follow mode: scrolling up pauses it, the button resumes it', async () => {
  const run = await H.runPipeline(
    srv.url,
    H.pipelineFile('follow', `version: "1"\nname: follow\nsteps:\n  - name: many\n    commands:\n      - for i in $(seq 1 60); do seq 1 20 | sed "s/^/batch $i line /"; sleep 0.1; done\n`),
  );
  const page = await newPage();
  await page.goto(H.pageUrl(srv, `/builds/${run.id}/steps/1`));
  const follow = page.locator('.lv-follow');
  await H.waitFor(async () => (await page.evaluate(() => window.logstreamView && window.logstreamView.store.total)) > 200, 'lines');
  assert.equal(await follow.getAttribute('aria-pressed'), 'true');
  const atBottom = () => page.evaluate(() => {
    const vp = window.logstreamView.viewport;
    return vp.scrollTop >= vp.scrollHeight - vp.clientHeight - 2;
  });
  await H.waitFor(atBottom, 'view at the bottom');
  await page.mouse.move(700, 500);
  await page.mouse.wheel(0, -600);
  await H.waitFor(async () => (await follow.getAttribute('aria-pressed')) === 'false', 'follow paused');
  const total = await page.evaluate(() => window.logstreamView.store.total);
  await H.waitFor(async () => (await page.evaluate(() => window.logstreamView.store.total)) > total + 40, 'more lines');
  assert.equal(await atBottom(), false, 'paused view stays where the user put it');
  await follow.click();
  await H.waitFor(atBottom, 'back at the bottom');
  assert.equal(await run.done, 0);
  await page.close();
});

test('builds list shows builds newest first and updates live', async () => {
  const page = await newPage();
  const listReads = [];
  page.on('request', (req) => {
    if (new URL(req.url()).pathname === '/api/v1/builds') listReads.push(req.url());
  });
  await page.goto(H.pageUrl(srv, `/`));
  await page.locator('tr.build-row').first().waitFor();
  assert.equal(new URL(page.url()).hash, '', 'the token is gone from the address bar');
  const run = await H.runPipeline(
    srv.url,
    H.pipelineFile(
      'listed',
      `version: "1"
name: listed
steps:
  - name: wait
    commands:
      - sleep 2
  - name: lint
    ruleset:
      continue: true
    commands:
      - echo "::group::eslint"; echo "src/app.js has 2 problems"; echo "::endgroup::"
      - printf '\\033[31merror\\033[0m  unexpected console statement\\n'
      - exit 3
  - name: report
    commands:
      - echo "report at https://example.com/report/1"
`,
    ),
  );
  // the new build appears through GET /api/v1/events, without a reload and
  // without re-reading the list
  const r = page.locator(`tr.build-row[data-build="${run.id}"]`);
  await r.locator('.badge', { hasText: 'running' }).waitFor();
  const ids = await page.locator('tr.build-row').evaluateAll((els) => els.map((e) => Number(e.dataset.build)));
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
  assert.equal(ids[0], run.id, 'the new build is on top');
  // the finish arrives through the same stream
  await r.locator('.badge', { hasText: 'passed' }).waitFor({ timeout: 15000 });
  assert.equal(listReads.length, 1, `the list was read once (${listReads.join(', ')})`);
  assert.equal(await run.done, 0);
  await H.screenshot(page, 'builds-list');
  // the build page: every step with status, duration and exit code
  await page.goto(H.pageUrl(srv, `/builds/${run.id}/steps/2`));
  await row(page, /^error  unexpected console statement$/).waitFor();
  assert.equal(await page.locator('.step[data-step="2"] .badge').textContent(), 'failed');
  assert.equal(await page.locator('.step[data-step="2"] .exit').textContent(), 'exit 3');
  assert.equal(await page.locator('.step[data-step="3"] .badge').textContent(), 'passed');
  assert.equal(await page.locator('.step a[aria-current="page"]').getAttribute('href'), `/builds/${run.id}/steps/2`);
  await H.screenshot(page, 'build-page');
  // choosing another step shows its log without a reload
  await page.click('.step[data-step="3"] a');
  await row(page, /^report at/).waitFor();
  assert.ok(page.url().endsWith(`/builds/${run.id}/steps/3`));
  await page.close();
});

test('test summary and tool usage per step (server answers mocked in the browser)', async () => {
  const run = await fancyBuild();
  const page = await newPage();
  // the shapes the test-results and tool-usage plugins POST, served back as
  // GET .../tests and GET .../tool-usage would
  await page.route(`**/api/v1/builds/${run.id}/tests`, (route) =>
    route.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({
        runs: [{ step: 1, framework: 'pytest', passed: 2, failed: 1, skipped: 3, total: 6, duration_ms: 900, partial: false, failures: [{ name: 'test_parse <edge>', message: 'AssertionError: 1 != 2' }] }],
      }),
    }),
  );
  await page.route(`**/api/v1/builds/${run.id}/tool-usage`, (route) =>
    route.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({ events: [{ seq: 1, step: 1, line: 15, tool: 'npm', action: 'publish', target: 'left-pad@1.0.0', details: '', dry_run: false, outcome: 'succeeded', source: 'command' }] }),
    }),
  );
  await page.goto(H.pageUrl(srv, `/builds/${run.id}/steps/1`));
  const summary = page.locator('.step[data-step="1"] .test-summary');
  await summary.waitFor();
  assert.match(await summary.textContent(), /^pytest: 2 passed, 1 failed, 3 skipped/);
  const failure = summary.locator('details');
  assert.equal(await failure.locator('summary').textContent(), 'test_parse <edge>');
  assert.equal(await failure.locator('pre').isVisible(), false);
  await failure.locator('summary').click();
  assert.equal(await failure.locator('pre').textContent(), 'AssertionError: 1 != 2');
  const tool = page.locator('.step[data-step="1"] .tool-usage li');
  assert.equal(await tool.textContent(), 'npm publish left-pad@1.0.0 · succeeded');
  await tool.locator('a').click();
  await page.locator('.lv-row.lv-sel[data-seq="15"]').waitFor();
  await page.close();
});

test('a 260,000-line log: search finds a match far outside the rendered window through the server', async () => {
  const run = await H.runPipeline(
    srv.url,
    H.pipelineFile(
      'deep',
      `version: "1"
name: deep
steps:
  - name: long
    commands:
      - seq 1 200000 | sed 's/^/row /'
      - printf 'the \\033[1mNeedle\\033[0m-deep-inside here\\n'
      - seq 200001 260000 | sed 's/^/row /'
`,
    ),
  );
  assert.equal(await run.done, 0);
  const raw = await rawLines(run.id, 1);
  assert.ok(raw.length > 260000, `${raw.length} lines`);
  // the printed line (not the echoed command before it) holds escapes: only
  // its rendered text has "needle-deep"
  const target = raw.findIndex((l) => l.includes('\x1b[1mNeedle')) + 1;
  assert.ok(target > 200000, `target ${target}`);
  assert.ok(!raw[target - 1].includes('Needle-deep'));
  const page = await newPage();
  const searches = [];
  page.on('request', (req) => {
    if (new URL(req.url()).pathname.endsWith('/search')) searches.push(req.url());
  });
  await page.goto(H.pageUrl(srv, `/builds/${run.id}/steps/1`));
  await row(page, /^row 1$/).waitFor();
  assert.equal(await page.locator(`.lv-row[data-seq="${target}"]`).count(), 0, 'not rendered yet');
  const fetchesBefore = await page.evaluate(() => window.logstreamView.store.fetches);
  await page.keyboard.press('/');
  await page.keyboard.type('NEEDLE-DEEP');
  await page.keyboard.press('Enter');
  const hit = page.locator(`.lv-row[data-seq="${target}"]`);
  await hit.waitFor({ timeout: 20000 });
  assert.ok(await hit.isVisible());
  // highlighted across the bold and the plain part of the line (the row may
  // be drawn before the search result marks it: wait for the marks)
  await hit.locator('.hl').first().waitFor({ timeout: 20000 });
  assert.equal((await hit.locator('.hl').allTextContents()).join(''), 'Needle-deep');
  assert.equal(await hit.locator('.lv-text').textContent(), 'the Needle-deep-inside here');
  assert.match(await page.locator('.lv-search-count').textContent(), /^1 of 1 match$/);
  // the server searched: one request, and the view fetched only the rows around the hit
  assert.equal(searches.length, 1, searches.join(' '));
  assert.match(searches[0], /\/api\/v1\/builds\/\d+\/steps\/1\/search\?q=NEEDLE-DEEP&/);
  const s = await page.evaluate(() => ({ source: window.logstreamView.search.source, fetches: window.logstreamView.store.fetches }));
  assert.equal(s.source, 'server');
  assert.ok(s.fetches - fetchesBefore <= 3, `range fetches for the jump: ${s.fetches - fetchesBefore}`);
  // a word on every line: the total is counted over the whole log
  await page.fill('.lv-search-input', 'row 2599');
  await page.press('.lv-search-input', 'Enter');
  // row 2599, 25990-25999, 259900-259999
  await H.waitFor(async () => /of 111 matches$/.test(await page.locator('.lv-search-count').textContent()), 'count of "row 2599"');
  // the first match after the top of the view (which is at the needle)
  const cur = (t) => page.locator('.lv-row.lv-cur .lv-text', { hasText: new RegExp(`^${t}$`) });
  await cur('row 259900').waitFor();
  assert.match(await page.locator('.lv-search-count').textContent(), /^12 of 111 matches$/);
  await page.click('button[aria-label="Previous match"]');
  await cur('row 25999').waitFor();
  await page.keyboard.press('Escape');
  assert.deepEqual(page.errors, []);
  await page.close();
});

test('without a token the UI says so and takes one; a wrong token too', async () => {
  const page = await newPage();
  await page.goto(`${srv.url}/`);
  await page.evaluate(() => {
    sessionStorage.clear();
    localStorage.clear();
  });
  await page.goto(`${srv.url}/`);
  const box = page.locator('.auth-box');
  await box.waitFor();
  assert.equal(await box.getAttribute('role'), 'alert');
  assert.match(await box.locator('h2').textContent(), /token is needed/);
  assert.match(await box.textContent(), /read token/);
  assert.equal(await page.locator('tr.build-row').count(), 0);
  await H.screenshot(page, 'needs-token');
  // a token that is not one
  await page.fill('#auth-token', 'lst_not-a-real-token');
  await page.click('.auth-box button[type="submit"]');
  await box.waitFor();
  await H.waitFor(async () => /unknown, revoked or expired/.test(await box.textContent()), 'bad token message');
  // a worker token may not read
  await page.fill('#auth-token', srv.tokens.worker);
  await page.click('.auth-box button[type="submit"]');
  await H.waitFor(async () => /may not read/.test(await page.locator('.auth-box').textContent()), 'forbidden message');
  // the read token: the list shows, and the token is kept for the next visit
  await page.fill('#auth-token', srv.tokens.read);
  await page.click('.auth-box button[type="submit"]');
  await page.locator('tr.build-row').first().waitFor();
  assert.equal(await page.locator('.auth-box').count(), 0);
  const page2 = await newPage();
  await page2.goto(`${srv.url}/`);
  await page2.locator('tr.build-row').first().waitFor();
  assert.equal(await page2.locator('.auth-box').count(), 0);
  assert.deepEqual(page.errors, []);
  await page2.close();
  await page.close();
});

test('an over-size log: the marker line of the dropped middle is shown clearly', async () => {
  const small = await H.startServer(['--max-step-bytes', '64KiB', '--chunk-size', '4KiB', '--max-build-bytes', '0', '--flush-interval', '20ms']);
  try {
    const run = await H.runPipeline(
      small.url,
      H.pipelineFile('huge', `version: "1"\nname: huge\nsteps:\n  - name: chatty\n    commands:\n      - for i in $(seq 1 4); do seq 1 1500 | sed "s/^/part $i line /"; sleep 0.2; done\n`),
    );
    assert.equal(await run.done, 0);
    const b = await H.getJson(`${small.url}/api/v1/builds/${run.id}`);
    const st = b.steps[0];
    assert.equal(st.truncated, true);
    assert.ok(st.dropped && st.dropped.last > st.dropped.first, JSON.stringify(st.dropped));
    // what a reader gets: head, one marker line, tail (seqs jump after the marker)
    const lines = (await H.getText(`${small.url}/api/v1/builds/${run.id}/steps/1/logs?since=0&limit=100000`)).trim().split('\n').map((l) => JSON.parse(l));
    const marker = lines.find((l) => l.seq === st.dropped.first);
    assert.match(marker.text, /^… \d+ lines \(\d+ bytes\) dropped: the step's log exceeded --max-step-bytes \(65536 bytes\); the first lines and the most recent lines are kept …$/);
    const page = await newPage();
    await page.goto(H.pageUrl(small, `/builds/${run.id}/steps/1`));
    const banner = page.locator('.lv-banner');
    await banner.waitFor();
    let bannerText = '';
    await H.waitFor(async () => /^Truncated log: .*--max-step-bytes is 64\.0 KiB.*lines \(.*\) from its middle were dropped/.test((bannerText = await banner.textContent())), 'banner with the numbers').catch((e) => {
      throw new Error(`${e.message}: "${bannerText}"`);
    });
    const n = Number(/^… (\d+) lines/.exec(marker.text)[1]);
    assert.match(await banner.textContent(), new RegExp(`${n.toLocaleString('en-US')} lines`));
    await banner.locator('a', { hasText: `line ${st.dropped.first}` }).click();
    const mrow = page.locator(`.lv-row.lv-trunc[data-seq="${st.dropped.first}"]`);
    await mrow.waitFor();
    assert.ok(await mrow.isVisible());
    assert.equal(await mrow.locator('.lv-trunc-tag').textContent(), 'dropped');
    assert.equal(await mrow.locator('.lv-text').textContent(), marker.text);
    // the row after the marker is the first line after the dropped run
    const next = await mrow.evaluate((el) => el.nextElementSibling && el.nextElementSibling.dataset.seq);
    assert.equal(Number(next), st.dropped.last + 1);
    assert.match(await page.locator('.lv-info').textContent(), new RegExp(`${n.toLocaleString('en-US')} dropped`));
    await H.screenshot(page, 'log-view-truncated');
    // scrolling through the whole view gives exactly what a reader gets
    const rows = await H.collectLogRows(page);
    assert.deepEqual(rows.map(([s]) => s), lines.map((l) => l.seq));
    assert.deepEqual(rows.map(([, t]) => t), lines.map((l) => l.text));
    assert.deepEqual(page.errors, []);
    await page.close();
  } finally {
    await small.stop();
  }
});
