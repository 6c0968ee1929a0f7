// Recognises the lines that open and close collapsible groups in a log:
//   GitHub Actions:  ::group::NAME  ...  ::endgroup::
//   GitLab CI:       \e[0Ksection_start:UNIX_TS:NAME[collapsed=true]\r\e[0KTITLE
//                    ...  \e[0Ksection_end:UNIX_TS:NAME\r\e[0K
//   Buildkite-style headers:  "--- NAME", "+++ NAME", "~~~ NAME": a header
//                    group runs until the line before the next header.
// Pure functions on one line's raw text; the viewer pairs starts with ends.

const LEADING_ESCAPES = /^(?:\x1b\[[0-9;]*[A-Za-z])+/;
const GH_START = /^::group::(.*)$/;
const GH_END = /^::endgroup::/;
const SECTION = /^section_(start|end):(\d{1,12}):([A-Za-z0-9_.-]+)(\[[^\]\r]*\])?(?:\r(?:\x1b\[0?K)?(.*))?$/s;
const HEADER = /^(---|\+\+\+|~~~) (\S.*)$/;

// Returns null for an ordinary line, or a marker:
//   {type: 'start'|'end', kind: 'gh'|'section'|'header', name, title, tsMs, collapsed}
// name identifies the group (to pair a GitLab section's end with its start);
// title is what the header row shows.
export function parseMarker(text) {
  if (text.length < 4) return null;
  const c = text.charCodeAt(0);
  if (c === 0x3a /* : */) {
    let m = GH_START.exec(text);
    if (m) return { type: 'start', kind: 'gh', name: m[1], title: m[1].trim(), tsMs: null, collapsed: false };
    if (GH_END.test(text)) return { type: 'end', kind: 'gh', name: '', title: '', tsMs: null, collapsed: false };
    return null;
  }
  if (c === 0x2d || c === 0x2b || c === 0x7e) {
    const m = HEADER.exec(text);
    if (m) return { type: 'start', kind: 'header', name: m[2], title: m[2].trim(), tsMs: null, collapsed: false };
    return null;
  }
  const body = c === 0x1b ? text.replace(LEADING_ESCAPES, '') : text;
  if (!body.startsWith('section_')) return null;
  const m = SECTION.exec(body);
  if (!m) return null;
  const options = m[4] || '';
  const title = (m[5] || '').replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trim();
  return {
    type: m[1],
    kind: 'section',
    name: m[3],
    title: title || m[3],
    tsMs: parseInt(m[2], 10) * 1000,
    collapsed: /collapsed=true/.test(options),
  };
}

// Does marker `end` (at a later line) close group `start`?
export function closes(start, end) {
  if (start.kind === 'gh') return (end.kind === 'gh' && end.type === 'end') || (end.kind === 'gh' && end.type === 'start');
  if (start.kind === 'section') return end.kind === 'section' && end.type === 'end' && end.name === start.name;
  return end.kind === 'header' && end.type === 'start';
}

// Is the closing line itself inside the group (hidden when collapsed)?
// An ::endgroup:: or section_end is; the next group's first line is not.
export function endIsInside(end) {
  return end.type === 'end';
}

// "1.2s", "3m 04s", "1h 02m" for a duration in milliseconds.
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}
