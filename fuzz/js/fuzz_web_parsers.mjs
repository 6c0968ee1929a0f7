// Fuzzer of the web UI's parsers of untrusted log text (plain Node.js, no
// packages; no coverage feedback, so it leans on a seed corpus of real log
// lines and on mutations that matter to these parsers):
//
//   web/ansi.js      renderLine, plainText, styleToCss (SGR 16/256/truecolor,
//                    \r, \b, erase-in-line, cursor moves, OSC/DCS/APC)
//   web/groups.js    parseMarker (::group::, GitLab section_start/end,
//                    "--- " headers)
//   web/groupindex.js GroupIndex (pairs starts with ends, collapses groups,
//                    maps display rows to seqs) over whole generated logs
//   web/urls.js      findUrls (clickable http(s) links)
//   web/rowrender.js renderText (the DOM a line becomes), on a recording DOM
//   web/logstore.js  dropMarkerOf (the dropped-lines marker)
//
// Invariants checked for every input:
//   - no exception;
//   - the rendered text has no ESC, CR or BS; when the line has no \r, \b or
//     cursor/erase sequence it equals the input minus its escape sequences (a
//     reference stripper written from ECMA-48, independent of ansi.js);
//     whatever the line, the text is at most MAX_COLUMNS longer than the input;
//   - the DOM renderText builds holds the input only as text nodes: the only
//     elements are <a> with an http(s) href equal to its text and <span> with
//     known classes and rgb() colours, so nothing from the input can become
//     markup, an attribute or a javascript: link;
//   - URLs are http(s), inside the text, in order, without spaces, quotes or
//     angle brackets;
//   - markers are well formed, and in a whole log every group ends inside the
//     log; collapsing every group gives sorted disjoint hidden ranges and a
//     row <-> seq mapping that is a bijection onto the visible lines;
//   - each input (a line of up to 100,000 characters, or a log) takes less
//     than --max-ms (default 1000 ms) of CPU time, twice in a row, to catch
//     catastrophic regex backtracking and quadratic loops.
//
// A failure writes the input to --out (crash-<kind>-<hash>.json, with the
// message) and exits 1. --repro FILE runs one such file again.
//
//   node fuzz/js/fuzz_web_parsers.mjs --seconds 600 --seed 1 [--out DIR]
//   node fuzz/js/fuzz_web_parsers.mjs --repro DIR/crash-line-....json
//
// web/ has no package.json (the browser loads the files as they are), so the
// modules are copied unchanged into a temporary directory marked as ES
// modules and imported from there.

import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

// ---- options ----

function parseArgs(argv) {
  const o = { seconds: 60, seed: 1, out: 'fuzz-js-artifacts', maxMs: 1000, repro: null, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--seconds') o.seconds = Number(v());
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--out') o.out = v();
    else if (a === '--max-ms') o.maxMs = Number(v());
    else if (a === '--repro') o.repro = v();
    else if (a === '--quiet') o.quiet = true;
    else throw new Error(`unknown option ${a} (--seconds N --seed N --out DIR --max-ms N --repro FILE)`);
  }
  if (!(o.seconds >= 0) || !Number.isInteger(o.seed) || !(o.maxMs > 0)) {
    throw new Error('--seconds must be >= 0, --seed an integer, --max-ms > 0');
  }
  return o;
}

// ---- the real modules ----

async function loadModules() {
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-web-'));
  for (const f of readdirSync(join(ROOT, 'web'))) {
    if (f.endsWith('.js')) copyFileSync(join(ROOT, 'web', f), join(dir, f));
  }
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  const load = (name) => import(join(dir, name));
  const mods = {
    ansi: await load('ansi.js'),
    groups: await load('groups.js'),
    groupindex: await load('groupindex.js'),
    urls: await load('urls.js'),
    rowrender: await load('rowrender.js'),
    logstore: await load('logstore.js'),
  };
  rmSync(dir, { recursive: true, force: true });
  return mods;
}

// ---- a recording DOM for renderText ----

class FakeElement {
  constructor(tag) {
    this.tag = tag;
    this.children = [];
    this.className = '';
    this.style = {};
    this.attrs = {};
  }

  appendChild(n) {
    this.children.push(n);
    return n;
  }

  set textContent(t) {
    this.children = [{ text: String(t) }];
  }

  set href(v) {
    this.attrs.href = String(v);
  }

  set rel(v) {
    this.attrs.rel = String(v);
  }

  set target(v) {
    this.attrs.target = String(v);
  }
}

globalThis.document = {
  createElement: (tag) => new FakeElement(tag),
  createTextNode: (t) => ({ text: String(t) }),
};

const CLASS_RE = /^(?:[fg](?:[0-9]|1[0-5])|inv-[fg]|[bdius]|hl|lv-url)$/;
const RGB_RE = /^rgb\((\d{1,3}), (\d{1,3}), (\d{1,3})\)$/;
const HREF_RE = /^https?:\/\/[^\s<>"'`\x00-\x1f\x7f]+$/;

function checkRgb(v, what) {
  const m = RGB_RE.exec(v);
  if (!m || [m[1], m[2], m[3]].some((x) => Number(x) > 255)) throw new Error(`${what} is ${JSON.stringify(v)}`);
}

// Walks what renderText built: returns the text it shows, throwing on
// anything that is not a text node, a checked <a> or a checked <span>.
function domText(node, depth) {
  if (node.text !== undefined) return node.text;
  if (!(node instanceof FakeElement)) throw new Error('renderText appended something that is not a node');
  if (depth > 2) throw new Error('elements nested too deep');
  for (const c of node.className.split(' ').filter(Boolean)) {
    if (!CLASS_RE.test(c)) throw new Error(`unknown class ${JSON.stringify(c)}`);
  }
  const text = node.children.map((c) => domText(c, depth + 1)).join('');
  if (node.tag === 'a') {
    if (!HREF_RE.test(node.attrs.href || '')) throw new Error(`link to ${JSON.stringify(node.attrs.href)}`);
    if (node.attrs.href !== text) throw new Error(`link text ${JSON.stringify(text)} is not its href ${node.attrs.href}`);
    if (node.attrs.rel !== 'noopener noreferrer nofollow') throw new Error('link without rel=noopener');
  } else if (node.tag === 'span') {
    for (const [k, v] of Object.entries(node.style)) {
      if (k !== 'color' && k !== 'backgroundColor') throw new Error(`style ${k}`);
      checkRgb(v, `style.${k}`);
    }
  } else {
    throw new Error(`renderText made a <${node.tag}>`);
  }
  return text;
}

// ---- reference ANSI stripper (ECMA-48, as ansi.js documents it) ----

// Returns {text, moves}: the input without escape sequences, and whether it
// has anything that moves the cursor or erases (then the shown text is not
// simply the stripped text).
function refStrip(t) {
  let out = '';
  let moves = false;
  const n = t.length;
  const code = (k) => (k < n ? t.charCodeAt(k) : -1);
  let i = 0;
  while (i < n) {
    const c = code(i);
    if (c === 0x0d || c === 0x08) {
      moves = true;
      i++;
      continue;
    }
    if (c !== 0x1b) {
      out += t[i++];
      continue;
    }
    const kind = code(i + 1);
    if (kind === 0x5b) {
      let j = i + 2;
      while (code(j) >= 0x30 && code(j) <= 0x3f) j++;
      while (code(j) >= 0x20 && code(j) <= 0x2f) j++;
      if (j >= n) break;
      if ('KGCD'.includes(t[j])) moves = true;
      i = j + 1;
    } else if (kind === 0x5d || kind === 0x50 || kind === 0x5f) {
      let j = i + 2;
      while (j < n && code(j) !== 0x07 && !(code(j) === 0x1b && code(j + 1) === 0x5c)) j++;
      i = j >= n ? n : code(j) === 0x07 ? j + 1 : j + 2;
    } else {
      let j = i + 1;
      while (code(j) >= 0x20 && code(j) <= 0x2f) j++;
      i = j + 1;
    }
  }
  return { text: out, moves };
}

// ---- the checks ----

const MAX_COLUMNS = 4096; // web/ansi.js: how far right a cursor move may go

function checkLine(m, text) {
  const segs = m.ansi.renderLine(text);
  const shown = segs.map((s) => s.text).join('');
  if (/[\x1b\r\b]/.test(shown)) throw new Error('rendered text holds ESC, CR or BS');
  if (segs.some((s) => s.text === '')) throw new Error('an empty segment');
  if (shown.length > text.length + MAX_COLUMNS) throw new Error(`${shown.length} columns rendered from ${text.length} characters`);
  if (m.ansi.plainText(text) !== shown) throw new Error('plainText differs from renderLine');
  const ref = refStrip(text);
  if (!ref.moves && shown !== ref.text) {
    throw new Error(`rendered ${JSON.stringify(shown.slice(0, 200))}, the stripped line is ${JSON.stringify(ref.text.slice(0, 200))}`);
  }
  for (const s of segs) {
    if (!Object.isFrozen(s.style)) throw new Error('a style is not frozen');
    const css = m.ansi.styleToCss(s.style);
    for (const c of css.classes) if (!CLASS_RE.test(c)) throw new Error(`class ${c}`);
    for (const [k, v] of Object.entries(css.css)) checkRgb(v, k);
  }

  const urls = m.urls.findUrls(shown);
  let prevEnd = 0;
  for (const u of urls) {
    if (!HREF_RE.test(u.url)) throw new Error(`URL ${JSON.stringify(u.url)}`);
    if (u.start < prevEnd || shown.slice(u.start, u.end) !== u.url) throw new Error('URL range wrong');
    prevEnd = u.end;
  }

  for (const query of ['', 'a', shown.slice(1, 4), 'http']) {
    const parent = new FakeElement('span');
    m.rowrender.renderText(parent, segs, query);
    const got = parent.children.map((c) => domText(c, 1)).join('');
    if (got !== shown) throw new Error(`the DOM shows ${JSON.stringify(got.slice(0, 200))}`);
  }

  const mk = m.groups.parseMarker(text);
  if (mk !== null) checkMarker(text, mk);
  m.logstore.dropMarkerOf({ stream: 'o', text });
}

function checkMarker(text, mk) {
  if (mk.type !== 'start' && mk.type !== 'end') throw new Error(`marker type ${mk.type}`);
  if (typeof mk.name !== 'string' || typeof mk.title !== 'string') throw new Error('marker name/title');
  if (mk.kind === 'gh') {
    if (!text.startsWith(mk.type === 'start' ? '::group::' : '::endgroup::')) throw new Error('gh marker');
    if (mk.type === 'start' && mk.title !== mk.name.trim()) throw new Error('gh title');
  } else if (mk.kind === 'section') {
    if (!/^[A-Za-z0-9_.-]+$/.test(mk.name) || !Number.isFinite(mk.tsMs)) throw new Error('section marker');
  } else if (mk.kind === 'header') {
    if (mk.type !== 'start' || !/^(---|\+\+\+|~~~) /.test(text)) throw new Error('header marker');
  } else {
    throw new Error(`marker kind ${mk.kind}`);
  }
}

// A whole log through GroupIndex: every group ends, collapsing is consistent.
async function checkLog(m, texts) {
  const lines = texts.map((text, i) => ({ seq: i + 1, ts: 1700000000000 + i * 10, stream: 'o', text }));
  const store = {
    total: lines.length,
    final: true,
    gap: null,
    get: (seq) => lines[seq - 1],
    inGap: () => false,
    ensure: async () => {},
  };
  const gi = new m.groupindex.GroupIndex(store, { headBudget: lines.length + 1, fullBudget: lines.length + 1 });
  const groups = [];
  for (const l of lines) {
    const g = gi.groupAt(l.seq);
    if (!g) continue;
    await gi.scan(g, lines.length + 1);
    if (g.last === null || g.last < g.seq - 1 || g.last > lines.length) {
      throw new Error(`group at ${g.seq} ends at ${g.last} of ${lines.length}`);
    }
    groups.push(g);
  }
  await new Promise((r) => setTimeout(r, 0)); // collapsed=true sections rebuild in a microtask
  for (const collapsed of [true, false]) {
    gi.setAll(collapsed);
    let prev = 0;
    for (const [a, b] of gi.ranges) {
      if (!(a > prev + 1 || prev === 0) || b < a) throw new Error(`hidden ranges ${JSON.stringify(gi.ranges)}`);
      prev = b;
    }
    const rows = gi.rowCount();
    if (!collapsed && rows !== lines.length) throw new Error('expanded, rows differ from lines');
    let last = 0;
    for (let r = 0; r < rows; r++) {
      const seq = gi.rowToSeq(r);
      if (!(seq > last && seq <= lines.length)) throw new Error(`row ${r} -> seq ${seq} after ${last}`);
      if (gi.seqToRow(seq) !== r) throw new Error(`seq ${seq} -> row ${gi.seqToRow(seq)}, not ${r}`);
      last = seq;
    }
    for (const g of groups) {
      const hidden = gi.ranges.some(([a, b]) => a <= g.seq && g.seq <= b);
      if (collapsed && !hidden && g.last > g.seq && gi.seqToRow(g.seq + 1) !== gi.seqToRow(g.seq)) {
        throw new Error(`collapsed group at ${g.seq} still shows its lines`);
      }
    }
  }
}

// ---- inputs ----

function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS = [
  '',
  'plain text',
  '\x1b[31mred\x1b[0m \x1b[1;4;3mbold\x1b[22;24;23m plain \x1b[92;104mbright\x1b[39;49m',
  '\x1b[38;5;208morange\x1b[48;5;17m on blue\x1b[0m',
  '\x1b[38;2;255;100;0mtruecolor\x1b[48:2::10:20:30m sub\x1b[58:5:3m\x1b[m',
  '\x1b[7minverse\x1b[27m \x1b[4:0mno underline\x1b[21m',
  'progress  10%\rprogress  50%\rprogress 100%',
  'abc\b\bX\x1b[K tail \x1b[1K \x1b[2K end',
  'col\x1b[10Gten\x1b[3Dback\x1b[5Cfwd',
  '\x1b]0;window title\x07after osc \x1b]8;;http://x.test/\x1b\\link\x1b]8;;\x1b\\',
  '\x1bP+q\x1b\\dcs \x1b_apc\x07 \x1b(B\x1b)0charset \x1b=\x1b>',
  '\x1b[?25l\x1b[?25h hidden cursor \x1b[!p',
  '\x1b[31', // cut off
  '\x1b', // lone ESC
  '\x1b[' + '9'.repeat(400) + 'm huge param',
  '\x1b[38;5;99999999999999999999m\x1b[38;2;-1;300;NaNm',
  '\x1b[99999999Cx', // a cursor move far right (found by this fuzzer)
  '\x1b[99999999Gx',
  '::group::Install dependencies',
  '::endgroup::',
  '::group::',
  '\x1b[0Ksection_start:1700000000:build_step[collapsed=true]\r\x1b[0K\x1b[36;1mBuild\x1b[0;m',
  '\x1b[0Ksection_end:1700000000:build_step\r\x1b[0K',
  'section_start:1:x\rtitle',
  '--- :pipeline: Build',
  '+++ Run tests',
  '~~~ Upload',
  '##[group]Run actions/checkout@v4',
  '##[endgroup]',
  'see https://example.com/a_(b)_c. and http://x.test/path?q=1&r=<2>',
  'http://a' + ')'.repeat(3000), // (found by this fuzzer: quadratic trimming)
  '9'.repeat(60000), // (found by this fuzzer: highlighting 20,000 matches of "999" was quadratic)
  'https://' + '.'.repeat(1000),
  'NUL\x00inside\x00',
  'lone \ud800 high, lone \udc00 low, pair \ud83d\ude00, reversed \ude00\ud83d',
  '\x1b[\ud83d\ude00m',
  'tab\tseparated\tvalues',
  '\u2026 9560 lines (956000 bytes) dropped: the step\'s log exceeded --max-step-bytes (262144 bytes); the first lines and the most recent lines are kept \u2026',
  '<script>alert(1)</script> &amp; "quotes" \'single\' `back`',
  'javascript:alert(1) http://javascript:alert(1)@x.test/',
];

const MARKERS = SEEDS.filter((t) => /group|section_|^(---|\+\+\+|~~~) /.test(t));

const TOKENS = [
  '\x1b[', '\x1b]', '\x1bP', '\x1b_', '\x1b\\', '\x07', '\x1b', 'm', ';', ':', '38;5;', '48;2;', '38:2::',
  '0', '1', '255', '256', '99999999999', '-1', 'K', 'G', 'C', 'D', '\r', '\b', '\n', '\x00', '\t',
  '::group::', '::endgroup::', 'section_start:', 'section_end:', '1700000000:', 'name', '[collapsed=true]',
  '\r\x1b[0K', '--- ', '+++ ', '~~~ ', '##[group]', 'http://', 'https://', '(', ')', '.', '<', '>', '&', '"',
  '\ud800', '\udc00', '\ud83d\ude00', '\u2028', '\u2026', ' ', 'x',
];

// Longer than any line the server stores with its default --max-line (64 KiB).
const MAX_INPUT = 100000;

function mutate(r, s) {
  const pick = (a) => a[Math.floor(r() * a.length)];
  const pos = () => Math.floor(r() * (s.length + 1));
  const steps = 1 + Math.floor(r() * 6);
  for (let k = 0; k < steps; k++) {
    const op = Math.floor(r() * 10);
    if (op <= 2) {
      const p = pos();
      s = s.slice(0, p) + pick(TOKENS) + s.slice(p);
    } else if (op === 3 && s.length) {
      const p = pos();
      s = s.slice(0, p) + s.slice(p + 1 + Math.floor(r() * 8));
    } else if (op === 4) {
      const p = pos();
      let junk = '';
      const n = 1 + Math.floor(r() * 16);
      for (let i = 0; i < n; i++) junk += String.fromCharCode(r() < 0.7 ? Math.floor(r() * 128) : Math.floor(r() * 0x10000));
      s = s.slice(0, p) + junk + s.slice(p);
    } else if (op === 5) {
      const a = pos();
      const b = Math.min(s.length, a + 1 + Math.floor(r() * 40));
      const times = r() < 0.1 ? 1 + Math.floor(r() * 2000) : 1 + Math.floor(r() * 8);
      s = s.slice(0, b) + s.slice(a, b).repeat(times) + s.slice(b);
    } else if (op === 6) {
      const other = pick(SEEDS);
      s = r() < 0.5 ? s + other : other + s;
    } else if (op === 7) {
      s = s.slice(0, pos());
    } else if (op === 8) {
      const p = pos();
      s = s.slice(0, p) + String(Math.floor(r() * 1e6) * (r() < 0.2 ? 1e12 : 1)) + s.slice(p);
    } else if (s.length) {
      const p = Math.floor(r() * s.length);
      s = s.slice(0, p) + String.fromCharCode(s.charCodeAt(p) ^ (1 << Math.floor(r() * 7))) + s.slice(p + 1);
    }
  }
  if (s.length > MAX_INPUT) s = s.slice(0, MAX_INPUT);
  return s;
}

function makeLine(r) {
  if (r() < 0.05) {
    let s = '';
    const n = Math.floor(r() * 200);
    for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(r() * 0x10000));
    return s;
  }
  return mutate(r, SEEDS[Math.floor(r() * SEEDS.length)]);
}

function makeLog(r) {
  const n = 1 + Math.floor(r() * 120);
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(r() < 0.4 ? MARKERS[Math.floor(r() * MARKERS.length)] : r() < 0.5 ? `line ${i}` : makeLine(r));
  }
  return out;
}

// ---- running ----

function writeRepro(opts, kind, input, err) {
  mkdirSync(opts.out, { recursive: true });
  const body = JSON.stringify({ kind, input, error: String(err && err.stack ? err.stack : err) }, null, 1);
  const hash = createHash('sha1').update(JSON.stringify(input)).digest('hex').slice(0, 12);
  const file = join(opts.out, `crash-${kind}-${hash}.json`);
  writeFileSync(file, body + '\n');
  return file;
}

// CPU time (user + system, ms) of one check: unlike wall time it does not
// grow when other processes take the machine's cores.
async function cpuMs(m, kind, input) {
  const c0 = process.cpuUsage();
  if (kind === 'line') checkLine(m, input);
  else await checkLog(m, input);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

async function runOne(m, opts, kind, input) {
  let ms = await cpuMs(m, kind, input);
  // a second run tells a slow input from a garbage collection or a JIT pause
  if (ms > opts.maxMs) ms = Math.min(ms, await cpuMs(m, kind, input));
  if (ms > opts.maxMs) throw new Error(`took ${ms.toFixed(0)} ms of CPU (limit ${opts.maxMs} ms)`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const m = await loadModules();
  if (opts.repro) {
    const { kind, input } = JSON.parse(readFileSync(opts.repro, 'utf8'));
    await runOne(m, opts, kind, input);
    console.log(`${opts.repro}: passes now`);
    return 0;
  }
  const r = rng(opts.seed);
  const start = performance.now();
  const stopAt = start + opts.seconds * 1000;
  let lines = 0;
  let logs = 0;
  let chars = 0;
  let lastReport = start;
  // every seed as it is first, then generated inputs until the time is up
  const queue = SEEDS.map((s) => ['line', s]).concat([['log', MARKERS], ['log', [...MARKERS].reverse()]]);
  for (;;) {
    let item = queue.shift();
    if (!item) {
      if (performance.now() >= stopAt) break;
      item = r() < 0.05 ? ['log', makeLog(r)] : ['line', makeLine(r)];
    }
    const [kind, input] = item;
    try {
      await runOne(m, opts, kind, input);
    } catch (e) {
      const file = writeRepro(opts, kind, input, e);
      console.error(`FINDING after ${lines} lines and ${logs} logs: ${e.message}\nreproducer: ${file}`);
      return 1;
    }
    if (kind === 'line') {
      lines++;
      chars += input.length;
    } else logs++;
    const now = performance.now();
    if (!opts.quiet && now - lastReport > 10000) {
      console.log(`#${lines + logs} ${((now - start) / 1000).toFixed(0)} s: ${lines} lines, ${logs} logs`);
      lastReport = now;
    }
  }
  const secs = (performance.now() - start) / 1000;
  console.log(`done: seed ${opts.seed}, ${secs.toFixed(1)} s, ${lines} lines (${chars} characters) and ${logs} logs, no finding`);
  return 0;
}

process.exitCode = await main();
