// Renders one log line into DOM nodes: ANSI styles as spans (classes for the
// 16 themeable colours, inline CSS through the CSSOM for 256/truecolor),
// clickable http(s) URLs and search highlights. Every piece of log text goes
// in as a text node.

import { renderLine, styleToCss } from './ansi.js';
import { findUrls } from './urls.js';

const cssCache = new WeakMap();

function cssFor(style) {
  let c = cssCache.get(style);
  if (!c) {
    c = styleToCss(style);
    c.className = c.classes.join(' ');
    cssCache.set(style, c);
  }
  return c;
}

// Rendered segments of a line, cached on the line object.
export function segmentsOf(line) {
  if (!line._seg) line._seg = renderLine(line.text);
  return line._seg;
}

export function plainOf(line) {
  if (line._plain === undefined) line._plain = segmentsOf(line).map((s) => s.text).join('');
  return line._plain;
}

// Case-insensitive occurrences of query in text as [start, end) pairs.
export function findMatches(text, query) {
  const out = [];
  if (!query) return out;
  const hay = text.toLowerCase();
  const needle = query.toLowerCase();
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + needle.length)) {
    out.push([i, i + needle.length]);
  }
  return out;
}

// Appends the line's text to parent. query (may be '') is highlighted.
export function renderText(parent, segments, query) {
  const plain = segments.map((s) => s.text).join('');
  const urls = findUrls(plain);
  const marks = findMatches(plain, query);
  // every offset where something starts or ends
  const cuts = new Set([0, plain.length]);
  let pos = 0;
  for (const s of segments) {
    cuts.add(pos);
    pos += s.text.length;
  }
  for (const u of urls) cuts.add(u.start).add(u.end);
  for (const m of marks) cuts.add(m[0]).add(m[1]);
  const points = [...cuts].sort((a, b) => a - b);

  let segIndex = 0;
  let segStart = 0;
  let urlIndex = 0;
  let markIndex = 0; // marks are in order and disjoint: walk them with the cuts
  let anchor = null;
  for (let p = 0; p + 1 < points.length; p++) {
    const from = points[p];
    const to = points[p + 1];
    if (to <= from) continue;
    while (segStart + segments[segIndex].text.length <= from) {
      segStart += segments[segIndex].text.length;
      segIndex++;
    }
    while (urlIndex < urls.length && urls[urlIndex].end <= from) {
      urlIndex++;
      anchor = null;
    }
    const u = urls[urlIndex];
    let target = parent;
    if (u && u.start <= from && to <= u.end) {
      if (!anchor) {
        anchor = document.createElement('a');
        anchor.href = u.url;
        anchor.rel = 'noopener noreferrer nofollow';
        anchor.target = '_blank';
        anchor.className = 'lv-url';
        parent.appendChild(anchor);
      }
      target = anchor;
    }
    const text = plain.slice(from, to);
    const css = cssFor(segments[segIndex].style);
    while (markIndex < marks.length && marks[markIndex][1] <= from) markIndex++;
    // (testing every mark for every piece was quadratic: a search for "999"
    // in a long line of digits took seconds; found by fuzz/js/fuzz_web_parsers.mjs)
    const m = marks[markIndex];
    const hit = m !== undefined && m[0] <= from && to <= m[1];
    if (!css.className && !css.css.color && !css.css.backgroundColor && !hit) {
      target.appendChild(document.createTextNode(text));
      continue;
    }
    const span = document.createElement('span');
    span.className = hit ? (css.className ? `${css.className} hl` : 'hl') : css.className;
    if (css.css.color) span.style.color = css.css.color;
    if (css.css.backgroundColor) span.style.backgroundColor = css.css.backgroundColor;
    span.textContent = text;
    target.appendChild(span);
  }
}
