// Finds http(s) URLs in plain text so the viewer can make them clickable.
// Only http: and https: are ever linked (never javascript:, data:, ...), and
// the caller puts the text into the DOM as text, never as markup.

const URL_RE = /\bhttps?:\/\/[^\s<>"'`\x00-\x1f\x7f]+/g;
const TRAILING = /[.,;:!?'"\]}>*_]$/;

// Drops trailing punctuation that more likely ends the sentence than the URL;
// a ')' stays when the URL has a matching '(' (wiki-style links).
function trimUrl(url) {
  let u = url;
  for (;;) {
    if (TRAILING.test(u)) {
      u = u.slice(0, -1);
      continue;
    }
    if (u.endsWith(')')) {
      const open = (u.match(/\(/g) || []).length;
      const close = (u.match(/\)/g) || []).length;
      if (close > open) {
        u = u.slice(0, -1);
        continue;
      }
    }
    return u;
  }
}

// Returns [{start, end, url}] for each URL in text, in order.
export function findUrls(text) {
  const out = [];
  if (text.indexOf('://') < 0) return out;
  URL_RE.lastIndex = 0;
  let m;
  while ((m = URL_RE.exec(text)) !== null) {
    const url = trimUrl(m[0]);
    if (url.length > 'https://'.length - 1 && /^https?:\/\/[^/?#]/.test(url)) {
      out.push({ start: m.index, end: m.index + url.length, url });
    }
  }
  return out;
}
