// The scorer: a form generated from the deployment's signature (a few rows, or pasted CSV), or an
// image picker with a preview for image models; results as bar charts and the raw JSON answer.
import * as api from './api.js';
import { busy, clear, errorSlot, field, h, showError } from './dom.js';

const MAX_ROWS = 1000;

function featureCount(attribute) {
  const shape = attribute.shape || [];
  return shape.length === 2 && typeof shape[1] === 'number' && shape[1] > 0 ? shape[1] : 1;
}

// One column of the form per feature of each input, in signature order.
function columnsOf(attributes) {
  return attributes.flatMap((a) => {
    const k = featureCount(a);
    const type = String(a.attributeType || '').toLowerCase();
    return Array.from({ length: k }, (_, i) => ({ input: a.name, type, label: k > 1 ? `${a.name}[${i}]` : a.name }));
  });
}

function valueOf(column, text, where) {
  const value = text.trim();
  if (column.type === 'string') return value;
  if (value === '') throw new Error(`${where}: ${column.label} is empty.`);
  if (column.type === 'bool') return ['true', '1', 'yes'].includes(value.toLowerCase());
  const number = Number(value);
  if (!Number.isFinite(number)) throw new Error(`${where}: ${column.label} must be a number, not ${JSON.stringify(value)}.`);
  return number;
}

function recordOf(columns, texts, where) {
  if (texts.length !== columns.length) throw new Error(`${where}: ${texts.length} values for ${columns.length} columns.`);
  const record = {};
  columns.forEach((column, i) => {
    record[column.input] = record[column.input] || [[]];
    record[column.input][0].push(valueOf(column, texts[i], where));
  });
  return record;
}

export function parseCsv(text, columns) {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const records = [];
  lines.forEach((line, index) => {
    const cells = line.split(',');
    const isHeader = index === 0 && columns.some((c, i) => c.type !== 'string' && cells[i] !== undefined && Number.isNaN(Number(cells[i])));
    if (!isHeader) records.push(recordOf(columns, cells, `CSV line ${index + 1}`));
  });
  if (records.length > MAX_ROWS) throw new Error(`At most ${MAX_ROWS} records at a time.`);
  return records;
}

export function scorer(deployment, scorePath) {
  return deployment.modelType === 'ONNX_IMG' ? imageScorer(deployment, scorePath) : tabularScorer(deployment, scorePath);
}

function topNField(deployment) {
  const fn = deployment.metadata.miningFunction;
  if (fn !== 'classification' && fn !== 'clustering') return null;
  return h('input', { type: 'number', name: 'topN', min: 1, step: 1, inputmode: 'numeric' });
}

function tabularScorer(deployment, scorePath) {
  const columns = columnsOf(deployment.metadata.attributes);
  const body = h('tbody', {});
  const addRow = () => {
    const cells = columns.map((c) => {
      const input = h('input', { class: 'cell', 'aria-label': `${c.label}, row ${body.children.length + 1}`,
        inputmode: c.type === 'string' ? 'text' : 'decimal' });
      return h('td', {}, input);
    });
    const remove = h('button', { type: 'button', class: 'secondary', 'aria-label': 'Remove row' }, '×');
    const row = h('tr', {}, cells, h('td', {}, remove));
    remove.addEventListener('click', () => row.remove());
    body.append(row);
  };
  addRow();
  const grid = h('div', { class: 'table-wrap' }, h('table', { class: 'rows' },
    h('caption', {}, 'Records to score'),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, `${c.label} (${c.type})`)), h('th', {}, ''))),
    body));
  const csv = h('textarea', { name: 'csv', rows: 4, spellcheck: 'false' });
  const topN = topNField(deployment);
  const slot = errorSlot();
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Score');
  const form = h('form', { class: 'card scorer', 'aria-labelledby': 'scorer-title' },
    h('h2', { id: 'scorer-title' }, 'Score records'),
    grid,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', onclick: addRow }, 'Add row')),
    field('Or paste CSV', csv, `One record per line, ${columns.length} values in the column order above; a header line is skipped.`),
    topN ? field('Top N', topN, 'Only the best N classes or clusters (optional).') : null,
    slot, h('div', { class: 'actions' }, submit), results);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    showError(slot, null);
    let records;
    try {
      records = csv.value.trim() ? parseCsv(csv.value, columns)
        : [...body.children].map((row, i) => recordOf(columns, [...row.querySelectorAll('input.cell')].map((el) => el.value), `Row ${i + 1}`));
      if (!records.length) throw new Error('Add a row or paste CSV first.');
    } catch (error) {
      showError(slot, error);
      return;
    }
    const request = { inputRecords: records };
    if (topN && topN.value) request.topN = Number(topN.value);
    busy(submit, api.call('POST', scorePath, { json: request })
      .then((answer) => showResults(results, answer))
      .catch((error) => {
        clear(results);
        showError(slot, error);
      }));
  });
  return form;
}

function imageScorer(deployment, scorePath) {
  const file = h('input', { type: 'file', name: 'imageData', accept: 'image/*', required: true });
  const preview = h('img', { class: 'preview', alt: 'Preview of the picked image', hidden: true });
  let previewUrl = null;
  file.addEventListener('change', () => {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = file.files.length ? URL.createObjectURL(file.files[0]) : null;
    preview.hidden = !previewUrl;
    if (previewUrl) preview.src = previewUrl;
  });
  const topN = topNField(deployment);
  const slot = errorSlot();
  const results = h('div', { class: 'results', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit' }, 'Score image');
  const form = h('form', { class: 'card scorer', 'aria-labelledby': 'scorer-title' },
    h('h2', { id: 'scorer-title' }, 'Score an image'),
    field('Image', file), preview,
    topN ? field('Top N', topN, 'Only the best N classes (optional).') : null,
    slot, h('div', { class: 'actions' }, submit), results);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    showError(slot, null);
    if (!file.files.length) {
      showError(slot, { message: 'Pick an image first.' });
      return;
    }
    const data = new FormData();
    data.append('imageData', file.files[0]);
    if (topN && topN.value) data.append('topN', topN.value);
    busy(submit, api.call('POST', scorePath, { body: data })
      .then((answer) => showResults(results, answer))
      .catch((error) => {
        clear(results);
        showError(slot, error);
      }));
  });
  return form;
}

function bars(entries, labelKey, valueKey) {
  const top = Math.max(...entries.map((e) => Math.abs(e[valueKey])), 1e-12);
  return h('ul', { class: 'bars' }, entries.map((e) => {
    const fill = h('span', { class: 'fill' });
    fill.style.width = `${Math.max(0, (100 * Math.abs(e[valueKey])) / top).toFixed(1)}%`;
    return h('li', {}, h('span', { class: 'bar-label' }, String(e[labelKey])), h('span', { class: 'bar' }, fill),
      h('span', { class: 'bar-value' }, Number(e[valueKey]).toFixed(4)));
  }));
}

function showResults(holder, answer) {
  const items = (answer && answer.scoringResults) || [];
  const charts = items.map((result, i) => {
    let chart;
    if (result.classifications) chart = bars(result.classifications, 'label', 'probability');
    else if (result.clusters) chart = bars(result.clusters, 'clusterId', 'probability' in (result.clusters[0] || {}) ? 'probability' : 'distance');
    else if ('regression' in result) chart = h('p', { class: 'regression' }, `Prediction: ${result.regression}`);
    else chart = h('p', {}, 'See the JSON below.');
    return h('figure', { class: 'result' }, h('figcaption', {}, `Record ${i + 1}`), chart);
  });
  clear(holder, h('h3', {}, 'Result'), charts, h('h3', {}, 'Raw JSON'),
    h('pre', { class: 'json', id: 'score-json' }, JSON.stringify(answer, null, 2)));
}
