// The single-page app: routes / (builds list) and /builds/{id}[/steps/{n}]
// (build page with the log view of one step). The server answers every such
// path with index.html; this file decides what to show.

import { BuildsPage } from './buildspage.js';
import { BuildPage } from './buildpage.js';
import { h, clear } from './dom.js';

const main = document.getElementById('app');
let page = null;

function route() {
  const path = location.pathname;
  let m;
  if (path === '/' || path === '') return { kind: 'builds' };
  if ((m = /^\/builds\/(\d+)(?:\/steps\/(\d+))?$/.exec(path))) {
    return { kind: 'build', build: parseInt(m[1], 10), step: m[2] ? parseInt(m[2], 10) : null };
  }
  return { kind: 'missing' };
}

function show() {
  const r = route();
  if (page && r.kind === 'build' && page instanceof BuildPage && page.buildId === r.build) {
    page.selectStep(r.step, false);
    return;
  }
  if (page) page.destroy();
  page = null;
  clear(main);
  if (r.kind === 'builds') page = new BuildsPage(main);
  else if (r.kind === 'build') page = new BuildPage(main, r.build, r.step);
  else main.appendChild(h('p', { class: 'empty' }, 'There is no such page. ', h('a', { href: '/' }, 'See all builds.')));
  if (page) page.start();
}

// In-app links navigate without reloading (modifier clicks open new tabs).
document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-nav]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});

export function navigate(url) {
  history.pushState(null, '', url);
  show();
}

window.addEventListener('popstate', show);
show();
