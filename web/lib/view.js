// The base of every screen: it draws into the page's own DOM (styled by style.css), is given
// the mirrored state tree by the app, and runs API calls with their errors shown in words.
//
// Messages belong to the action that made them. act() clears the last error and note before
// it starts; typing in or changing any field of the screen clears them too, and so does moving
// to another object (a new `id`). Each action or edit also clears the messages of every other
// view on the page (the window's `rockd-action` event): one message at a time, the latest. An error that names a field (the API's `detail.field`, or a
// field the browser refused) is shown at that field by fieldError(name), not by problem().
// A field the browser refuses (pattern, range) is explained by its `title`: the rule in words.
import { LitElement, html } from 'lit';

// Field checks the browser makes that the field's title explains in words
const RULE_BROKEN = ['patternMismatch', 'typeMismatch', 'rangeUnderflow', 'rangeOverflow',
  'stepMismatch', 'tooShort', 'tooLong'];

// A screen's methods must not take the names of the DOM's own (remove, before, after...):
// Lit calls those on the element itself when it takes it off the page.
export class View extends LitElement {
  static properties = {
    tree: { attribute: false },
    rev: { type: Number },
    id: { type: String },
    error: { state: true },
    errorField: { state: true },
    note: { state: true },
    busy: { state: true },
  };

  constructor() {
    super();
    this.tree = {};
    this.error = '';
    this.errorField = '';
    this.note = '';
    this.busy = false;
    this.shownAt = new Set(); // the fields whose error slot this render drew
    this.lastForm = null; // the form submitted last: its fields show the errors
    this.addEventListener('input', (event) => this.edited(event));
    this.addEventListener('change', (event) => this.edited(event));
    // a form of a view nested in this one is that view's to speak for
    this.addEventListener('submit', (event) => {
      if (this.owns(event.target)) this.lastForm = event.target;
    }, true);
    // the refusal is said at the field, not also in the browser's bubble over it
    this.addEventListener('invalid', (event) => {
      if (!this.owns(event.target)) return;
      event.preventDefault();
      this.refused(event.target);
    }, true);
    this.othersActed = (event) => { if (event.detail !== this) this.clearMessages(); };
  }

  connectedCallback() {
    super.connectedCallback();
    window.addEventListener('rockd-action', this.othersActed);
  }

  disconnectedCallback() {
    window.removeEventListener('rockd-action', this.othersActed);
    super.disconnectedCallback();
  }

  // this view starts an action or an edit: the other views' messages are about older ones
  acting() {
    window.dispatchEvent(new CustomEvent('rockd-action', { detail: this }));
  }

  createRenderRoot() {
    return this;
  }

  // whether `element` is this view's own, not a nested view's
  owns(element) {
    for (let el = element; el; el = el.parentElement) {
      if (el instanceof View) return el === this;
    }
    return false;
  }

  willUpdate(changed) {
    // another object's page in the same element: the last one's messages are not about it
    if (changed.has('id') && changed.get('id') !== undefined) this.clearMessages();
  }

  update(changed) {
    this.shownAt = new Set();
    super.update(changed);
  }

  clearMessages() {
    this.error = '';
    this.errorField = '';
    this.note = '';
  }

  // A field's input changed: its own refusal and the last action's messages are done with.
  edited(event) {
    const field = event.target;
    if (!field?.form) return;
    field.setCustomValidity?.('');
    if (this.error || this.note) this.clearMessages();
    this.acting();
  }

  // The browser refused a field on submit: say its rule in words (the field's title) in the
  // browser's bubble and at the field.
  refused(field) {
    const rule = field.title && RULE_BROKEN.some((check) => field.validity?.[check]);
    if (rule) field.setCustomValidity(field.title);
    if (this.errorField) return; // the first refused field of this submit speaks
    field.focus();
    this.lastForm = field.form;
    this.error = rule ? field.title : field.validationMessage;
    this.errorField = field.name ?? '';
  }

  // An error found before any call (a view's own check), shown at `field` when given.
  refuse(message, field = '') {
    this.error = message;
    this.errorField = field;
  }

  // Run one API call (or several); its error is shown at the field it names or by problem().
  // Answers the call's result, or undefined when it failed.
  async act(work) {
    this.busy = true;
    this.clearMessages();
    this.acting();
    try {
      return await work();
    } catch (err) {
      this.refuse(err.message, err.field ?? '');
      return undefined;
    } finally {
      this.busy = false;
    }
  }

  // The error of `name`'s field, placed by the view right after that field's input. Where
  // several forms of the screen have a field of that name, `form` (a class of the form) says
  // which form this one is: the error shows there only when that form was submitted.
  fieldError(name, form = '') {
    if (!this.isAbout(name) || (form && !this.lastForm?.classList.contains(form))) return '';
    this.shownAt.add(this.errorField);
    return html`<small class="field-error" id=${this.errorId(name)} role="alert">${this.error}</small>`;
  }

  errorId(name) {
    return `${this.localName}-${name}-error`;
  }

  // aria-invalid for `name`'s input (of the form of class `form`, as fieldError's)
  invalid(name, form = '') {
    const there = !form || this.lastForm?.classList.contains(form);
    return this.isAbout(name) && there ? 'true' : 'false';
  }

  // whether the error is about field `name` (or a part of it: "ssh_keys.0" is ssh_keys')
  isAbout(name) {
    const field = this.errorField;
    return Boolean(this.error && field && (field === name || field.startsWith(`${name}.`)));
  }

  // The error no field of this render showed (place it after the form's fields).
  problem() {
    if (!this.error || this.shownAt.has(this.errorField)) return '';
    return html`<p class="error" role="alert">${this.error}</p>`;
  }

  // What the last action did, in words.
  notice() {
    return this.note ? html`<p class="ok" role="status">${this.note}</p>` : '';
  }

  branch(name) {
    return Object.values(this.tree?.[name] ?? {});
  }

  poolName(id) {
    return this.tree?.pools?.[id]?.name ?? id ?? '—';
  }

  shareName(id) {
    return this.tree?.shares?.[id]?.name ?? id ?? '—';
  }
}

// A field whose rule is said in words under its label: the rule is the input's description
// (aria-describedby), not part of its name. `input` is the input, made with the id `id`.
export function ruledField(id, title, text, input, error = '') {
  return html`<div class="field"><label for=${id}>${title}</label>
    <small id=${`${id}-rule`}>${text}</small>${input}${error}</div>`;
}

// A form's fields as an object; empty strings are left out so the API's defaults apply.
export function fields(form) {
  const out = {};
  for (const [key, value] of new FormData(form).entries()) {
    if (value !== '') out[key] = value;
  }
  return out;
}
