// Unit tests of the web UI's pure modules (no browser): the ANSI renderer,
// the group marker parser and the URL finder. The modules live in web/ (no
// package.json there), so they are imported from data: URLs as ES modules.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './harness.mjs';

async function load(name) {
  const src = readFileSync(join(ROOT, 'web', name), 'utf8');
  return import(`data:text/javascript;base64,${Buffer.from(src).toString('base64')}`);
}

const ansi = await load('ansi.js');
const groups = await load('groups.js');
const urls = await load('urls.js');

function segs(text) {
  return ansi.renderLine(text).map((s) => [s.text, ansi.styleToCss(s.style)]);
}

test('plain text is one unstyled segment; empty is none', () => {
  assert.deepEqual(ansi.renderLine(''), []);
  const [s] = ansi.renderLine('hello world');
  assert.equal(s.text, 'hello world');
  assert.equal(s.style, ansi.DEFAULT_STYLE);
});

test('16 colours, bright colours, reset and styles', () => {
  const out = segs('\x1b[31mred\x1b[0m \x1b[1;4;3mbiu\x1b[22;24;23m plain \x1b[92;104mbright\x1b[39;49m x');
  assert.deepEqual(out.map(([t]) => t), ['red', ' ', 'biu', ' plain ', 'bright', ' x']);
  assert.deepEqual(out[0][1].classes, ['f1']);
  assert.deepEqual(out[1][1].classes, []);
  assert.deepEqual(out[2][1].classes, ['b', 'i', 'u']);
  assert.deepEqual(out[3][1].classes, []);
  assert.deepEqual(out[4][1].classes, ['f10', 'g12']);
  assert.deepEqual(out[5][1].classes, []);
});

test('256-colour and truecolor, with ; and : separators', () => {
  const out = segs('\x1b[38;5;208ma\x1b[48;5;2mb\x1b[0m\x1b[38;2;1;2;3mc\x1b[38:2::4:5:6md\x1b[38:5:232me');
  assert.deepEqual(out[0][1].css, { color: 'rgb(255, 135, 0)' });
  assert.deepEqual(out[1][1].classes, ['g2']);
  assert.deepEqual(out[2][1].css, { color: 'rgb(1, 2, 3)' });
  assert.deepEqual(out[3][1].css, { color: 'rgb(4, 5, 6)' });
  assert.deepEqual(out[4][1].css, { color: 'rgb(8, 8, 8)' });
  assert.deepEqual(ansi.xterm256(16), [0, 0, 0]);
  assert.deepEqual(ansi.xterm256(231), [255, 255, 255]);
  assert.deepEqual(ansi.xterm256(255), [238, 238, 238]);
});

test('inverse swaps colours, defaults included', () => {
  const [[, css]] = segs('\x1b[7mx');
  assert.deepEqual(css.classes, ['inv-f', 'inv-g']);
  const [[, css2]] = segs('\x1b[31;7mx');
  assert.deepEqual(css2.classes, ['inv-f', 'g1']);
});

test('carriage return keeps the last state of the line', () => {
  assert.equal(ansi.plainText('progress 10%\rprogress 50%\rprogress 100%'), 'progress 100%');
  assert.equal(ansi.plainText('abcdef\rXY'), 'XYcdef');
  assert.equal(ansi.plainText('abcdef\rXY\x1b[K'), 'XY');
  assert.equal(ansi.plainText('windows line\r'), 'windows line');
  assert.equal(ansi.plainText('abc\b\bX'), 'aXc');
  assert.equal(ansi.plainText('\x1b[2Kgone\r\x1b[2Kkept'), 'kept');
  assert.equal(ansi.plainText('a\x1b[3Cb'), 'a   b');
});

test('styles survive overwriting: each cell keeps the style it was written with', () => {
  const out = ansi.renderLine('\x1b[31mAAAA\r\x1b[32mBB');
  assert.deepEqual(out.map((s) => s.text), ['BB', 'AA']);
  assert.deepEqual(out.map((s) => s.style.fg.idx), [2, 1]);
});

test('other escape sequences are dropped, cut-off ones too', () => {
  assert.equal(ansi.plainText('\x1b]0;window title\x07text'), 'text');
  assert.equal(ansi.plainText('\x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\'), 'link');
  assert.equal(ansi.plainText('\x1b(Bcharset'), 'charset');
  assert.equal(ansi.plainText('\x1b[?25lcursor'), 'cursor');
  assert.equal(ansi.plainText('cut \x1b[3'), 'cut ');
  assert.equal(ansi.plainText('lone \x1b'), 'lone ');
});

test('surrogate pairs stay whole', () => {
  assert.equal(ansi.plainText('x😀y\rZ'), 'Z😀y');
});

test('group markers: GitHub, GitLab sections, headers', () => {
  assert.deepEqual(groups.parseMarker('::group::Build it'), { type: 'start', kind: 'gh', name: 'Build it', title: 'Build it', tsMs: null, collapsed: false });
  assert.equal(groups.parseMarker('::endgroup::').type, 'end');
  const s = groups.parseMarker('\x1b[0Ksection_start:1560896352:my_sec[collapsed=true]\r\x1b[0KHeader of \x1b[1mit\x1b[0m');
  assert.equal(s.type, 'start');
  assert.equal(s.kind, 'section');
  assert.equal(s.name, 'my_sec');
  assert.equal(s.title, 'Header of it');
  assert.equal(s.tsMs, 1560896352000);
  assert.equal(s.collapsed, true);
  const e = groups.parseMarker('\x1b[0Ksection_end:1560896353:my_sec\r\x1b[0K');
  assert.deepEqual([e.type, e.name, e.tsMs], ['end', 'my_sec', 1560896353000]);
  assert.equal(groups.parseMarker('--- :docker: Build').title, ':docker: Build');
  assert.equal(groups.parseMarker('+++ Tests').kind, 'header');
  assert.equal(groups.parseMarker('---'), null);
  assert.equal(groups.parseMarker('plain'), null);
  assert.equal(groups.parseMarker('::warning::x'), null);
  assert.equal(groups.parseMarker('section_start:notanumber:x'), null);
});

test('which marker closes which group', () => {
  const gh = groups.parseMarker('::group::a');
  const sec = groups.parseMarker('section_start:1:a');
  const hdr = groups.parseMarker('--- a');
  assert.ok(groups.closes(gh, groups.parseMarker('::endgroup::')));
  assert.ok(groups.closes(gh, groups.parseMarker('::group::b')), 'GitHub groups do not nest');
  assert.ok(groups.closes(sec, groups.parseMarker('section_end:2:a')));
  assert.ok(!groups.closes(sec, groups.parseMarker('section_end:2:b')), 'sections nest by name');
  assert.ok(groups.closes(hdr, groups.parseMarker('+++ next')));
  assert.ok(!groups.closes(hdr, groups.parseMarker('::endgroup::')));
  assert.equal(groups.formatDuration(1234), '1.2s');
  assert.equal(groups.formatDuration(65000), '1m 05s');
  assert.equal(groups.formatDuration(3725000), '1h 02m');
  assert.equal(groups.formatDuration(null), '');
});

test('URLs: found, trimmed, never other schemes', () => {
  const f = (t) => urls.findUrls(t).map((u) => u.url);
  assert.deepEqual(f('see https://example.com/a?b=1. next'), ['https://example.com/a?b=1']);
  assert.deepEqual(f('(http://x.org/wiki/A_(b)) and http://y.org,'), ['http://x.org/wiki/A_(b)', 'http://y.org']);
  assert.deepEqual(f('javascript:alert(1) data:text/html,x ftp://x'), []);
  assert.deepEqual(f('"https://q.com/x"'), ['https://q.com/x']);
  assert.deepEqual(f('https://'), []);
  const [u] = urls.findUrls('go https://a.b/c now');
  assert.deepEqual([u.start, u.end], [3, 16]);
});

// Findings of fuzz/js/fuzz_web_parsers.mjs (each took seconds to minutes of a
// browser tab, or let a control character through).
test('a cursor move far to the right stops at MAX_COLUMNS', () => {
  for (const seq of ['\x1b[99999999Cx', '\x1b[99999999Gx', '\x1b[4000Cab\r\x1b[99999999Cx']) {
    const t0 = performance.now();
    const text = ansi.plainText(seq);
    assert.ok(performance.now() - t0 < 1000, `${JSON.stringify(seq)} took too long`);
    assert.ok(text.length <= ansi.MAX_COLUMNS + 2, `${text.length} columns`);
    assert.ok(text.endsWith('x'));
  }
  assert.equal(ansi.plainText('ab\x1b[5Gx'), 'ab  x', 'short moves still pad with spaces');
});

test('erasing the line many times is linear, and erases still blank what they reach', () => {
  const t0 = performance.now();
  ansi.renderLine('K tail \x1b[1K \x1b[2K end'.repeat(20000));
  ansi.renderLine('ab\x1b[1Kc'.repeat(50000));
  assert.ok(performance.now() - t0 < 3000, 'too slow');
  assert.equal(ansi.plainText('abcdef\x1b[3D\x1b[1Kxy'), '   xyf');
  assert.equal(ansi.plainText('abcdef\x1b[3D\x1b[2K'), '');
  assert.equal(ansi.plainText('abcdef\x1b[3D\x1b[2Kx'), '   x');
  assert.equal(ansi.plainText('abcdef\x1b[3D\x1b[1K\rAB'), 'AB  ef');
});

test('a lone high surrogate does not swallow the control character after it', () => {
  assert.equal(ansi.plainText('a\ud800\x1b[31mb'), 'a\ud800b');
  assert.equal(ansi.plainText('a\ud800\rX'), 'X\ud800');
  assert.equal(ansi.renderLine('\ud83d\ude00x')[0].text, '\ud83d\ude00x');
});

test('a URL followed by many closing parentheses is trimmed in linear time', () => {
  const t0 = performance.now();
  const [u] = urls.findUrls('http://a' + ')'.repeat(100000));
  assert.ok(performance.now() - t0 < 1000, 'too slow');
  assert.equal(u.url, 'http://a');
  assert.deepEqual(urls.findUrls('x http://w.org/A_(b)))..').map((v) => v.url), ['http://w.org/A_(b)']);
});

test('highlighting thousands of search matches in one long line is linear', async () => {
  // renderText needs a document: a recording one is enough here
  class El {
    constructor(tag) {
      this.tag = tag;
      this.children = [];
      this.style = {};
      this.className = '';
    }
    appendChild(n) {
      this.children.push(n);
      return n;
    }
    set textContent(t) {
      this.children = [{ text: t }];
    }
  }
  const saved = globalThis.document;
  globalThis.document = { createElement: (t) => new El(t), createTextNode: (t) => ({ text: t }) };
  try {
    // rowrender.js imports its neighbours, which a data: URL cannot resolve:
    // the web modules, unchanged, in a temp dir marked as ES modules
    const dir = mkdtempSync(join(tmpdir(), 'web-'));
    for (const f of readdirSync(join(ROOT, 'web'))) {
      if (f.endsWith('.js')) copyFileSync(join(ROOT, 'web', f), join(dir, f));
    }
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    const rowrender = await import(join(dir, 'rowrender.js'));
    rmSync(dir, { recursive: true, force: true });
    const line = '9'.repeat(90000);
    const parent = new El('div');
    const t0 = performance.now();
    rowrender.renderText(parent, ansi.renderLine(line), '999');
    assert.ok(performance.now() - t0 < 1000, 'too slow');
    assert.equal(parent.children.length, 30000);
    assert.ok(parent.children.every((c) => c.className === 'hl'));
    const mixed = new El('div');
    rowrender.renderText(mixed, ansi.renderLine('x ab \x1b[31mab\x1b[0m y'), 'ab');
    assert.deepEqual(
      mixed.children.map((c) => [c.className || '', c.text ?? c.children[0].text]),
      [['', 'x '], ['hl', 'ab'], ['', ' '], ['f1 hl', 'ab'], ['', ' y']],
    );
  } finally {
    globalThis.document = saved;
  }
});
