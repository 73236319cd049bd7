// Users (admins): add a user, disable or enable them, reset a password, change a role, all through
// /omlmod/v1/users (the same service calls as `omlsvc users` on the server). Grants stay on each
// model's page; the table below shows who holds which model.
import * as api from './api.js';
import { busy, clear, errorSlot, field, h, showError, table, when } from './dom.js';

const USERS = '/omlmod/v1/users';
const ROLES = ['developer', 'admin'];

export async function usersPage() {
  const me = api.user();
  if (!me.admin) {
    return h('section', {}, h('h1', {}, 'Users'), h('p', {}, 'Only administrators manage users.'));
  }
  const holder = h('section', {});
  const accounts = h('div', {});
  const draw = async () => {
    const answer = await api.call('GET', USERS);
    clear(accounts, table(['User', 'Role', 'State', 'Database role', 'Created', 'Actions'],
      answer.items.map((u) => userRow(u, me.name, draw)), 'Every user of the service'));
  };
  await draw();
  const grants = await grantsTable();
  clear(holder,
    h('h1', {}, 'Users'),
    addForm(draw),
    h('h2', {}, 'Accounts'),
    h('p', {}, 'Disabling a user, resetting their password or changing their role ends the sessions they hold.'),
    accounts,
    h('h2', {}, 'Who holds which model'),
    h('p', {}, 'Grant or revoke VIEW on a model’s page.'),
    grants);
  return holder;
}

function addForm(redraw) {
  const inputs = {
    name: h('input', { name: 'name', required: true, maxlength: 128, autocomplete: 'off', pattern: '[A-Za-z][A-Za-z0-9_$#]{0,127}' }),
    password: h('input', { name: 'password', type: 'password', required: true, minlength: 8, maxlength: 256, autocomplete: 'new-password' }),
    role: h('select', { name: 'role' }, ROLES.map((r) => h('option', { value: r }, r))),
    dbRole: h('input', { name: 'dbRole', maxlength: 63, autocomplete: 'off' }),
  };
  const slot = errorSlot();
  const submit = h('button', { type: 'submit', id: 'add-user' }, 'Add user');
  const form = h('form', { class: 'card', 'aria-labelledby': 'add-user-title', novalidate: true },
    h('h2', { id: 'add-user-title' }, 'Add a user'),
    h('div', { class: 'grid' },
      field('User name', inputs.name, 'A letter, then letters, digits, _, $ or #.'),
      field('Password', inputs.password, 'At least 8 characters.'),
      field('Role', inputs.role),
      field('Database role', inputs.dbRole, 'Optional: the identity their jobs run as (default: the name).')),
    slot, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    showError(slot, null);
    const request = { name: inputs.name.value.trim(), password: inputs.password.value, role: inputs.role.value };
    if (inputs.dbRole.value.trim()) request.dbRole = inputs.dbRole.value.trim();
    busy(submit, api.call('POST', USERS, { json: request })
      .then(() => { form.reset(); return redraw(); })
      .catch((error) => showError(slot, error)));
  });
  return form;
}

function userRow(user, myName, redraw) {
  const slot = errorSlot();
  const path = `${USERS}/${api.seg(user.name)}`;
  const change = (control, body) => {
    showError(slot, null);
    return busy(control, api.call('POST', path, { json: body }).then(() => redraw()).catch((error) => showError(slot, error)));
  };
  const self = user.name === myName;
  const role = h('select', { 'aria-label': `Role of ${user.name}`, disabled: self, 'data-user': user.name },
    ROLES.map((r) => h('option', { value: r, selected: r === user.role }, r)));
  role.addEventListener('change', () => change(role, { role: role.value }));
  const toggle = h('button', {
    type: 'button', class: 'secondary', disabled: self, 'data-user': user.name,
    'aria-label': `${user.enabled ? 'Disable' : 'Enable'} ${user.name}`,
  }, user.enabled ? 'Disable' : 'Enable');
  toggle.addEventListener('click', () => change(toggle, { enabled: !user.enabled }));
  const password = h('input', { type: 'password', minlength: 8, maxlength: 256, autocomplete: 'new-password',
    placeholder: 'new password', 'aria-label': `New password for ${user.name}` });
  const reset = h('button', { type: 'submit', class: 'secondary' }, 'Reset password');
  const resetForm = h('form', { class: 'inline' }, password, reset);
  resetForm.addEventListener('submit', (event) => {
    event.preventDefault();
    change(reset, { password: password.value });
  });
  return [
    h('strong', {}, user.name),
    self ? user.role : role,
    h('span', { class: user.enabled ? 'state enabled' : 'state disabled' }, user.enabled ? 'enabled' : 'disabled'),
    user.dbRole || h('span', { class: 'hint' }, '(default)'),
    when(user.createdOn),
    h('div', { class: 'actions' }, self ? h('span', { class: 'hint' }, 'you') : toggle, resetForm, slot),
  ];
}

async function grantsTable() {
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
  return table(['User', 'Owns', 'Granted VIEW on'], rows, 'Owners and grants of the models listed (first 100)');
}
