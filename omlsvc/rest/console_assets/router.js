// Where the console is: the page and its state live in the URL's hash (#/page/...?filters), so the
// back button and a reload keep them. The pages navigate through here; the shell (app.js) renders
// on every hashchange, so no page needs to know the shell.
import * as api from './api.js';

export function route() {
  const hash = window.location.hash.replace(/^#/, '') || '/models';
  const url = new URL(hash, 'http://console.invalid');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || 'models', parts, params: url.searchParams };
}

export function go(path, params) {
  const search = params ? api.query(params) : '';
  const target = `#${path}${search}`;
  // the same address again (a reload of the page's data): no hashchange would fire, so send one
  if (window.location.hash === target) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else window.location.hash = target;
}
