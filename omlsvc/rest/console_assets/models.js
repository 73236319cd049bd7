// Models: the list (filters and paging as the API offers them), upload with progress and the
// validation problems listed, a model's details, download, delete, grants and deploy.
import * as api from './api.js';
import { go } from './router.js';
import { busy, clear, errorSlot, field, h, showError, table, when } from './dom.js';

const MODELS = '/omlmod/v1/models';
export const PAGE_SIZE = 20;

export function pager(base, params, answer) {
  const offset = Number(params.get('offset') || 0);
  const keep = Object.fromEntries(params.entries());
  const prev = h('button', { type: 'button', class: 'secondary', disabled: offset <= 0,
    onclick: () => go(base, { ...keep, offset: Math.max(0, offset - PAGE_SIZE) || '' }) }, '← Previous');
  const next = h('button', { type: 'button', class: 'secondary', disabled: !api.hasNext(answer),
    onclick: () => go(base, { ...keep, offset: offset + PAGE_SIZE }) }, 'Next →');
  return h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev,
    h('span', {}, `Items ${offset + 1}–${offset + answer.items.length}`), next);
}

export async function modelsPage(params) {
  const filters = { modelName: params.get('modelName') || '', version: params.get('version') || '',
    namespace: params.get('namespace') || '' };
  const answer = await api.call('GET', MODELS + api.query({ ...filters, offset: params.get('offset'), limit: PAGE_SIZE }));

  const inputs = Object.fromEntries(Object.entries(filters).map(([k, v]) => [k, h('input', { name: k, value: v })]));
  const filterForm = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter models' },
    field('Name', inputs.modelName), field('Version', inputs.version), field('Namespace', inputs.namespace),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter'),
      h('button', { type: 'button', class: 'secondary', onclick: () => go('/models') }, 'Clear')));
  filterForm.addEventListener('submit', (event) => {
    event.preventDefault();
    go('/models', Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()])));
  });

  const rows = answer.items.map((m) => [
    h('a', { href: `#/models/${api.seg(m.modelId)}` }, m.modelName),
    m.version, m.namespace || '', m.modelType, m.shared ? 'yes' : 'no', m.createdBy, when(m.storedOn),
  ]);
  return h('section', {},
    h('h1', {}, 'Models'),
    uploadForm(),
    h('h2', {}, 'Stored models'),
    filterForm,
    table(['Name', 'Version', 'Namespace', 'Type', 'Shared', 'Owner', 'Stored'], rows),
    pager('/models', params, answer));
}

function uploadForm() {
  const file = h('input', { type: 'file', name: 'modelData', accept: '.zip,application/zip', required: true });
  const name = h('input', { name: 'modelName', required: true, maxlength: 128 });
  const version = h('input', { name: 'version', required: true, maxlength: 64 });
  const namespace = h('input', { name: 'namespace', maxlength: 128 });
  const description = h('input', { name: 'description', maxlength: 4000 });
  const type = h('select', { name: 'modelType' }, h('option', { value: 'ONNX' }, 'ONNX (tabular)'),
    h('option', { value: 'ONNX_IMG' }, 'ONNX_IMG (images)'));
  const shared = h('input', { type: 'checkbox', name: 'shared' });
  const progress = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const status = h('p', { class: 'status', role: 'status' });
  const slot = errorSlot();
  const chosen = h('span', { class: 'chosen', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Upload');

  const zone = h('div', { class: 'drop-zone' },
    h('p', {}, h('label', { for: 'upload-file' }, 'Drop a model zip here, or choose one:')),
    file, chosen);
  file.id = 'upload-file';
  const pick = (picked) => {
    chosen.textContent = picked ? `${picked.name} (${picked.size} bytes)` : '';
    if (picked && !name.value) name.value = picked.name.replace(/\.zip$/i, '');
  };
  file.addEventListener('change', () => pick(file.files[0]));
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    if (event.dataTransfer.files.length) {
      file.files = event.dataTransfer.files;
      pick(file.files[0]);
    }
  });

  const form = h('form', { class: 'card upload', 'aria-labelledby': 'upload-title' },
    h('h2', { id: 'upload-title' }, 'Upload a model'),
    zone,
    h('div', { class: 'grid' }, field('Name', name), field('Version', version), field('Namespace', namespace),
      field('Type', type), field('Description', description),
      h('div', { class: 'field check' }, shared, h('label', { for: shared.id = 'upload-shared' }, 'Shared with every user'))),
    progress, status, slot,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    showError(slot, null);
    if (!file.files.length) {
      showError(slot, { message: 'Choose a model zip first.' });
      return;
    }
    const data = new FormData();
    data.append('modelName', name.value.trim());
    data.append('version', version.value.trim());
    data.append('modelType', type.value);
    if (namespace.value.trim()) data.append('namespace', namespace.value.trim());
    if (description.value.trim()) data.append('description', description.value.trim());
    data.append('shared', shared.checked ? 'true' : 'false');
    data.append('modelData', file.files[0]);
    progress.hidden = false;
    progress.value = 0;
    status.textContent = 'Uploading…';
    const sent = api.upload(MODELS, data, (loaded, total) => {
      progress.value = Math.round((100 * loaded) / total);
      if (loaded >= total) status.textContent = 'Checking the model…';
    });
    busy(submit, sent)
      .then((answer) => {
        status.textContent = 'Stored.';
        go(`/models/${api.seg(answer.modelId)}`);
      })
      .catch((error) => {
        progress.hidden = true;
        status.textContent = '';
        showError(slot, error);
      });
  });
  return form;
}

function definitionList(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function tensors(caption, list) {
  return table(['Name', 'Type', 'Shape'], (list || []).map((t) => [t.name, t.attributeType,
    t.shape ? `[${t.shape.map((d) => (d === null ? 'N' : d)).join(', ')}]` : '']), caption);
}

export async function modelPage(modelId) {
  const path = `${MODELS}/${api.seg(modelId)}`;
  const [model, metadata] = await Promise.all([api.call('GET', path), api.call('GET', `${path}/metadata`)]);
  const me = api.user();
  const manages = me.admin || model.createdBy === me.name;

  const downloadSlot = errorSlot();
  const download = h('button', { type: 'button', class: 'secondary' }, 'Download zip');
  download.addEventListener('click', () => busy(download, api.call('GET', `${path}/content`, { raw: true })
    .then(async (response) => {
      const url = URL.createObjectURL(await response.blob());
      const a = h('a', { href: url, download: `${model.modelName}-${model.version}.zip` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    })
    .catch((error) => showError(downloadSlot, error))));

  const deleteSlot = errorSlot();
  const remove = h('button', { type: 'button', class: 'danger' }, 'Delete model');
  remove.addEventListener('click', () => {
    if (!window.confirm(`Delete ${model.modelName} ${model.version}?`)) return;
    busy(remove, api.call('DELETE', path).then(() => go('/models')).catch((error) => showError(deleteSlot, error)));
  });

  const extras = ['variants', 'profiles'].filter((k) => model[k] !== undefined)
    .map((k) => h('section', {}, h('h2', {}, k[0].toUpperCase() + k.slice(1)), h('pre', { class: 'json' }, JSON.stringify(model[k], null, 2))));

  return h('section', {},
    h('p', { class: 'crumbs' }, h('a', { href: '#/models' }, 'Models'), ' / '),
    h('h1', {}, `${model.modelName} ${model.version}`),
    definitionList([['Model id', h('code', {}, model.modelId)], ['Type', model.modelType],
      ['Function', metadata.miningFunction], ['Namespace', model.namespace], ['Description', model.description],
      ['Owner', model.createdBy], ['Shared', model.shared ? 'with every user' : 'no'], ['Stored', when(model.storedOn)],
      ['Users', (model.users || []).map((u) => `${u.username} (${u.permission})`).join(', ')]]),
    h('div', { class: 'actions' }, download, manages ? remove : null),
    downloadSlot, deleteSlot,
    h('h2', {}, 'Inputs'), tensors('Inputs', metadata.attributes),
    h('h2', {}, 'Outputs'), tensors('Outputs', metadata.outputs),
    metadata.labels ? [h('h2', {}, 'Labels'), h('ol', { class: 'labels' }, metadata.labels.map((l) => h('li', {}, l)))] : null,
    extras,
    manages ? deployForm(model.modelId) : null,
    manages ? await grantsSection(path) : null);
}

function deployForm(modelId) {
  const uri = h('input', { name: 'uri', required: true, maxlength: 200 });
  const slot = errorSlot();
  const submit = h('button', { type: 'submit' }, 'Deploy');
  const form = h('form', { class: 'card inline', 'aria-labelledby': 'deploy-title' },
    h('h2', { id: 'deploy-title' }, 'Deploy'), field('URI', uri, 'Letters, digits and _'), slot,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    showError(slot, null);
    busy(submit, api.call('POST', '/omlmod/v1/deployment', { json: { modelId, uri: uri.value.trim() } })
      .then((answer) => go(`/deployments/${api.seg(answer.uri)}`))
      .catch((error) => showError(slot, error)));
  });
  return form;
}

async function grantsSection(path) {
  const holder = h('section', { class: 'card', 'aria-labelledby': 'grants-title' });
  const refresh = async () => {
    const grants = await api.call('GET', `${path}/grants`);
    const slot = errorSlot();
    const userInput = h('input', { name: 'user', required: true, maxlength: 128 });
    const add = h('button', { type: 'submit' }, 'Grant VIEW');
    const form = h('form', { class: 'inline' }, field('User', userInput), h('div', { class: 'actions' }, add));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      busy(add, api.call('POST', `${path}/grants`, { json: { user: userInput.value.trim(), permission: 'VIEW' } })
        .then(refresh).catch((error) => showError(slot, error)));
    });
    const rows = grants.items.map((g) => [g.username, g.permission, g.grantedBy, when(g.grantedOn),
      h('button', { type: 'button', class: 'secondary', 'aria-label': `Revoke ${g.username}`,
        onclick: (event) => busy(event.target, api.call('DELETE', `${path}/grants/${api.seg(g.username)}`)
          .then(refresh).catch((error) => showError(slot, error))) }, 'Revoke')]);
    clear(holder, h('h2', { id: 'grants-title' }, 'Grants'),
      table(['User', 'Permission', 'Granted by', 'Granted on', ''], rows), form, slot);
  };
  await refresh();
  return holder;
}
