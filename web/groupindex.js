// The collapsible groups of one log, and the mapping between display rows and
// line seqs that collapsing creates.
//
// A group is known once its opening line has been seen (range fetch or live).
// Its end is found by scanning the lines after it in order (store.get, and
// store.ensure for lines not cached), bounded by a line budget so that merely
// showing a header costs little; collapsing scans as far as needed. A group
// whose end has not arrived yet while the step runs is "open": collapsing it
// hides everything up to the newest line.

import { parseMarker, closes, endIsInside } from './groups.js';

export function markerOf(line) {
  if (line._m === undefined) line._m = parseMarker(line.text);
  return line._m;
}

export class GroupIndex {
  constructor(store, opts = {}) {
    this.store = store;
    this.groups = new Map(); // header seq -> group
    this.ranges = []; // merged hidden [a, b] (b may be Infinity), sorted
    this.hiddenCache = null;
    this.headBudget = opts.headBudget || 2000; // lines scanned to show a duration
    this.fullBudget = opts.fullBudget || 200000; // lines scanned to collapse
    this.onChange = null;
  }

  // The group opened at `seq` (creating it when its line is a start marker).
  groupAt(seq) {
    let g = this.groups.get(seq);
    if (g) return g;
    const line = this.store.get(seq);
    if (!line) return null;
    const m = markerOf(line);
    if (!m || m.type !== 'start') return null;
    g = { seq, marker: m, startTs: line.ts, last: null, endTs: null, scanned: seq, collapsed: m.collapsed, scanning: null };
    this.groups.set(seq, g);
    // GitLab's [collapsed=true]: a group is discovered when its header is
    // drawn, so collapsing it only moves rows below the header
    if (g.collapsed) queueMicrotask(() => this.rebuild());
    return g;
  }

  // Scans forward from where the group's scan stopped, up to budget lines.
  // Sets g.last (last seq inside the group) and g.endTs when the end is found,
  // or when the step is final and the log ends inside the group.
  // With allowFetch false only cached lines are looked at.
  async scan(g, budget, allowFetch = true) {
    if (g.last !== null) return g;
    if (g.scanning) return g.scanning;
    const run = async () => {
      const store = this.store;
      let seq = g.scanned + 1;
      const stop = seq + budget;
      while (seq < stop && g.last === null) {
        if (seq > store.total) {
          if (store.final) {
            g.last = store.total;
            const end = store.get(store.total);
            g.endTs = end ? end.ts : null;
          }
          break;
        }
        if (store.inGap(seq)) {
          seq = store.gap.to + 1; // dropped lines: nothing to look at
          continue;
        }
        let line = store.get(seq);
        if (!line && !allowFetch) break;
        if (!line) {
          await store.ensure(seq, Math.min(stop, store.total));
          line = store.get(seq);
          if (!line) break; // fetch failed: try again later
        }
        const m = markerOf(line);
        if (m && closes(g.marker, m)) {
          g.last = endIsInside(m) ? seq : seq - 1;
          g.endTs = line.ts;
        }
        g.scanned = seq;
        seq++;
      }
      return g;
    };
    g.scanning = run().finally(() => {
      g.scanning = null;
    });
    await g.scanning;
    if (g.last !== null || g.collapsed) this.changed();
    return g;
  }

  // Duration of a group in ms, or null while its end is unknown.
  duration(g) {
    if (g.last === null || g.endTs === null || !g.startTs) return null;
    return g.endTs - g.startTs;
  }

  async toggle(seq) {
    const g = this.groupAt(seq);
    if (!g) return;
    g.collapsed = !g.collapsed;
    this.rebuild();
    if (g.collapsed && g.last === null) await this.scan(g, this.fullBudget);
    this.rebuild();
  }

  setAll(collapsed) {
    for (const g of this.groups.values()) g.collapsed = collapsed;
    this.rebuild();
  }

  // Expands every group that hides seq (so a #L link or a search match shows).
  reveal(seq) {
    let changed = false;
    for (const g of this.groups.values()) {
      if (g.collapsed && seq > g.seq && (g.last === null || seq <= g.last)) {
        g.collapsed = false;
        changed = true;
      }
    }
    if (changed) this.rebuild();
    return changed;
  }

  // New lines arrived: an open collapsed group keeps hiding up to the newest
  // line, and groups still looking for their end look at the new lines.
  linesArrived() {
    let open = false;
    for (const g of this.groups.values()) {
      if (g.last === null) {
        open = true;
        if (!g.scanning) this.scan(g, this.headBudget, false);
      }
    }
    if (open) this.hiddenCache = null;
  }

  rebuild() {
    const raw = [];
    // the dropped middle of an over-size log: rows that no longer exist
    if (this.store.gap) raw.push([this.store.gap.from, this.store.gap.to]);
    for (const g of this.groups.values()) {
      if (!g.collapsed) continue;
      raw.push([g.seq + 1, g.last === null ? Infinity : g.last]);
    }
    raw.sort((x, y) => x[0] - y[0]);
    const merged = [];
    for (const r of raw) {
      const top = merged[merged.length - 1];
      if (top && r[0] <= top[1] + 1) top[1] = Math.max(top[1], r[1]);
      else if (r[1] >= r[0]) merged.push([r[0], r[1]]);
    }
    this.ranges = merged;
    this.hiddenCache = null;
    this.changed();
  }

  changed() {
    if (this.onChange) this.onChange();
  }

  // Ranges clamped to the lines that exist.
  clamped() {
    const total = this.store.total;
    const out = [];
    for (const [a, b] of this.ranges) {
      if (a > total) break;
      out.push([a, Math.min(b, total)]);
    }
    return out;
  }

  hiddenCount() {
    if (this.hiddenCache !== null && this.hiddenCache.total === this.store.total) return this.hiddenCache.n;
    let n = 0;
    for (const [a, b] of this.clamped()) n += b - a + 1;
    this.hiddenCache = { total: this.store.total, n };
    return n;
  }

  rowCount() {
    return Math.max(0, this.store.total - this.hiddenCount());
  }

  // Display row (0-based) -> seq.
  rowToSeq(row) {
    let seq = row + 1;
    for (const [a, b] of this.clamped()) {
      if (a <= seq) seq += b - a + 1;
      else break;
    }
    return seq;
  }

  // seq -> display row; a hidden seq maps to the row of its group's header.
  seqToRow(seq) {
    let hidden = 0;
    for (const [a, b] of this.clamped()) {
      if (b < seq) hidden += b - a + 1;
      else if (a <= seq) return a - 2 - hidden;
      else break;
    }
    return seq - 1 - hidden;
  }
}
