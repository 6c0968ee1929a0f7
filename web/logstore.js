// A step's log as the viewer sees it: lines by seq, fetched by range in
// chunks (GET .../logs?since=S&limit=N) as the user scrolls, cached with a
// bound on memory, and extended live through Server-Sent Events.
//
// No gap, no duplicate: every line has a slot keyed by its seq, so a line that
// arrives twice (range fetch and SSE, or an SSE resume) fills the same slot;
// the SSE stream starts right after the last line known when the view opened,
// and anything before it is fetched by range; lines missing from the cache are
// fetched again on demand.

export class LogStore {
  // opts: {chunkSize, maxChunks, fetchLimit}
  constructor(logsUrl, opts = {}) {
    this.url = logsUrl;
    this.chunkSize = opts.chunkSize || 1000;
    this.maxChunks = opts.maxChunks || 400;
    this.total = 0; // highest seq known to exist
    this.final = false; // the step has finished and total is exact
    this.endInfo = null; // the SSE end event's data
    this.chunks = new Map(); // index -> {lines: [], have: n, used: tick}
    this.loading = new Map(); // index -> Promise
    this.tick = 0;
    this.listeners = new Set();
    this.lineListeners = new Set();
    this.source = null;
    this.liveError = null;
    this.closed = false;
    this.fetches = 0; // range requests made (for tests and the bench)
    // what the live stream delivered: first/last seq, lines, and lines that
    // were already held (a duplicate delivery; 0 when the resume is exact)
    this.live = { first: 0, last: 0, lines: 0, dups: 0, startedAfter: null };
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  // fn(lines) for every batch of lines that arrives (range or live).
  onLines(fn) {
    this.lineListeners.add(fn);
    return () => this.lineListeners.delete(fn);
  }

  emit() {
    for (const fn of this.listeners) fn(this);
  }

  // Learns how many lines exist now (?tail=1). Resolves to total.
  async init() {
    const resp = await fetch(`${this.url}?tail=1`);
    if (!resp.ok) throw new Error(await errorText(resp));
    const lines = parseNdjson(await resp.text());
    if (lines.length) this.insert(lines);
    this.total = Math.max(this.total, lines.length ? lines[lines.length - 1].seq : 0);
    this.emit();
    return this.total;
  }

  get(seq) {
    const c = this.chunks.get(Math.floor((seq - 1) / this.chunkSize));
    return c ? c.lines[(seq - 1) % this.chunkSize] : undefined;
  }

  has(seq) {
    return this.get(seq) !== undefined;
  }

  chunk(index) {
    let c = this.chunks.get(index);
    if (!c) {
      c = { lines: new Array(this.chunkSize), have: 0, used: 0 };
      this.chunks.set(index, c);
    }
    c.used = ++this.tick;
    return c;
  }

  // Puts lines into their slots; returns how many were new.
  insert(lines) {
    let added = 0;
    for (const l of lines) {
      if (!(l.seq >= 1)) continue;
      const c = this.chunk(Math.floor((l.seq - 1) / this.chunkSize));
      const i = (l.seq - 1) % this.chunkSize;
      if (c.lines[i] === undefined) {
        c.lines[i] = l;
        c.have++;
        added++;
      }
      if (l.seq > this.total) this.total = l.seq;
    }
    if (added) for (const fn of this.lineListeners) fn(lines);
    return added;
  }

  // Fetches whatever is missing among seqs from..to (clamped to total).
  // Resolves when they are in the cache (or failed: then they stay missing).
  ensure(from, to) {
    const last = Math.min(to, this.total);
    const waits = [];
    for (let k = Math.floor((Math.max(1, from) - 1) / this.chunkSize); k * this.chunkSize < last; k++) {
      const c = this.chunks.get(k);
      if (c) c.used = ++this.tick;
      const kEnd = Math.min((k + 1) * this.chunkSize, last);
      if (c && c.have >= kEnd - k * this.chunkSize) continue;
      waits.push(this.loadChunk(k, kEnd));
    }
    this.evict(from, to);
    return Promise.all(waits);
  }

  loadChunk(k, kEnd) {
    const pending = this.loading.get(k);
    if (pending) return pending;
    const c = this.chunks.get(k);
    let first = k * this.chunkSize + 1;
    if (c) while (first <= kEnd && c.lines[(first - 1) % this.chunkSize] !== undefined) first++;
    const limit = (k + 1) * this.chunkSize - first + 1;
    this.fetches++;
    const p = fetch(`${this.url}?since=${first - 1}&limit=${limit}`)
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((text) => {
        if (this.insert(parseNdjson(text))) this.emit();
      })
      .catch((e) => {
        this.lastError = e;
      })
      .finally(() => this.loading.delete(k));
    this.loading.set(k, p);
    return p;
  }

  // Drops least recently used chunks beyond maxChunks, never those that hold
  // the seqs in [keepFrom, keepTo].
  evict(keepFrom, keepTo) {
    if (this.chunks.size <= this.maxChunks) return;
    const lo = Math.floor((keepFrom - 1) / this.chunkSize);
    const hi = Math.floor((keepTo - 1) / this.chunkSize);
    const victims = [...this.chunks.entries()]
      .filter(([k]) => (k < lo || k > hi) && !this.loading.has(k))
      .sort((a, b) => a[1].used - b[1].used);
    for (const [k] of victims.slice(0, this.chunks.size - this.maxChunks)) this.chunks.delete(k);
  }

  // Follows the log live from the line after `after` (default: total).
  startLive(after = this.total) {
    if (this.source || this.final || this.closed) return;
    const es = new EventSource(`${this.url}?since=${after}`);
    this.source = es;
    this.live.startedAfter = after;
    es.addEventListener('lines', (ev) => {
      this.liveError = null;
      const lines = parseNdjson(ev.data);
      const before = this.live.lines;
      for (const l of lines) {
        if (!this.live.first) this.live.first = l.seq;
        if (l.seq <= Math.max(this.live.last, after)) this.live.dups++;
        this.live.last = Math.max(this.live.last, l.seq);
        this.live.lines++;
      }
      if (this.insert(lines) || this.live.lines !== before) this.emit();
    });
    es.addEventListener('end', (ev) => {
      try {
        this.endInfo = JSON.parse(ev.data);
        if (Number.isFinite(this.endInfo.lines)) this.total = Math.max(this.total, this.endInfo.lines);
      } catch (e) {
        this.endInfo = {};
      }
      this.final = true;
      this.stopLive();
      this.emit();
    });
    // EventSource reconnects by itself, sending Last-Event-ID: the server
    // resumes after the last line we got. A 4xx closes it for good.
    es.onerror = () => {
      this.liveError = es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting';
      if (es.readyState === EventSource.CLOSED) this.source = null;
      this.emit();
    };
  }

  stopLive() {
    if (this.source) this.source.close();
    this.source = null;
  }

  markFinal() {
    this.final = true;
  }

  close() {
    this.closed = true;
    this.stopLive();
    this.listeners.clear();
    this.lineListeners.clear();
  }
}

export function parseNdjson(text) {
  const out = [];
  let start = 0;
  while (start < text.length) {
    let nl = text.indexOf('\n', start);
    if (nl < 0) nl = text.length;
    if (nl > start) out.push(JSON.parse(text.slice(start, nl)));
    start = nl + 1;
  }
  return out;
}

export async function errorText(resp) {
  try {
    const j = await resp.json();
    return j.error || `HTTP ${resp.status}`;
  } catch (e) {
    return `HTTP ${resp.status}`;
  }
}
