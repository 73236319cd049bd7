// Deployments: the list, deploy, undeploy, and a deployment's page with its scorer and its OpenAPI
// document in Swagger UI (try-it-out sends the console's token).
import * as api from './api.js';
import { go } from './router.js';
import { busy, errorSlot, field, h, showError, table, when } from './dom.js';
import { pager, PAGE_SIZE } from './models.js';
import { scorer } from './scorer.js';

const DEPLOYMENTS = '/omlmod/v1/deployment';

export async function deploymentsPage(params) {
  const [answer, models] = await Promise.all([
    api.call('GET', DEPLOYMENTS + api.query({ offset: params.get('offset'), limit: PAGE_SIZE })),
    api.call('GET', '/omlmod/v1/models?limit=100'),
  ]);
  const me = api.user();
  const rows = answer.items.map((d) => {
    const slot = errorSlot();
    const undeploy = h('button', { type: 'button', class: 'danger', 'aria-label': `Undeploy ${d.uri}` }, 'Undeploy');
    undeploy.addEventListener('click', () => {
      if (!window.confirm(`Undeploy ${d.uri}?`)) return;
      busy(undeploy, api.call('DELETE', `${DEPLOYMENTS}/${api.seg(d.uri)}`).then(() => go('/deployments', {}))
        .catch((error) => showError(slot, error)));
    });
    const mine = me.admin || d.createdBy === me.name;
    return [h('a', { href: `#/deployments/${api.seg(d.uri)}` }, d.uri), `${d.modelName} ${d.version}`, d.modelType,
      d.createdBy, when(d.deployedOn), mine ? [undeploy, slot] : ''];
  });
  return h('section', {},
    h('h1', {}, 'Deployments'),
    deployForm(models.items.filter((m) => me.admin || m.createdBy === me.name)),
    h('h2', {}, 'Deployed models'),
    table(['URI', 'Model', 'Type', 'Owner', 'Deployed', ''], rows),
    pager('/deployments', params, answer));
}

function deployForm(models) {
  const model = h('select', { name: 'modelId', required: true },
    models.map((m) => h('option', { value: m.modelId }, `${m.modelName} ${m.version}`)));
  const uri = h('input', { name: 'uri', required: true, maxlength: 200 });
  const slot = errorSlot();
  const submit = h('button', { type: 'submit', disabled: !models.length }, 'Deploy');
  const form = h('form', { class: 'card inline', 'aria-labelledby': 'deploy-title' },
    h('h2', { id: 'deploy-title' }, 'Deploy a model'),
    field('Model', model), field('URI', uri, 'Letters, digits and _'), slot, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    showError(slot, null);
    busy(submit, api.call('POST', DEPLOYMENTS, { json: { modelId: model.value, uri: uri.value.trim() } })
      .then((answer) => go(`/deployments/${api.seg(answer.uri)}`))
      .catch((error) => showError(slot, error)));
  });
  return form;
}

export async function deploymentPage(uri, tab) {
  const path = `${DEPLOYMENTS}/${api.seg(uri)}`;
  const deployment = await api.call('GET', path);
  const base = `#/deployments/${api.seg(uri)}`;
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Deployment views' },
    h('a', { href: base, 'aria-current': tab === 'scorer' ? 'page' : null }, 'Scorer'),
    h('a', { href: `${base}/api`, 'aria-current': tab === 'api' ? 'page' : null }, 'API (Swagger UI)'));
  const body = tab === 'api' ? await swagger(`${path}/api`) : scorer(deployment, `${path}/score`);
  return h('section', {},
    h('p', { class: 'crumbs' }, h('a', { href: '#/deployments' }, 'Deployments'), ' / '),
    h('h1', {}, deployment.uri),
    h('p', {}, 'Serves ', h('a', { href: `#/models/${api.seg(deployment.modelId)}` }, `${deployment.modelName} ${deployment.version}`),
      ` (${deployment.metadata.miningFunction}, ${deployment.modelType}), deployed ${when(deployment.deployedOn)} by ${deployment.createdBy}.`),
    tabs, body);
}

let swaggerLoaded = null;

function loadSwaggerUi() {
  if (!swaggerLoaded) {
    swaggerLoaded = new Promise((resolve, reject) => {
      document.head.append(h('link', { rel: 'stylesheet', href: '/console/assets/swagger-ui.css' }));
      const script = h('script', { src: '/console/assets/swagger-ui-bundle.js' });
      script.addEventListener('load', () => resolve(window.SwaggerUIBundle));
      script.addEventListener('error', () => {
        swaggerLoaded = null;
        reject(new Error('Swagger UI did not load.'));
      });
      document.head.append(script);
    });
  }
  return swaggerLoaded;
}

async function swagger(documentPath) {
  const [SwaggerUIBundle, spec] = await Promise.all([loadSwaggerUi(), api.call('GET', documentPath)]);
  // try-it-out goes where this page came from (the policy allows no other origin), whatever host
  // name the service believed it was reached by
  spec.servers = [{ url: window.location.origin, description: 'This service' }];
  const node = h('div', { class: 'swagger', id: 'swagger-ui' });
  // Rendered once the node is in the page (the next frame); requests carry the console's token.
  requestAnimationFrame(() => {
    SwaggerUIBundle({
      spec,
      domNode: node,
      deepLinking: false,
      validatorUrl: null,
      tryItOutEnabled: false,
      requestInterceptor: (request) => {
        request.headers.Authorization = `Bearer ${api.token()}`;
        api.noteUse();
        return request;
      },
    });
  });
  return node;
}
