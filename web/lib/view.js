// The base of every screen: it draws into the page's own DOM (styled by style.css), is given
// the mirrored state tree by the app, and runs API calls with their errors shown in words.
import { LitElement, html } from 'lit';

// A screen's methods must not take the names of the DOM's own (remove, before, after...):
// Lit calls those on the element itself when it takes it off the page.
export class View extends LitElement {
  static properties = {
    tree: { attribute: false },
    rev: { type: Number },
    id: { type: String },
    error: { state: true },
    busy: { state: true },
  };

  constructor() {
    super();
    this.tree = {};
    this.error = '';
    this.busy = false;
  }

  createRenderRoot() {
    return this;
  }

  // Run one API call (or several); its error's message is shown by problem(). Answers the
  // call's result, or undefined when it failed.
  async act(work) {
    this.busy = true;
    this.error = '';
    try {
      return await work();
    } catch (err) {
      this.error = err.message;
      return undefined;
    } finally {
      this.busy = false;
    }
  }

  problem() {
    return this.error ? html`<p class="error" role="alert">${this.error}</p>` : '';
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

// A form's fields as an object; empty strings are left out so the API's defaults apply.
export function fields(form) {
  const out = {};
  for (const [key, value] of new FormData(form).entries()) {
    if (value !== '') out[key] = value;
  }
  return out;
}
