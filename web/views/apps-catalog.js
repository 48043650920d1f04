// The app catalog: every definition rockd can install (read once when the screen opens, and
// again on "Reload", since the catalog is files rather than state), each with its install
// form (apps-install.js); definitions refused for an error are listed with the reason.
import { html } from 'lit';
import { View } from '../lib/view.js';
import { call } from '../lib/api.js';
import './apps-install.js';

customElements.define('rockd-apps-catalog', class extends View {
  static properties = {
    ...View.properties,
    catalog: { state: true },
    problems: { state: true },
    open: { state: true },
  };

  constructor() {
    super();
    this.catalog = null;
    this.problems = [];
    this.open = null;
  }

  connectedCallback() {
    super.connectedCallback();
    this.load();
  }

  async load() {
    const [catalog, problems] = await this.act(() => Promise.all([
      call('GET', '/apps/catalog'), call('GET', '/apps/catalog/problems')])) ?? [null, []];
    if (catalog) this.catalog = catalog;
    this.problems = problems ?? [];
  }

  render() {
    const installed = this.tree?.apps ?? {};
    return html`
      <section class="card">
        <div class="title-row">
          <h2>Catalog</h2>
          <button @click=${() => this.load()} ?disabled=${this.busy}>Reload</button>
        </div>
        ${this.problem()}
        ${this.catalog === null ? html`<p class="muted">Reading the catalog…</p>` : html`
          <div class="app-cards">
            ${this.catalog.map((app) => this.card(app, installed[app.name]))}
          </div>`}
        ${this.problems.length ? html`
          <details class="catalog-problems">
            <summary>${this.problems.length} definition${this.problems.length > 1 ? 's' : ''}
              left out for errors</summary>
            <ul class="plain">${this.problems.map((p) => html`
              <li><strong>${p.app || p.file}</strong>: <small>${p.error}</small></li>`)}</ul>
          </details>` : ''}
      </section>`;
  }

  card(app, installed) {
    const images = app.containers.map((c) => `${c.image}:${c.tag}`).join(', ');
    return html`
      <article class="app-card" data-catalog-app=${app.name}>
        <h3>${app.title}</h3>
        <p>${app.description}</p>
        <p><small><a href=${app.website} target="_blank" rel="noopener noreferrer">${app.website}</a>
          · ${images}</small></p>
        ${this.open === app.name
          ? html`<rockd-app-install .tree=${this.tree} .rev=${this.rev} .definition=${app}
              @closed=${() => { this.open = null; }}></rockd-app-install>`
          : installed ? html`<p><a href="#/apps/${app.name}">Installed</a>
            ${installed.update_available ? html`· <span class="badge">update available</span>` : ''}</p>`
          : html`<div class="actions"><button class="primary"
              @click=${() => { this.open = app.name; }}>Install…</button></div>`}
      </article>`;
  }
});
