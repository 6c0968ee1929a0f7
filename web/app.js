// The single-page app: routes / (builds list) and /builds/{id}[/steps/{n}]
// (build page with the log view of one step). The server answers every such
// path with index.html; this file decides what to show.

import { BuildsPage } from './buildspage.js';
import { BuildPage } from './buildpage.js';
import { h, clear } from './dom.js';
import { initToken, onRefused, setToken, getToken } from './auth.js';

initToken(); // before anything talks to the API: it strips the token from the URL

const main = document.getElementById('app');
let page = null;
let authBox = null;

// A 401/403 from the API: say why, and offer a field to paste a token.
function showAuthBox(info) {
  if (authBox) return;
  let why;
  if (info.status === 403) why = 'The token this browser has may not read builds (it is a worker or upload token). Paste a read token.';
  else if (getToken()) why = 'The token this browser has is unknown, revoked or expired. Paste a new read token.';
  else why = 'This server shows builds only to holders of a read token. Ask its admin for one (logstream demo prints a link that carries one) and paste it here.';
  const input = h('input', { id: 'auth-token', class: 'auth-input', type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'lst_…', required: true });
  const form = h(
    'form',
    {
      class: 'auth-form',
      onsubmit: (e) => {
        e.preventDefault();
        if (!input.value.trim()) return;
        setToken(input.value);
        authBox.remove();
        authBox = null;
        if (page) page.destroy();
        page = null;
        show();
      },
    },
    h('label', { for: 'auth-token' }, 'Read token'),
    input,
    h('button', { type: 'submit', class: 'btn' }, 'Use token'),
  );
  authBox = h(
    'section',
    { class: 'auth-box', role: 'alert', 'aria-labelledby': 'auth-title' },
    h('h2', { id: 'auth-title' }, info.status === 403 ? 'This token may not read builds' : 'A token is needed'),
    h('p', null, why),
    info.message ? h('p', { class: 'auth-server' }, `The server said: ${info.message}`) : null,
    form,
    h('p', { class: 'auth-note' }, 'The token is kept in this browser (session and local storage) and sent only to this server.'),
  );
  main.before(authBox);
  input.focus();
}

onRefused(showAuthBox);

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
