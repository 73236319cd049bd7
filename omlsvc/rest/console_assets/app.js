// The console's shell: sign-in, navigation, and rendering the page the address names (router.js)
// on every hashchange, so the back button and a reload keep the page's state.
import * as api from './api.js';
import { busy, clear, errorSlot, field, h, showError } from './dom.js';
import { deploymentPage, deploymentsPage } from './deployments.js';
import { jobPage, jobsPage, newJobPage } from './jobs.js';
import { modelPage, modelsPage } from './models.js';
import { route } from './router.js';
import { usersPage } from './users.js';

const main = document.getElementById('main');
let signOutReason = '';

const pages = {
  models: (r) => (r.parts[1] ? modelPage(r.parts[1]) : modelsPage(r.params)),
  deployments: (r) => (r.parts[1] ? deploymentPage(r.parts[1], r.parts[2] || 'scorer') : deploymentsPage(r.params)),
  jobs: (r) => {
    if (r.parts[1] === 'new') return newJobPage(r.params);
    return r.parts[1] ? jobPage(r.parts[1]) : jobsPage(r.params);
  },
  users: () => usersPage(),
};

let renderSeq = 0;
let firstRender = true;

async function render() {
  const seq = ++renderSeq;
  if (!api.signedIn()) {
    showSignedOut();
    return;
  }
  showSignedIn();
  const current = route();
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.page === current.page) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const build = pages[current.page];
  clear(main, h('p', { class: 'loading' }, 'Loading…'));
  let view;
  try {
    view = build ? await build(current) : h('section', {}, h('h1', {}, 'Not found'), h('p', {}, 'No such page.'));
  } catch (error) {
    const slot = errorSlot();
    showError(slot, error);
    view = h('section', {}, h('h1', {}, 'Could not load this page'), slot);
  }
  if (seq !== renderSeq || !api.signedIn()) return; // a newer navigation or a sign-out won
  const focusWasInMain = main.contains(document.activeElement) || document.activeElement === document.body;
  clear(main, view);
  // after a navigation, keyboard and screen-reader users start at the new page, not at the old button
  if (focusWasInMain && !firstRender) main.focus({ preventScroll: true });
  firstRender = false;
  const heading = main.querySelector('h1');
  document.title = `${heading ? heading.textContent : 'omlsvc'} · omlsvc console`;
}

function showSignedIn() {
  const who = api.user();
  document.getElementById('nav').hidden = false;
  document.getElementById('nav-users').hidden = !who.admin;
  document.getElementById('who').hidden = false;
  document.getElementById('who-name').textContent = `${who.name}${who.admin ? ' (admin)' : ''}`;
}

function showSignedOut() {
  document.getElementById('nav').hidden = true;
  document.getElementById('who').hidden = true;
  const username = h('input', { name: 'username', autocomplete: 'username', required: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const slot = errorSlot();
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form', { class: 'card sign-in', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    signOutReason ? h('p', { class: 'notice', role: 'status' }, signOutReason) : null,
    field('User name', username),
    field('Password', password),
    slot,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    showError(slot, null);
    busy(submit, api.signIn(username.value, password.value))
      .then(() => {
        signOutReason = '';
        render();
      })
      .catch((error) => {
        showError(slot, error);
        password.select();
      });
  });
  clear(main, form);
  document.title = 'Sign in · omlsvc console';
  username.focus();
}

api.onSignedOut((reason) => {
  signOutReason = reason;
  render();
});

document.getElementById('sign-out').addEventListener('click', () => api.signOut());
for (const type of ['keydown', 'pointerdown']) document.addEventListener(type, () => api.noteUse(), { passive: true });
window.addEventListener('hashchange', () => render());
render();
