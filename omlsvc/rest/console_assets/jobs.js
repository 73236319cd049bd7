// Jobs: the list, a scoring job created from a form, run now, enable/disable, stop, delete, and the
// runs with their status, row counts, durations and errors (watched while one is in flight).
import * as api from './api.js';
import { go, route } from './router.js';
import { busy, clear, errorSlot, field, h, showError, table, when } from './dom.js';
import { pager, PAGE_SIZE } from './models.js';

const JOBS = '/omlmod/v1/jobs';
const IN_FLIGHT = ['PENDING', 'RUNNING'];

export async function jobsPage(params) {
  const filters = { jobName: params.get('jobName') || '' };
  const answer = await api.call('GET', JOBS + api.query({ ...filters, offset: params.get('offset'), limit: PAGE_SIZE }));
  const name = h('input', { name: 'jobName', value: filters.jobName });
  const filterForm = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter jobs' }, field('Job name', name),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter')));
  filterForm.addEventListener('submit', (event) => {
    event.preventDefault();
    go('/jobs', { jobName: name.value.trim() });
  });
  const rows = answer.items.map((j) => [
    h('a', { href: `#/jobs/${api.seg(j.jobId)}` }, j.jobRequest.jobProperties.jobName), j.state,
    j.enabled ? 'yes' : 'no', j.lastRunStatus || '', String(j.runCount), when(j.nextRunDate), when(j.dateSubmitted)]);
  return h('section', {},
    h('h1', {}, 'Jobs'),
    h('p', {}, h('a', { class: 'button', href: '#/jobs/new' }, 'New scoring job')),
    filterForm,
    table(['Name', 'State', 'Enabled', 'Last run', 'Runs', 'Next run', 'Submitted'], rows),
    pager('/jobs', params, answer));
}

export async function newJobPage(params) {
  const models = await api.call('GET', '/omlmod/v1/models?limit=100');
  const text = (name, attrs = {}) => h('input', { name, maxlength: 128, ...attrs });
  const inputs = {
    jobName: text('jobName', { required: true }),
    modelId: h('select', { name: 'modelId', required: true },
      models.items.map((m) => h('option', { value: m.modelId, selected: m.modelId === params.get('modelId') }, `${m.modelName} ${m.version}`))),
    inputData: text('inputData', { required: true }),
    outputData: text('outputData', { required: true }),
    supplemental: text('supplementalColumnNames', { maxlength: 2000 }),
    topN: h('input', { type: 'number', name: 'topN', min: 1, step: 1 }),
    repeatInterval: text('repeatInterval', { maxlength: 200 }),
    jobStartDate: text('jobStartDate', { maxlength: 40 }),
    maxRuns: h('input', { type: 'number', name: 'maxRuns', min: 1, step: 1 }),
  };
  const slot = errorSlot();
  const submit = h('button', { type: 'submit' }, 'Create job');
  const form = h('form', { class: 'card', 'aria-labelledby': 'job-title' },
    h('h1', { id: 'job-title' }, 'New scoring job'),
    h('div', { class: 'grid' },
      field('Job name', inputs.jobName), field('Model', inputs.modelId),
      field('Input table or view', inputs.inputData, 'In the service database; the job reads it as you.'),
      field('Output table', inputs.outputData, 'Created as {jobId}_{name}.'),
      field('Supplemental columns', inputs.supplemental, 'Comma-separated, copied to the output.'),
      field('Top N', inputs.topN, 'Optional.'),
      field('Repeat interval', inputs.repeatInterval, 'Optional, e.g. FREQ=DAILY;BYHOUR=2'),
      field('First run', inputs.jobStartDate, 'Optional ISO date-time, e.g. 2030-01-01T02:00:00Z'),
      field('Max runs', inputs.maxRuns, 'Optional.')),
    slot, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    showError(slot, null);
    const properties = { jobName: inputs.jobName.value.trim(), jobType: 'MODEL_SCORING', modelId: inputs.modelId.value,
      inputData: inputs.inputData.value.trim(), outputData: inputs.outputData.value.trim() };
    const supplemental = inputs.supplemental.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (supplemental.length) properties.supplementalColumnNames = supplemental;
    if (inputs.topN.value) properties.topN = Number(inputs.topN.value);
    const schedule = {};
    if (inputs.repeatInterval.value.trim()) schedule.repeatInterval = inputs.repeatInterval.value.trim();
    if (inputs.jobStartDate.value.trim()) schedule.jobStartDate = inputs.jobStartDate.value.trim();
    if (inputs.maxRuns.value) schedule.maxRuns = Number(inputs.maxRuns.value);
    const request = { jobProperties: properties };
    if (Object.keys(schedule).length) request.jobSchedule = schedule;
    busy(submit, api.call('POST', JOBS, { json: request })
      .then((answer) => go(`/jobs/${api.seg(answer.jobId)}`))
      .catch((error) => showError(slot, error)));
  });
  return form;
}

export async function jobPage(jobId) {
  const path = `${JOBS}/${api.seg(jobId)}`;
  const holder = h('section', {});
  const slot = errorSlot();
  let watcher = null;
  const stillHere = () => route().page === 'jobs' && route().parts[1] === jobId && document.body.contains(holder);

  const act = (button, action) => busy(button, api.call('POST', `${path}/action`, { json: { action } })
    .then(() => draw()).catch((error) => showError(slot, error)));

  const draw = async () => {
    const [job, runs] = await Promise.all([api.call('GET', path), api.call('GET', `${path}/runs`)]);
    const properties = job.jobRequest.jobProperties;
    const run = h('button', { type: 'button', onclick: (e) => act(e.target, 'RUN') }, 'Run now');
    const toggle = h('button', { type: 'button', class: 'secondary', onclick: (e) => act(e.target, job.enabled ? 'DISABLE' : 'ENABLE') },
      job.enabled ? 'Disable' : 'Enable');
    const stop = h('button', { type: 'button', class: 'secondary', onclick: (e) => act(e.target, 'STOP') }, 'Stop');
    const remove = h('button', { type: 'button', class: 'danger' }, 'Delete job');
    remove.addEventListener('click', () => {
      if (!window.confirm(`Delete job ${properties.jobName} and its output table?`)) return;
      busy(remove, api.call('DELETE', `${path}?dropOutputTable=true`).then(() => go('/jobs')).catch((error) => showError(slot, error)));
    });
    const inFlight = runs.some((r) => IN_FLIGHT.includes(r.jobRunStatus));
    // the page is redrawn while a run is watched: keep the keyboard focus on the same control
    const focused = holder.contains(document.activeElement) ? document.activeElement.textContent : null;
    const runRows = runs.map((r) => [h('span', { class: `run-status ${r.jobRunStatus.toLowerCase()}` }, r.jobRunStatus),
      String(r.rowsScored ?? ''), r.duration || (IN_FLIGHT.includes(r.jobRunStatus) ? '…' : ''), when(r.requestedStartDate),
      when(r.actualStartDate), r.errorMessage || '']);
    clear(holder,
      h('p', { class: 'crumbs' }, h('a', { href: '#/jobs' }, 'Jobs'), ' / '),
      h('h1', {}, properties.jobName),
      h('dl', { class: 'facts' },
        [['Job id', h('code', {}, job.jobId)], ['State', job.state], ['Enabled', job.enabled ? 'yes' : 'no'],
          ['Model', h('a', { href: `#/models/${api.seg(properties.modelId)}` }, properties.modelId)],
          ['Input', properties.inputData], ['Output', properties.outputData], ['Runs', String(job.runCount)],
          ['Next run', when(job.nextRunDate)], ['Last run', job.lastRunStatus || '']]
          .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      h('div', { class: 'actions' }, run, toggle, inFlight ? stop : null, remove),
      slot,
      h('h2', {}, 'Runs'),
      inFlight ? h('progress', { 'aria-label': 'A run is in progress' }) : null,
      table(['Status', 'Rows scored', 'Duration', 'Requested', 'Started', 'Error'], runRows, 'Runs, newest first'));
    if (focused) {
      const again = [...holder.querySelectorAll('button, a')].find((el) => el.textContent === focused);
      if (again) again.focus();
    }
    clearTimeout(watcher);
    if (inFlight) watcher = setTimeout(() => (stillHere() ? draw().catch((error) => showError(slot, error)) : null), 1000);
  };
  await draw();
  return holder;
}
