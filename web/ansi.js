// Renders one log line as a terminal would show it: SGR styles (16, 256 and
// truecolor; bold, dim, italic, underline, strike, inverse), carriage returns
// and backspaces (the last state of the line wins), erase-in-line and cursor
// moves on the line. Other escape sequences (OSC titles, charset selection,
// unknown CSI) are dropped. Pure functions, no DOM: unit-tested with node.
//
// Each line starts from the default style (a viewer shows lines out of
// order, so no state crosses a line boundary).

export const DEFAULT_STYLE = Object.freeze({
  fg: null, // null | {idx: 0..255} | {rgb: [r, g, b]}
  bg: null,
  bold: false,
  dim: false,
  italic: false,
  underline: false,
  strike: false,
  inverse: false,
});

const ESC = 0x1b;
// How far right a cursor move (CSI n C, CSI n G) may go past the line's
// text: a terminal stops at its width, and without a bound "\e[99999999C"
// would fill a hundred million cells (found by fuzz/js/fuzz_web_parsers.mjs).
export const MAX_COLUMNS = 4096;
const CONTROL_RE = /[\x1b\r\b]/;

function withStyle(style, changes) {
  return Object.freeze({ ...style, ...changes });
}

function clampByte(n) {
  return Number.isFinite(n) ? Math.max(0, Math.min(255, n)) : 0;
}

// Reads an extended colour (38/48/58) from params starting at i (the index of
// 38/48). Params may be ';'-separated numbers or ':' sub-params of one item.
// Returns [colour | null, number of params consumed].
function extendedColour(params, i) {
  const head = params[i];
  if (head.sub) {
    const s = head.sub;
    if (s[1] === 5 && s.length >= 3) return [{ idx: clampByte(s[2]) }, 1];
    if (s[1] === 2) {
      // 38:2:r:g:b or 38:2:colourspace:r:g:b
      const rgb = s.length >= 6 ? s.slice(3, 6) : s.slice(2, 5);
      if (rgb.length === 3) return [{ rgb: rgb.map(clampByte) }, 1];
    }
    return [null, 1];
  }
  const mode = params[i + 1] && params[i + 1].n;
  if (mode === 5 && i + 2 < params.length) return [{ idx: clampByte(params[i + 2].n) }, 3];
  if (mode === 2 && i + 4 < params.length) {
    return [{ rgb: [params[i + 2].n, params[i + 3].n, params[i + 4].n].map(clampByte) }, 5];
  }
  return [null, params.length - i];
}

function parseParams(text) {
  if (text === '') return [{ n: 0 }];
  return text.split(';').map((item) => {
    if (item.includes(':')) {
      const sub = item.split(':').map((x) => (x === '' ? 0 : parseInt(x, 10)));
      return { n: sub[0], sub };
    }
    return { n: item === '' ? 0 : parseInt(item, 10) };
  });
}

// Applies the SGR parameter string (e.g. "1;38;5;208") to style.
export function applySgr(style, paramText) {
  const params = parseParams(paramText);
  let s = style;
  for (let i = 0; i < params.length; i++) {
    const { n, sub } = params[i];
    if (n === 0) s = DEFAULT_STYLE;
    else if (n === 1) s = withStyle(s, { bold: true });
    else if (n === 2) s = withStyle(s, { dim: true });
    else if (n === 3) s = withStyle(s, { italic: true });
    else if (n === 4) s = withStyle(s, { underline: !(sub && sub[1] === 0) });
    else if (n === 7) s = withStyle(s, { inverse: true });
    else if (n === 9) s = withStyle(s, { strike: true });
    else if (n === 21) s = withStyle(s, { underline: true });
    else if (n === 22) s = withStyle(s, { bold: false, dim: false });
    else if (n === 23) s = withStyle(s, { italic: false });
    else if (n === 24) s = withStyle(s, { underline: false });
    else if (n === 27) s = withStyle(s, { inverse: false });
    else if (n === 29) s = withStyle(s, { strike: false });
    else if (n >= 30 && n <= 37) s = withStyle(s, { fg: { idx: n - 30 } });
    else if (n === 39) s = withStyle(s, { fg: null });
    else if (n >= 40 && n <= 47) s = withStyle(s, { bg: { idx: n - 40 } });
    else if (n === 49) s = withStyle(s, { bg: null });
    else if (n >= 90 && n <= 97) s = withStyle(s, { fg: { idx: n - 90 + 8 } });
    else if (n >= 100 && n <= 107) s = withStyle(s, { bg: { idx: n - 100 + 8 } });
    else if (n === 38 || n === 48 || n === 58) {
      const [colour, used] = extendedColour(params, i);
      if (colour && n === 38) s = withStyle(s, { fg: colour });
      if (colour && n === 48) s = withStyle(s, { bg: colour });
      i += used - 1;
    }
  }
  return s;
}

// Parses the escape sequence at text[i] (an ESC). Returns {end, csi} where end
// is the index after the sequence and csi, for a CSI sequence, is
// {params, final}.
function parseEscape(text, i) {
  const n = text.length;
  const next = text.charCodeAt(i + 1);
  if (next === 0x5b /* [ */) {
    let j = i + 2;
    while (j < n && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x3f) j++;
    const params = text.slice(i + 2, j);
    while (j < n && text.charCodeAt(j) >= 0x20 && text.charCodeAt(j) <= 0x2f) j++;
    if (j >= n) return { end: n, csi: null }; // cut-off sequence: drop it
    return { end: j + 1, csi: { params, final: text[j] } };
  }
  if (next === 0x5d /* ] OSC */ || next === 0x50 /* P DCS */ || next === 0x5f /* _ APC */) {
    for (let j = i + 2; j < n; j++) {
      const c = text.charCodeAt(j);
      if (c === 0x07) return { end: j + 1, csi: null };
      if (c === ESC && text.charCodeAt(j + 1) === 0x5c) return { end: j + 2, csi: null };
    }
    return { end: n, csi: null };
  }
  // ESC + intermediates + final (e.g. ESC ( B), or a lone ESC
  let j = i + 1;
  while (j < n && text.charCodeAt(j) >= 0x20 && text.charCodeAt(j) <= 0x2f) j++;
  return { end: Math.min(n, j + 1), csi: null };
}

function firstParam(params, dflt) {
  const v = parseInt(params, 10);
  return Number.isFinite(v) && v > 0 ? v : dflt;
}

// A line as terminal cells: chars[col] with styles[col]. Erasing from the
// start of the line to the cursor (CSI 1 K) is recorded, not done cell by
// cell (a line of many such erases was quadratic: found by
// fuzz/js/fuzz_web_parsers.mjs): each write stamps its cell with a counter,
// each erase pushes {col, stamp}, and segments() blanks a cell when a later
// erase reached it. An erase that reaches as far as earlier ones replaces
// them, so the erases kept have decreasing columns.
class Cells {
  constructor() {
    this.chars = [];
    this.styles = [];
    this.stamps = [];
    this.erases = [];
    this.stamp = 0;
    this.keep = Infinity; // after CSI 2 K: cells from here on that were not written since are gone
    this.col = 0;
  }

  put(ch, style) {
    this.chars[this.col] = ch;
    this.styles[this.col] = style;
    this.stamps[this.col] = ++this.stamp;
    this.col++;
    this.keep = Math.max(this.keep, this.col);
  }

  fillTo(col) {
    for (let c = this.chars.length; c < col; c++) {
      this.chars[c] = ' ';
      this.styles[c] = DEFAULT_STYLE;
      this.stamps[c] = this.stamp;
    }
  }

  moveTo(col) {
    this.col = Math.max(0, Math.min(col, Math.max(this.chars.length, MAX_COLUMNS)));
  }

  erase(mode) {
    if (mode === 0) {
      this.chars.length = Math.min(this.chars.length, this.col);
      this.styles.length = this.chars.length;
      this.stamps.length = this.chars.length;
    } else if (mode === 1) {
      const last = Math.min(this.col, this.chars.length - 1);
      if (last < 0) return;
      const e = this.erases;
      while (e.length && e[e.length - 1].col <= last) e.pop();
      e.push({ col: last, stamp: ++this.stamp });
    } else if (mode === 2) {
      // the cells after the cursor go, those before it become blanks (an
      // erase reaching all of them) and go too unless something is written
      // at or after them: the next write needs no refill
      this.erase(0);
      this.keep = 0;
      this.erases.length = 0;
      if (this.chars.length) this.erases.push({ col: this.chars.length - 1, stamp: ++this.stamp });
    }
  }

  // Blanks the cells that an erase reached after they were written.
  applyErases() {
    const e = this.erases;
    let k = e.length - 1; // the latest erase reaching column c
    for (let c = 0; c < this.chars.length && e.length; c++) {
      while (k >= 0 && e[k].col < c) k--;
      if (k < 0) break;
      if (e[k].stamp > this.stamps[c]) {
        this.chars[c] = ' ';
        this.styles[c] = DEFAULT_STYLE;
      }
    }
    e.length = 0;
  }

  segments() {
    if (this.keep < this.chars.length) {
      this.chars.length = this.keep;
      this.styles.length = this.keep;
      this.stamps.length = this.keep;
    }
    this.applyErases();
    const out = [];
    let start = 0;
    for (let c = 1; c <= this.chars.length; c++) {
      if (c === this.chars.length || this.styles[c] !== this.styles[start]) {
        out.push({ text: this.chars.slice(start, c).join(''), style: this.styles[start] });
        start = c;
      }
    }
    return out;
  }
}

function applyCsi(cells, csi, style) {
  const { params, final } = csi;
  if (final === 'm') return applySgr(style, params);
  if (final === 'K') cells.erase(firstParam(params, 0) || 0);
  else if (final === 'G') cells.moveTo(firstParam(params, 1) - 1);
  else if (final === 'C') cells.moveTo(cells.col + firstParam(params, 1));
  else if (final === 'D') cells.moveTo(cells.col - firstParam(params, 1));
  return style;
}

// Renders a line's text into [{text, style}] segments (consecutive runs of one
// style; style objects are shared and frozen). An empty line gives [].
export function renderLine(text) {
  if (!CONTROL_RE.test(text)) return text ? [{ text, style: DEFAULT_STYLE }] : [];
  const cells = new Cells();
  let style = DEFAULT_STYLE;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === ESC) {
      const { end, csi } = parseEscape(text, i);
      if (csi) style = applyCsi(cells, csi, style);
      i = end;
      continue;
    }
    if (c === 0x0d) {
      cells.moveTo(0);
      i++;
      continue;
    }
    if (c === 0x08) {
      cells.moveTo(cells.col - 1);
      i++;
      continue;
    }
    // a surrogate pair is one cell; a lone high surrogate is a cell of its
    // own (taking the next unit with it let an ESC or CR through as text)
    const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
    const wide = c >= 0xd800 && c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff;
    const ch = wide ? text.slice(i, i + 2) : text[i];
    if (cells.col > cells.chars.length) cells.fillTo(cells.col);
    cells.put(ch, style);
    i += ch.length;
  }
  return cells.segments();
}

// The text a terminal would show for the line (no escapes, \r resolved).
export function plainText(text) {
  if (!CONTROL_RE.test(text)) return text;
  return renderLine(text)
    .map((s) => s.text)
    .join('');
}

// xterm's 256-colour palette entry n (16..255) as [r, g, b].
export function xterm256(n) {
  if (n >= 232) {
    const v = 8 + 10 * (n - 232);
    return [v, v, v];
  }
  const levels = [0, 95, 135, 175, 215, 255];
  const k = n - 16;
  return [levels[Math.floor(k / 36)], levels[Math.floor(k / 6) % 6], levels[k % 6]];
}

function colourCss(colour) {
  if (colour.rgb) return `rgb(${colour.rgb.join(', ')})`;
  const [r, g, b] = xterm256(colour.idx);
  return `rgb(${r}, ${g}, ${b})`;
}

// How to show a style: CSS classes (themeable: the 16 base colours are
// classes f0..f15 / g0..g15 so light and dark themes pick readable shades)
// and inline CSS properties for 256-colour and truecolor values.
export function styleToCss(style) {
  const classes = [];
  const css = {};
  let fg = style.fg;
  let bg = style.bg;
  if (style.inverse) {
    [fg, bg] = [bg, fg];
    if (!fg) classes.push('inv-f');
    if (!bg) classes.push('inv-g');
  }
  if (fg) {
    if (fg.idx !== undefined && fg.idx < 16) classes.push(`f${fg.idx}`);
    else css.color = colourCss(fg);
  }
  if (bg) {
    if (bg.idx !== undefined && bg.idx < 16) classes.push(`g${bg.idx}`);
    else css.backgroundColor = colourCss(bg);
  }
  if (style.bold) classes.push('b');
  if (style.dim) classes.push('d');
  if (style.italic) classes.push('i');
  if (style.underline) classes.push('u');
  if (style.strike) classes.push('s');
  return { classes, css };
}
