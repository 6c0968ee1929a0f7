// Finds http(s) URLs in plain text so the viewer can make them clickable.
// Only http: and https: are ever linked (never javascript:, data:, ...), and
// the caller puts the text into the DOM as text, never as markup.

const URL_RE = /\bhttps?:\/\/[^\s<>"'`\x00-\x1f\x7f]+/g;
const TRAILING = /^[.,;:!?'"\]}>*_]$/;

// Drops trailing punctuation that more likely ends the sentence than the URL;
// a ')' stays when the URL has a matching '(' (wiki-style links). One pass
// from the end, the parentheses counted once (counting them again for each
// ')' dropped was quadratic: found by fuzz/js/fuzz_web_parsers.mjs).
function trimUrl(url) {
  let end = url.length;
  let open = -1;
  let close = 0;
  while (end > 0) {
    const c = url[end - 1];
    if (TRAILING.test(c)) {
      end--;
      continue;
    }
    if (c === ')') {
      if (open < 0) {
        open = 0;
        for (let i = 0; i < end; i++) {
          if (url[i] === '(') open++;
          else if (url[i] === ')') close++;
        }
      }
      if (close > open) {
        end--;
        close--;
        continue;
      }
    }
    break;
  }
  return url.slice(0, end);
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
