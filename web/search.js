// Search over a whole step log, not just the rendered rows.
//
// Server-side first: GET {step}/search?q=TEXT&limit=N (docs/api.md,
// "Searching a log") answers {"matches": [seq, ...], "total": M, "last_seq":
// L}: the server reads the whole log, however long, and the client holds only
// the seqs. Lines that arrive after L (a running step) are matched here as
// they come. When the server cannot search (an older server: any non-200
// answer but 401/403), the client scans the log itself by range requests that
// bypass the view's cache, up to maxClientLines lines, and says so when the
// log is longer. Lines are compared as displayed (ANSI stripped, \r
// resolved), case-insensitively.

import { parseNdjson } from './logstore.js';
import { plainText } from './ansi.js';
import { apiFetch } from './auth.js';

export class LogSearch {
  constructor(stepUrl, store, opts = {}) {
    this.stepUrl = stepUrl;
    this.store = store;
    this.pageLines = opts.pageLines || 20000;
    this.maxClientLines = opts.maxClientLines || 300000;
    this.maxMatches = opts.maxMatches || 10000;
    this.query = '';
    this.matches = []; // seqs, ascending
    this.total = 0; // matching lines (may exceed matches.length)
    this.scannedTo = 0; // client scan: last seq searched
    this.done = true;
    this.partial = false; // the client stopped at maxClientLines
    this.source = null; // 'server' | 'client'
    this.token = 0;
    this.onUpdate = null;
  }

  update() {
    if (this.onUpdate) this.onUpdate(this);
  }

  clear() {
    this.token++;
    this.query = '';
    this.matches = [];
    this.total = 0;
    this.done = true;
    this.partial = false;
    this.update();
  }

  async run(query) {
    const token = ++this.token;
    this.query = query;
    this.matches = [];
    this.total = 0;
    this.scannedTo = 0;
    this.done = false;
    this.partial = false;
    this.source = null;
    this.update();
    if (!query) {
      this.done = true;
      this.update();
      return;
    }
    if (await this.tryServer(query, token)) return;
    await this.scanClient(query, token);
  }

  async tryServer(query, token) {
    let resp;
    try {
      resp = await apiFetch(`${this.stepUrl}/search?q=${encodeURIComponent(query)}&limit=${this.maxMatches}`);
    } catch (e) {
      return false;
    }
    if (resp.status === 401 || resp.status === 403) {
      this.done = true; // the page shows the token box
      this.update();
      return true;
    }
    if (!resp.ok) return false;
    const body = await resp.json().catch(() => null);
    if (!body || !Array.isArray(body.matches) || token !== this.token) return token !== this.token;
    this.source = 'server';
    this.matches = body.matches.filter((s) => Number.isInteger(s));
    this.total = Number.isInteger(body.total) ? body.total : this.matches.length;
    this.scannedTo = Number.isInteger(body.last_seq) ? body.last_seq : this.store.total;
    this.done = true;
    this.catchUp();
    this.update();
    return true;
  }

  // Matches the lines the view already holds past what the server searched
  // (a running step's newest lines); live lines go on from there.
  catchUp() {
    const needle = this.query.toLowerCase();
    for (let seq = this.scannedTo + 1; seq <= this.store.total; seq++) {
      const l = this.store.get(seq);
      if (!l) break;
      if (this.matchesLine(l, needle)) this.add(seq);
      this.scannedTo = seq;
    }
  }

  matchesLine(line, needle) {
    return plainText(line.text).toLowerCase().includes(needle);
  }

  add(seq) {
    this.total++;
    if (this.matches.length < this.maxMatches) this.matches.push(seq);
  }

  async scanClient(query, token) {
    this.source = 'client';
    const needle = query.toLowerCase();
    const logsUrl = `${this.stepUrl}/logs`;
    while (token === this.token) {
      const end = Math.min(this.store.total, this.maxClientLines);
      if (this.scannedTo >= end) break;
      const limit = Math.min(this.pageLines, end - this.scannedTo);
      let lines;
      try {
        const r = await apiFetch(`${logsUrl}?since=${this.scannedTo}&limit=${limit}`);
        if (!r.ok) break;
        lines = parseNdjson(await r.text());
      } catch (e) {
        break;
      }
      if (token !== this.token || !lines.length) break;
      for (const l of lines) if (l.seq > this.scannedTo && this.matchesLine(l, needle)) this.add(l.seq);
      this.scannedTo = lines[lines.length - 1].seq;
      this.update();
    }
    if (token !== this.token) return;
    this.partial = this.store.total > this.maxClientLines;
    this.done = true;
    this.update();
  }

  // Live lines: a finished client search extends itself to them.
  linesArrived(lines) {
    if (!this.query || !this.source || !this.done || this.partial) return;
    const needle = this.query.toLowerCase();
    let added = false;
    for (const l of lines) {
      if (l.seq === this.scannedTo + 1) {
        if (this.matchesLine(l, needle)) {
          this.add(l.seq);
          added = true;
        }
        this.scannedTo = l.seq;
      }
    }
    if (added) this.update();
  }
}
