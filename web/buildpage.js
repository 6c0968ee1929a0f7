// The build page: the build's status and duration, its steps and services
// with status, duration and exit code (live through the build events
// stream), the test summary of each step when the server has one, and the
// log view of the selected step.

import { h, clear, statusBadge, formatDateTime, elapsed } from './dom.js';
import { formatDuration } from './groups.js';
import { errorText } from './logstore.js';
import { LogView } from './logview.js';
import { apiFetch, withToken } from './auth.js';

const FINAL = new Set(['success', 'failure', 'canceled']);

export class BuildPage {
  constructor(root, buildId, stepNumber) {
    this.root = root;
    this.buildId = buildId;
    this.wanted = stepNumber;
    this.build = null;
    this.view = null;
    this.selected = null;
    this.source = null;
    this.timer = 0;
    this.tests = null;
  }

  get apiUrl() {
    return `/api/v1/builds/${this.buildId}`;
  }

  async start() {
    this.header = h('header', { class: 'build-head' });
    this.stepsNav = h('nav', { class: 'steps', 'aria-label': 'Steps' });
    this.testsBox = h('section', { class: 'tests', 'aria-label': 'Test results', hidden: true });
    this.logBox = h('div', { class: 'log-box' });
    this.root.append(this.header, h('div', { class: 'build-body' }, h('div', { class: 'side' }, this.stepsNav, this.testsBox), this.logBox));
    const resp = await apiFetch(this.apiUrl).catch((e) => ({ ok: false, statusText: e.message, json: async () => ({}) }));
    if (!resp.ok) {
      this.header.append(h('h1', null, `Build ${this.buildId}`), h('p', { class: 'page-status', role: 'alert' }, await errorText(resp)));
      return;
    }
    this.setBuild(await resp.json());
    this.selectStep(this.wanted, false);
    if (!FINAL.has(this.build.status)) this.follow();
    this.loadTests();
    this.loadToolUsage();
    this.timer = setInterval(() => this.tickDurations(), 1000);
  }

  // Build events: `build` (whole build, with steps on connect), `step` (one
  // step), `end` (the build is final).
  follow() {
    const es = new EventSource(withToken(`${this.apiUrl}/events`));
    this.source = es;
    es.addEventListener('build', (ev) => this.setBuild(JSON.parse(ev.data)));
    es.addEventListener('step', (ev) => this.setStep(JSON.parse(ev.data)));
    es.addEventListener('end', () => {
      es.close();
      this.source = null;
      this.loadTests();
      this.loadToolUsage();
      // a step that never ran (skipped after a failure) will send no more lines
      const st = this.build.steps.find((s) => s.number === this.selected);
      if (this.view && st && st.status === 'pending') {
        this.view.store.stopLive();
        this.view.store.markFinal();
      }
    });
  }

  setBuild(b) {
    const steps = b.steps || (this.build && this.build.steps) || [];
    this.build = { ...b, steps };
    document.title = `${b.name} #${b.number} · logstream`;
    this.renderHeader();
    this.renderSteps();
    if (this.selected && this.view) {
      const st = steps.find((s) => s.number === this.selected);
      if (st) this.view.stepChanged(st);
    }
    if (!this.selected && steps.length && this.wantedPending) this.selectStep(null, false);
  }

  setStep(st) {
    if (!this.build) return;
    const i = this.build.steps.findIndex((s) => s.number === st.number);
    if (i >= 0) this.build.steps[i] = st;
    else this.build.steps.push(st);
    this.renderSteps();
    if (this.view && this.selected === st.number) this.view.stepChanged(st);
    if (FINAL.has(st.status)) this.loadTests();
  }

  renderHeader() {
    const b = this.build;
    clear(this.header);
    const dur = elapsed(b.started_ms, b.finished_ms);
    this.header.append(
      h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/', 'data-nav': true }, 'Builds'), ' / '),
      h('h1', null, `${b.name} `, h('span', { class: 'num' }, `#${b.number}`), ' ', statusBadge(b.status)),
      h(
        'p',
        { class: 'meta' },
        `Started ${formatDateTime(b.started_ms || b.created_ms)}`,
        ' · ',
        h('span', { class: 'dur', dataset: { start: b.started_ms || '', end: b.finished_ms || '' } }, dur === null ? 'not started' : formatDuration(dur)),
      ),
    );
  }

  renderSteps() {
    clear(this.stepsNav);
    const list = h('ol', { class: 'step-list' });
    for (const s of this.build.steps) {
      const dur = elapsed(s.started_ms, s.finished_ms);
      const current = s.number === this.selected;
      const exit = s.exit_code === null || s.exit_code === undefined ? null : h('span', { class: 'exit', title: 'exit code' }, `exit ${s.exit_code}`);
      list.appendChild(
        h(
          'li',
          { class: `step st-row-${s.status}`, dataset: { step: String(s.number) } },
          h(
            'a',
            { href: `/builds/${this.buildId}/steps/${s.number}`, 'data-nav': true, 'aria-current': current ? 'page' : null },
            statusBadge(s.status),
            h('span', { class: 'step-name' }, s.name),
            s.kind && s.kind !== 'step' ? h('span', { class: 'kind' }, s.kind) : null,
            h('span', { class: 'step-meta' }, h('span', { class: 'dur', dataset: { start: s.started_ms || '', end: s.finished_ms || '' } }, dur === null ? '' : formatDuration(dur)), exit),
          ),
          this.renderStepTests(s.number),
          this.renderStepTools(s.number),
        ),
      );
    }
    this.stepsNav.append(h('h2', null, 'Steps'), list);
  }

  // Picks the step to show: the one asked for, else the first running, else
  // the first failed, else the first.
  defaultStep() {
    const steps = this.build.steps;
    const pick = steps.find((s) => s.status === 'running') || steps.find((s) => s.status === 'failure') || steps[0];
    return pick ? pick.number : null;
  }

  selectStep(number, push) {
    if (!this.build) {
      this.wanted = number;
      return;
    }
    const n = number || this.defaultStep();
    this.wantedPending = n === null;
    if (n === null) return;
    if (n === this.selected) {
      if (this.view) this.view.applyHash(true); // a #L link within the step
      return;
    }
    const st = this.build.steps.find((s) => s.number === n);
    if (!st) {
      clear(this.logBox);
      this.logBox.append(h('p', { class: 'page-status', role: 'alert' }, `Build ${this.buildId} has no step ${n}.`));
      return;
    }
    if (push) history.pushState(null, '', `/builds/${this.buildId}/steps/${n}`);
    if (this.view) this.view.destroy();
    this.selected = n;
    this.renderSteps();
    clear(this.logBox);
    this.view = new LogView(`${this.apiUrl}/steps/${n}`, st);
    this.logBox.append(this.view.el);
    window.logstreamView = this.view; // for tests and benchmarks
    this.view.open().catch((e) => {
      this.logBox.append(h('p', { class: 'page-status', role: 'alert' }, `Cannot load the log: ${e.message}`));
    });
  }

  tickDurations() {
    for (const el of this.root.querySelectorAll('.dur')) {
      if (el.dataset.start && !el.dataset.end) el.textContent = formatDuration(elapsed(+el.dataset.start, 0));
    }
  }

  // Test results published by the test-results plugin, when the server
  // offers them (GET /api/v1/builds/{id}/tests; see the report for the shape).
  async loadTests() {
    let resp;
    try {
      resp = await apiFetch(`${this.apiUrl}/tests`);
    } catch (e) {
      return;
    }
    if (!resp.ok) return;
    const body = await resp.json().catch(() => null);
    if (!body || !Array.isArray(body.runs)) return;
    this.tests = body.runs;
    this.renderSteps();
  }

  // Tool-usage events (publishes, pushes, deploys) from the tool-usage
  // plugin, when the server offers them (GET /api/v1/builds/{id}/tool-usage
  // answering {"events": [...]}, the shape the plugin POSTs).
  async loadToolUsage() {
    let resp;
    try {
      resp = await apiFetch(`${this.apiUrl}/tool-usage`);
    } catch (e) {
      return;
    }
    if (!resp.ok) return;
    const body = await resp.json().catch(() => null);
    if (!body || !Array.isArray(body.events)) return;
    this.toolEvents = body.events;
    this.renderSteps();
  }

  renderStepTools(stepNumber) {
    const evs = (this.toolEvents || []).filter((e) => e.step === stepNumber);
    if (!evs.length) return null;
    return h(
      'ul',
      { class: 'tool-usage', 'aria-label': 'Tool usage' },
      evs.map((e) =>
        h(
          'li',
          { class: `tool-${e.outcome}` },
          h('a', { href: `/builds/${this.buildId}/steps/${stepNumber}#L${e.line}`, 'data-nav': true }, `${e.tool} ${e.action}`),
          e.target ? ` ${e.target}` : '',
          e.dry_run ? ' (dry run)' : '',
          e.outcome && e.outcome !== 'unknown' ? ` · ${e.outcome}` : '',
        ),
      ),
    );
  }

  renderStepTests(stepNumber) {
    const runs = (this.tests || []).filter((r) => r.step === stepNumber);
    if (!runs.length) return null;
    const sum = (k) => runs.reduce((n, r) => n + (r[k] || 0), 0);
    const failures = runs.flatMap((r) => r.failures || []);
    return h(
      'div',
      { class: 'test-summary' },
      runs.map((r) => r.framework).filter((f, i, a) => f && a.indexOf(f) === i).join(', ') + ': ',
      h('span', { class: 'pass' }, `${sum('passed')} passed`),
      ', ',
      h('span', { class: sum('failed') ? 'fail' : '' }, `${sum('failed')} failed`),
      ', ',
      `${sum('skipped')} skipped`,
      failures.length
        ? h('ul', { class: 'failures' }, failures.map((f) => h('li', null, h('details', null, h('summary', null, f.name || '(unnamed test)'), h('pre', null, f.message || '')))))
        : null,
    );
  }

  destroy() {
    clearInterval(this.timer);
    if (this.source) this.source.close();
    if (this.view) this.view.destroy();
    this.view = null;
  }
}
