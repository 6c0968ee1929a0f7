// The log view of one step: a virtualised list (only the rows in view are in
// the DOM; every row has the same height; lines are fetched by range as the
// user scrolls), live tail, follow mode, line links (#L42, #L42-L50),
// timestamps, wrap, collapsible groups, search and raw download.

import { DEFAULT_STYLE } from './ansi.js';
import { h, formatClock, formatOffset } from './dom.js';
import { formatDuration } from './groups.js';
import { GroupIndex, markerOf } from './groupindex.js';
import { LogStore, dropMarkerOf } from './logstore.js';
import { LogSearch } from './search.js';
import { renderText, segmentsOf, findMatches, plainOf } from './rowrender.js';
import { withToken } from './auth.js';

// Browsers cap an element's height (Chromium near 33.5M px): past this the
// scrollbar maps proportionally onto the rows.
const MAX_SCROLL_PX = 30000000;
const OVERSCAN_ROWS = 40;
const TS_MODES = ['off', 'absolute', 'relative'];

function loadPref(key, dflt, allowed) {
  try {
    const v = localStorage.getItem(`logstream.${key}`);
    return allowed.includes(v) ? v : dflt;
  } catch (e) {
    return dflt;
  }
}

function savePref(key, v) {
  try {
    localStorage.setItem(`logstream.${key}`, v);
  } catch (e) {
    /* private mode: preferences are not kept */
  }
}

// "#L42" -> {from: 42, to: 42}; "#L42-L50" -> {from: 42, to: 50}; else null.
export function parseLineHash(hash) {
  const m = /^#L(\d+)(?:-L?(\d+))?$/.exec(hash || '');
  if (!m) return null;
  const a = parseInt(m[1], 10);
  const b = m[2] ? parseInt(m[2], 10) : a;
  if (!(a >= 1) || !(b >= 1)) return null;
  return { from: Math.min(a, b), to: Math.max(a, b) };
}

export class LogView {
  // step: the step object of the API; stepUrl: /api/v1/builds/B/steps/N
  constructor(stepUrl, step, opts = {}) {
    this.stepUrl = stepUrl;
    this.step = step;
    this.store = new LogStore(`${stepUrl}/logs`, { chunkSize: opts.chunkSize, maxChunks: opts.maxChunks });
    this.groups = new GroupIndex(this.store);
    this.search = new LogSearch(stepUrl, this.store);
    this.rowH = 20;
    this.follow = false;
    this.wrap = loadPref('wrap', 'off', ['on', 'off']) === 'on';
    this.tsMode = loadPref('timestamps', 'off', TS_MODES);
    this.sel = null; // {from, to}
    this.selAnchor = null;
    this.current = -1; // index into search.matches
    this.rows = new Map(); // seq -> {el, key}
    this.frame = 0;
    this.expectTop = null;
    this.destroyed = false;
    this.build();
    this.store.onChange(() => this.dataChanged());
    this.store.onLines((lines) => {
      this.groups.linesArrived();
      this.search.linesArrived(lines);
    });
    this.groups.onChange = () => this.schedule();
    this.store.onGap(() => {
      this.groups.rebuild();
      this.updateBanner();
    });
    if (step.dropped) this.store.setGap(step.dropped.first + 1, step.dropped.last);
    this.search.onUpdate = () => this.searchChanged();
  }

  build() {
    const stepName = this.step.name;
    this.followBtn = h('button', { type: 'button', class: 'btn lv-follow', 'aria-pressed': 'false', title: 'Follow new lines (f)', onclick: () => this.setFollow(!this.follow) }, 'Follow');
    this.tsSelect = h(
      'select',
      { class: 'lv-ts-mode', 'aria-label': 'Timestamps', onchange: () => this.setTsMode(this.tsSelect.value) },
      h('option', { value: 'off' }, 'Time: off'),
      h('option', { value: 'absolute' }, 'Time: clock'),
      h('option', { value: 'relative' }, 'Time: since start'),
    );
    this.tsSelect.value = this.tsMode;
    this.wrapBtn = h('button', { type: 'button', class: 'btn lv-wrap-btn', 'aria-pressed': String(this.wrap), onclick: () => this.setWrap(!this.wrap) }, 'Wrap');
    this.collapseBtn = h('button', { type: 'button', class: 'btn', title: 'Collapse all groups seen so far', onclick: () => this.groups.setAll(true) }, 'Collapse all');
    this.expandBtn = h('button', { type: 'button', class: 'btn', onclick: () => this.groups.setAll(false) }, 'Expand all');
    this.searchInput = h('input', { type: 'search', class: 'lv-search-input', placeholder: 'Search log', 'aria-label': 'Search the whole log', spellcheck: 'false' });
    this.searchCount = h('span', { class: 'lv-search-count', 'aria-live': 'polite' });
    this.prevBtn = h('button', { type: 'button', class: 'btn', 'aria-label': 'Previous match', title: 'Previous match (Shift+Enter)', onclick: () => this.gotoMatch(-1) }, '↑');
    this.nextBtn = h('button', { type: 'button', class: 'btn', 'aria-label': 'Next match', title: 'Next match (Enter)', onclick: () => this.gotoMatch(1) }, '↓');
    const searchForm = h('form', { class: 'lv-search', role: 'search', onsubmit: (e) => e.preventDefault() }, this.searchInput, this.searchCount, this.prevBtn, this.nextBtn);
    this.rawLink = h('a', { class: 'btn lv-raw', href: withToken(`${this.stepUrl}/logs`), download: `${stepName}.log` }, 'Raw log');
    this.info = h('span', { class: 'lv-info', 'aria-live': 'off' });
    this.banner = h('div', { class: 'lv-banner', role: 'status', hidden: true });
    this.sizer = h('div', { class: 'lv-sizer' });
    this.win = h('div', { class: 'lv-window' });
    this.viewport = h('div', { class: 'lv-viewport', tabindex: '0', role: 'log', 'aria-live': 'off', 'aria-label': `Log of ${stepName}` }, this.sizer, this.win);
    this.el = h(
      'section',
      { class: 'logview', 'aria-label': `Log of ${stepName}` },
      h('div', { class: 'lv-toolbar', role: 'toolbar', 'aria-label': 'Log tools' }, this.followBtn, this.tsSelect, this.wrapBtn, this.collapseBtn, this.expandBtn, searchForm, this.rawLink, this.info),
      this.banner,
      this.viewport,
    );
    this.viewport.classList.toggle('lv-wrap', this.wrap);
    this.viewport.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.viewport.addEventListener('wheel', (e) => {
      if (e.deltaY < 0) this.setFollow(false);
    }, { passive: true });
    this.viewport.addEventListener('keydown', (e) => this.onViewportKey(e));
    this.win.addEventListener('click', (e) => this.onRowClick(e));
    this.searchInput.addEventListener('input', () => this.searchSoon());
    this.searchInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        if (this.search.query !== this.searchInput.value) this.startSearch(e.shiftKey ? -1 : 1);
        else this.gotoMatch(e.shiftKey ? -1 : 1);
      } else if (e.key === 'Escape') {
        this.searchInput.value = '';
        this.startSearch(0);
        this.viewport.focus();
      }
    });
    this.resizeObs = new ResizeObserver(() => this.schedule());
    this.resizeObs.observe(this.viewport);
    this.onHash = () => this.applyHash(true);
    window.addEventListener('hashchange', this.onHash);
    this.onKey = (e) => this.onGlobalKey(e);
    document.addEventListener('keydown', this.onKey);
  }

  // Opens the log: learns its length, places the view (a #L link, the end for a
  // running step, else the top) and starts the live tail when the step runs.
  async open() {
    this.measureRow();
    this.updateBanner();
    await this.store.init();
    const running = this.isRunning();
    if (!running) this.store.markFinal();
    if (!this.applyHash(false)) {
      if (running) this.setFollow(true);
      else this.scrollToRow(0);
    }
    if (running) this.store.startLive();
    this.schedule();
  }

  isRunning() {
    return this.step.status === 'running' || this.step.status === 'pending';
  }

  // The build page tells the view about step changes (status, exit code).
  stepChanged(step) {
    const wasRunning = this.isRunning();
    this.step = step;
    if (step.dropped) this.store.setGap(step.dropped.first + 1, step.dropped.last);
    this.updateBanner();
    if (!wasRunning || this.isRunning()) return;
    // the SSE `end` event closes the stream once every line was sent; if
    // there is no stream the log is complete as it is
    if (!this.store.source) this.store.markFinal();
  }

  // An over-size log (step.truncated): say so above the log, with what was
  // dropped and a link to the marker line that stands for it.
  updateBanner() {
    const gap = this.store.gap;
    const markerSeq = gap ? gap.from - 1 : this.step.dropped ? this.step.dropped.first : null;
    const truncated = this.step.truncated || gap !== null;
    this.banner.hidden = !truncated;
    if (!truncated) return;
    const marker = markerSeq ? this.store.get(markerSeq) : null;
    if (markerSeq && !marker && this.bannerFetch !== markerSeq && this.store.total >= markerSeq) {
      this.bannerFetch = markerSeq; // the marker line says how much and why
      this.store.ensure(markerSeq, markerSeq);
    }
    const drop = marker ? dropMarkerOf(marker) : null;
    const lines = drop ? drop.lines : gap ? gap.to - gap.from + 2 : null;
    const key = `${markerSeq}|${lines}|${drop ? drop.bytes : ''}`;
    if (this.bannerKey === key) return;
    this.bannerKey = key;
    const what = lines ? `${lines.toLocaleString()} lines${drop ? ` (${formatBytes(drop.bytes)})` : ''} from its middle were dropped` : 'lines from its middle were dropped';
    const why = drop ? ` (--${drop.flag} is ${formatBytes(drop.limit)})` : '';
    this.banner.replaceChildren(
      h('strong', null, 'Truncated log: '),
      `this log went over the server's size limit${why}; ${what}. The first lines and the most recent lines are kept. `,
      markerSeq ? h('a', { href: `#L${markerSeq}`, class: 'lv-banner-jump' }, `Show where (line ${markerSeq})`) : null,
    );
  }

  measureRow() {
    const probe = h('div', { class: 'lv-row' }, h('span', { class: 'lv-text' }, 'Mg'));
    this.win.appendChild(probe);
    const hgt = probe.getBoundingClientRect().height;
    this.win.removeChild(probe);
    if (hgt >= 8) this.rowH = hgt;
  }

  destroy() {
    this.destroyed = true;
    this.store.close();
    this.search.clear();
    this.resizeObs.disconnect();
    window.removeEventListener('hashchange', this.onHash);
    document.removeEventListener('keydown', this.onKey);
    cancelAnimationFrame(this.frame);
    this.el.remove();
  }

  schedule() {
    if (this.frame || this.destroyed) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  dataChanged() {
    if (this.follow) this.stickToBottom = true;
    if (!this.banner.hidden) this.updateBanner(); // the marker line may have arrived
    this.schedule();
  }

  // --- geometry ------------------------------------------------------------

  geometry() {
    const rows = this.groups.rowCount();
    const viewH = this.viewport.clientHeight;
    const full = rows * this.rowH;
    const virt = Math.max(Math.min(full, MAX_SCROLL_PX), 0);
    const maxScroll = Math.max(0, virt - viewH);
    const visRows = viewH / this.rowH;
    return { rows, viewH, full, virt, maxScroll, visRows, scaled: full > MAX_SCROLL_PX };
  }

  // The (fractional) row at the top of the viewport for scrollTop.
  topRow(g, top) {
    if (!g.scaled) return top / this.rowH;
    return g.maxScroll > 0 ? (top / g.maxScroll) * Math.max(0, g.rows - g.visRows) : 0;
  }

  rowToTop(g, row) {
    if (!g.scaled) return row * this.rowH;
    const span = Math.max(1, g.rows - g.visRows);
    return Math.min(g.maxScroll, (row / span) * g.maxScroll);
  }

  setScrollTop(v) {
    const g = this.geometry();
    this.sizer.style.height = `${g.virt}px`;
    const top = Math.max(0, Math.min(v, g.maxScroll));
    this.expectTop = top;
    this.viewport.scrollTop = top;
  }

  scrollToRow(row, align = 'top') {
    const g = this.geometry();
    let r = row;
    if (align === 'center') r = row - Math.floor(g.visRows / 3);
    this.setScrollTop(this.rowToTop(g, Math.max(0, r)));
    this.schedule();
  }

  scrollToSeq(seq, align = 'center') {
    this.groups.reveal(seq);
    this.scrollToRow(this.groups.seqToRow(seq), align);
  }

  atBottom() {
    const g = this.geometry();
    return this.viewport.scrollTop >= g.maxScroll - 2;
  }

  onScroll() {
    const top = this.viewport.scrollTop;
    if (this.expectTop !== null && Math.abs(top - this.expectTop) < 2) {
      this.expectTop = null;
    } else {
      this.expectTop = null;
      if (this.follow && !this.atBottom()) this.setFollow(false);
      else if (!this.follow && this.isRunning() && this.atBottom() && top > 0) this.setFollow(true);
    }
    this.schedule();
  }

  setFollow(on) {
    if (this.follow === on) return;
    this.follow = on;
    this.followBtn.setAttribute('aria-pressed', String(on));
    this.followBtn.classList.toggle('on', on);
    if (on) {
      this.stickToBottom = true;
      this.schedule();
    }
  }

  setWrap(on) {
    this.wrap = on;
    savePref('wrap', on ? 'on' : 'off');
    this.wrapBtn.setAttribute('aria-pressed', String(on));
    this.viewport.classList.toggle('lv-wrap', on);
    this.invalidate();
  }

  setTsMode(mode) {
    this.tsMode = TS_MODES.includes(mode) ? mode : 'off';
    this.tsSelect.value = this.tsMode;
    savePref('timestamps', this.tsMode);
    this.invalidate();
  }

  invalidate() {
    for (const r of this.rows.values()) r.key = '';
    this.schedule();
  }

  // --- rendering -------------------------------------------------------------

  render() {
    if (this.destroyed) return;
    let g = this.geometry();
    this.sizer.style.height = `${g.virt}px`;
    if (this.stickToBottom && this.follow) {
      this.stickToBottom = false;
      this.setScrollTop(g.maxScroll);
      g = this.geometry();
    }
    const top = this.viewport.scrollTop;
    const bottomAnchored = this.wrap && this.atBottom() && g.rows > 0;
    const topRow = this.topRow(g, top);
    let first = Math.floor(topRow);
    const count = Math.ceil(g.visRows) + 1;
    if (bottomAnchored) first = Math.max(0, g.rows - count);
    const last = Math.min(g.rows - 1, first + count);
    const frac = this.wrap ? 0 : topRow - Math.floor(topRow);
    // the window never reaches past the sizer: it must not grow the scroll area
    const y = Math.max(0, top - frac * this.rowH);
    this.win.style.transform = `translateY(${y}px)`;
    this.win.style.height = `${Math.max(0, Math.min(g.viewH + this.rowH, g.virt - y))}px`;
    this.win.classList.toggle('lv-bottom', bottomAnchored);

    const seqs = [];
    for (let r = first; r <= last; r++) seqs.push(this.groups.rowToSeq(r));
    this.drawRows(seqs);
    if (seqs.length) this.requestLines(first, last, seqs, g);
    this.updateInfo(g);
  }

  // Fetches the lines in view (and a margin around them) that are missing.
  requestLines(first, last, seqs, g) {
    const lo = this.groups.rowToSeq(Math.max(0, first - OVERSCAN_ROWS));
    const hi = this.groups.rowToSeq(Math.min(g.rows - 1, last + OVERSCAN_ROWS));
    const missing = seqs.some((s) => !this.store.has(s));
    if (missing || !this.store.has(lo) || !this.store.has(hi)) this.store.ensure(lo, hi);
  }

  drawRows(seqs) {
    const keep = new Set(seqs);
    for (const [seq, r] of this.rows) {
      if (!keep.has(seq)) {
        r.el.remove();
        this.rows.delete(seq);
      }
    }
    const lnWidth = String(Math.max(this.store.total, 1)).length;
    this.win.style.setProperty('--ln-chars', String(Math.max(lnWidth, 3)));
    let prev = null;
    for (const seq of seqs) {
      const line = this.store.get(seq);
      const key = this.rowKey(seq, line);
      let r = this.rows.get(seq);
      if (!r) {
        r = { el: null, key: null };
        this.rows.set(seq, r);
      }
      if (r.key !== key) {
        const el = this.renderRow(seq, line);
        if (r.el) r.el.replaceWith(el);
        r.el = el;
        r.key = key;
      }
      // keep DOM order equal to seq order
      const want = prev ? prev.nextSibling : this.win.firstChild;
      if (want !== r.el) this.win.insertBefore(r.el, want);
      prev = r.el;
    }
  }

  rowKey(seq, line) {
    const sel = this.sel && seq >= this.sel.from && seq <= this.sel.to ? 's' : '';
    const cur = this.search.matches[this.current] === seq ? 'c' : '';
    let grp = '';
    if (line && markerOf(line) && markerOf(line).type === 'start') {
      const g = this.groups.groupAt(seq);
      grp = g ? `${g.collapsed ? 'C' : 'E'}${g.last === null ? '?' : g.last}` : '';
    }
    return `${line ? 1 : 0}|${this.tsMode}|${sel}|${cur}|${this.search.query}|${grp}`;
  }

  renderRow(seq, line) {
    const row = h('div', { class: 'lv-row', dataset: { seq: String(seq) } });
    row.appendChild(h('a', { class: 'lv-ln', href: `#L${seq}`, 'aria-label': `Line ${seq}` }, String(seq)));
    if (!line) {
      row.classList.add('lv-loading');
      row.appendChild(h('span', { class: 'lv-text' }));
      return row;
    }
    if (this.sel && seq >= this.sel.from && seq <= this.sel.to) row.classList.add('lv-sel');
    if (line.stream === 'e') row.classList.add('lv-err');
    if (line.continued) row.classList.add('lv-cont');
    if (this.tsMode !== 'off') row.appendChild(h('span', { class: 'lv-ts' }, this.formatTs(line.ts)));
    const marker = markerOf(line);
    const text = h('span', { class: 'lv-text' });
    if (marker && marker.type === 'start') {
      this.renderGroupHeader(row, seq, marker, text);
    } else {
      if (marker) row.classList.add('lv-marker');
      renderText(text, segmentsOf(line), this.search.query);
      row.appendChild(text);
    }
    if (dropMarkerOf(line)) {
      row.classList.add('lv-trunc');
      row.insertBefore(h('span', { class: 'lv-trunc-tag', title: 'The lines after this one up to the next line number were dropped' }, 'dropped'), text);
    }
    if (this.search.matches[this.current] === seq) row.classList.add('lv-cur');
    return row;
  }

  renderGroupHeader(row, seq, marker, text) {
    const g = this.groups.groupAt(seq);
    row.classList.add('lv-group');
    const toggle = h('button', { type: 'button', class: 'lv-toggle', 'aria-expanded': String(!g.collapsed), 'aria-label': `${g.collapsed ? 'Expand' : 'Collapse'} group ${marker.title}`, dataset: { toggle: String(seq) } }, g.collapsed ? '▸' : '▾');
    row.appendChild(toggle);
    // a GitLab section shows its title as the terminal would (styles kept)
    const line = this.store.get(seq);
    const styled = marker.kind === 'section' && plainOf(line).trim() !== '';
    const title = styled ? segmentsOf(line) : [{ text: marker.title, style: DEFAULT_STYLE }];
    renderText(text, title, this.search.query);
    row.appendChild(text);
    const dur = this.groups.duration(g);
    if (dur !== null) row.appendChild(h('span', { class: 'lv-dur' }, formatDuration(dur)));
    else if (g.last === null && !g.scanning) this.groups.scan(g, this.groups.headBudget);
  }

  formatTs(ts) {
    if (!ts) return '';
    if (this.tsMode === 'absolute') return formatClock(ts);
    // the worker reads a line a moment before the server stamps the step as
    // started: the earlier of the two is the start
    const first = this.store.get(1);
    const candidates = [this.step.started_ms, first && first.ts].filter((v) => v > 0);
    const start = candidates.length ? Math.min(...candidates) : ts;
    return formatOffset(ts - start);
  }

  updateInfo(g) {
    const s = this.store;
    const parts = [`${s.total.toLocaleString()} lines`];
    // the marker line stands for the first dropped seq and is shown
    const gapSize = s.gap ? s.gap.to - s.gap.from + 1 : 0;
    if (gapSize) parts.push(`${(gapSize + 1).toLocaleString()} dropped`);
    if (g.rows + gapSize !== s.total) parts.push(`${(s.total - g.rows - gapSize).toLocaleString()} hidden`);
    if (s.source && !s.final) parts.push(s.liveError === 'reconnecting' ? 'reconnecting…' : 'live');
    const text = parts.join(' · ');
    if (this.info.textContent !== text) this.info.textContent = text;
  }

  // --- line links and selection ------------------------------------------

  // Selects and shows the lines of a #L hash. Returns true when it did.
  applyHash(fromEvent) {
    const r = parseLineHash(location.hash);
    if (!r) {
      if (fromEvent && this.sel) {
        this.sel = null;
        this.invalidate();
      }
      return false;
    }
    this.sel = r;
    this.selAnchor = r.from;
    this.setFollow(false);
    this.scrollToSeq(r.from, 'center');
    this.invalidate();
    return true;
  }

  onRowClick(e) {
    const toggle = e.target.closest('.lv-toggle');
    if (toggle) {
      e.preventDefault();
      this.groups.toggle(parseInt(toggle.dataset.toggle, 10));
      return;
    }
    const ln = e.target.closest('.lv-ln');
    if (!ln) return;
    e.preventDefault();
    const seq = parseInt(ln.closest('.lv-row').dataset.seq, 10);
    if (e.shiftKey && this.selAnchor) {
      this.sel = { from: Math.min(this.selAnchor, seq), to: Math.max(this.selAnchor, seq) };
    } else {
      this.sel = { from: seq, to: seq };
      this.selAnchor = seq;
    }
    const hash = this.sel.from === this.sel.to ? `#L${seq}` : `#L${this.sel.from}-L${this.sel.to}`;
    history.replaceState(history.state, '', hash);
    this.setFollow(false);
    this.invalidate();
  }

  // --- keyboard ------------------------------------------------------------

  onViewportKey(e) {
    if (['ArrowUp', 'PageUp', 'Home'].includes(e.key)) this.setFollow(false);
    if (e.key === 'End' && this.isRunning()) this.setFollow(true);
  }

  onGlobalKey(e) {
    const tag = (e.target && e.target.tagName) || '';
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === '/') {
      e.preventDefault();
      this.searchInput.focus();
      this.searchInput.select();
    } else if (e.key === 'f') {
      this.setFollow(!this.follow);
    } else if (e.key === 'w') {
      this.setWrap(!this.wrap);
    } else if (e.key === 't') {
      this.setTsMode(TS_MODES[(TS_MODES.indexOf(this.tsMode) + 1) % TS_MODES.length]);
    } else if (e.key === 'n') {
      this.gotoMatch(e.shiftKey ? -1 : 1);
    }
  }

  // --- search --------------------------------------------------------------

  searchSoon() {
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => this.startSearch(0), 250);
  }

  async startSearch(step) {
    clearTimeout(this.searchTimer);
    const q = this.searchInput.value;
    this.current = -1;
    await this.search.run(q);
    if (step && this.search.query === q) this.gotoMatch(step);
  }

  searchChanged() {
    const s = this.search;
    let text = '';
    if (s.query) {
      const n = s.total;
      const pos = this.current >= 0 ? `${this.current + 1} of ` : '';
      text = `${pos}${n.toLocaleString()} ${n === 1 ? 'match' : 'matches'}`;
      if (!s.done) text += ' …';
      if (s.partial) text += ` (first ${s.scannedTo.toLocaleString()} lines)`;
    }
    this.searchCount.textContent = text;
    if (s.query && this.current < 0 && s.matches.length && this.pendingFirstMatch) {
      this.pendingFirstMatch = false;
      this.gotoMatch(1);
    }
    this.invalidate();
  }

  gotoMatch(dir) {
    const m = this.search.matches;
    if (!this.search.query) {
      if (this.searchInput.value) this.startSearch(dir);
      return;
    }
    if (!m.length) {
      this.pendingFirstMatch = !this.search.done;
      return;
    }
    if (this.current < 0) {
      // the first match after (or before) the top of the view
      const g = this.geometry();
      const topSeq = this.groups.rowToSeq(Math.floor(this.topRow(g, this.viewport.scrollTop)));
      let i = dir > 0 ? m.findIndex((s) => s >= topSeq) : m.length - 1 - [...m].reverse().findIndex((s) => s <= topSeq);
      if (i < 0 || i >= m.length) i = dir > 0 ? 0 : m.length - 1;
      this.current = i;
    } else {
      this.current = (this.current + dir + m.length) % m.length;
    }
    this.setFollow(false);
    this.scrollToSeq(m[this.current], 'center');
    this.searchChanged();
  }
}

// Exposed for tests: count of highlighted occurrences in a text.
export function formatBytes(n) {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} bytes`;
}

export function countMatches(text, q) {
  return findMatches(text, q).length;
}
