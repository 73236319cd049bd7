// Users (admins): what the service offers over HTTP for people is model grants; user accounts
// themselves are managed with `omlsvc users` on the server, which this page says plainly.
import * as api from './api.js';
import { h, table } from './dom.js';

export async function usersPage() {
  const me = api.user();
  if (!me.admin) {
    return h('section', {}, h('h1', {}, 'Users'), h('p', {}, 'Only administrators manage users.'));
  }
  const models = await api.call('GET', '/omlmod/v1/models?limit=100');
  const people = new Map();
  for (const m of models.items) {
    for (const u of m.users || []) {
      const entry = people.get(u.username) || { owns: [], views: [] };
      (u.permission === 'OWN' ? entry.owns : entry.views).push(h('a', { href: `#/models/${api.seg(m.modelId)}` }, `${m.modelName} ${m.version}`));
      people.set(u.username, entry);
    }
  }
  const join = (links) => links.flatMap((l, i) => (i ? [', ', l] : [l]));
  const rows = [...people.entries()].sort(([a], [b]) => a.localeCompare(b))
    .map(([name, e]) => [name, join(e.owns), join(e.views)]);
  const commands = [
    ["echo 's3cret-pass' | omlsvc users add ANALYST1 --password-stdin", 'add a developer (--role admin for an administrator)'],
    ['omlsvc users list', 'every user, role and state'],
    ['omlsvc users disable ANALYST1', 'their tokens stop working within a second (enable undoes it)'],
    ["echo 'n3w-pass!' | omlsvc users passwd ANALYST1 --password-stdin", 'reset a password'],
    ['omlsvc users role ANALYST1 admin', 'change a role'],
    ['omlsvc tables grant IRIS_IN ANALYST1', 'let their jobs read a table (SQLite)'],
  ];
  return h('section', {},
    h('h1', {}, 'Users'),
    h('div', { class: 'card notice' },
      h('p', {}, 'The service has no HTTP API for user accounts yet, so this console cannot add, disable or reset users. ',
        'An administrator does it on the server with the omlsvc command:'),
      table(['Command', 'What it does'], commands.map(([c, w]) => [h('code', {}, c), w]))),
    h('h2', {}, 'Who holds which model'),
    h('p', {}, 'Model grants are part of the API: grant or revoke VIEW on a model’s page.'),
    table(['User', 'Owns', 'Granted VIEW on'], rows, 'Owners and grants of the models listed (first 100)'));
}
