// Small DOM helpers: elements are built with createElement and text nodes only (never innerHTML),
// so nothing a model name or an API message holds can become markup.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value' || key === 'checked') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let counter = 0;
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

// A labelled control: <div class="field"><label for=id>text</label><control id=id></div>.
export function field(text, control, hint) {
  if (!control.id) control.id = uid('f');
  const parts = [h('label', { for: control.id }, text), control];
  if (hint) {
    const hintId = uid('hint');
    control.setAttribute('aria-describedby', hintId);
    parts.push(h('small', { id: hintId, class: 'hint' }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

// The place an error is shown, next to the control or form that caused it.
export function errorSlot() {
  return h('div', { class: 'error', role: 'alert', 'aria-live': 'assertive', hidden: true });
}

export function showError(slot, error) {
  if (!error) {
    slot.hidden = true;
    slot.replaceChildren();
    return;
  }
  const parts = [h('strong', {}, error.code ? `${error.code}: ` : 'Error: '), error.message || String(error)];
  if (error.details && error.details.length) {
    parts.push(h('ul', { class: 'problems' }, error.details.map((d) => h('li', {}, String(d)))));
  }
  clear(slot, parts);
  slot.hidden = false;
}

export function table(headers, rows, caption) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.length ? rows.map((cells) => h('tr', {}, cells.map((c) => h('td', {}, c))))
        : h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, 'Nothing here yet.')))));
}

export function when(text) {
  if (!text) return '';
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? text : d.toLocaleString();
}

export function busy(button, promise) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  return promise.finally(() => {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  });
}
