// The install form of one app, generated from its definition: a share for each volume, the host
// port for each port (the definition's default filled in), and each value the definition asks
// for (a password field for secrets, a list for choices, the pattern checked as you type).
// Sent, it becomes a job whose progress (the image pulls) shows here until it ends. While the
// Docker engine is not running, the form says so, Install is off, and the engine can be started
// from here (rockd's docker service).
import { html } from 'lit';
import { View } from '../lib/view.js';
import { call } from '../lib/api.js';
import { byName } from '../lib/format.js';
import { go } from '../lib/router.js';
import { jobRow } from '../components/job-row.js';
import { engineStarting, startEngine } from './apps-common.js';

// the definition's volumes, ports and asked-for variables, each once across its containers
export function asks(definition) {
  const volumes = new Map();
  const ports = [];
  const env = new Map();
  for (const container of definition.containers) {
    for (const v of container.volumes ?? []) if (!volumes.has(v.container)) volumes.set(v.container, v);
    for (const p of container.ports ?? []) ports.push({ ...p, protocol: p.protocol ?? 'tcp', network: container.network ?? 'bridge' });
    for (const e of container.env ?? []) if (e.value === undefined && !env.has(e.name)) env.set(e.name, e);
  }
  return { volumes: [...volumes.values()], ports, env: [...env.values()] };
}

// the POST /apps body from the form's fields (v:/path, p:port/proto, e:NAME)
export function installBody(name, form) {
  const body = { app: name, volumes: {}, ports: {}, env: {} };
  for (const [key, value] of new FormData(form).entries()) {
    const [kind, rest] = [key.slice(0, 2), key.slice(2)];
    if (kind === 'v:') body.volumes[rest] = value;
    else if (kind === 'p:' && value !== '') body.ports[rest] = Number(value);
    else if (kind === 'e:' && value !== '') body.env[rest] = value;
  }
  return body;
}

customElements.define('rockd-app-install', class extends View {
  static properties = { ...View.properties, definition: { attribute: false }, job: { state: true } };

  constructor() {
    super();
    this.definition = null;
    this.job = null;
  }

  async install(event) {
    event.preventDefault();
    const answer = await this.act(() => call('POST', '/apps', installBody(this.definition.name, event.target)));
    if (answer) this.job = answer.job.id;
  }

  close() {
    this.dispatchEvent(new CustomEvent('closed'));
  }

  // the engine's state in words, and a way to start it where rockd runs Docker
  engineNeeded(app) {
    const engine = this.tree?.['apps-engine'];
    if (engine?.state === 'up') return '';
    const starting = engineStarting(this.tree);
    return html`<div class="engine-needed engine-down" role="status" data-engine=${engine?.state ?? 'unknown'}>
      <p><strong>${starting ? 'The Docker engine is starting.' : 'The Docker engine is not running.'}</strong>
        ${app.title} runs in Docker containers, so it can be installed once the engine runs.</p>
      ${startEngine(this.tree, this)}
    </div>`;
  }

  // an error at the field: the API names it one way (env.NAME), the form another (e:NAME)
  errorAt(apiName, formName) {
    return this.fieldError(apiName) || this.fieldError(formName);
  }

  render() {
    const app = this.definition;
    const job = this.job ? this.tree?.jobs?.[this.job] : null;
    if (job) {
      return html`<div class="app-install-job">
        ${jobRow(job, this)}
        ${job.state === 'succeeded' ? html`<div class="actions">
          <button class="primary" @click=${() => go('apps', app.name)}>Open ${app.title}</button></div>` : ''}
        ${job.state === 'failed' || job.state === 'cancelled' ? html`<div class="actions">
          <button @click=${() => { this.job = null; }}>Back to the form</button></div>` : ''}
        ${this.problem()}
      </div>`;
    }
    const { volumes, ports, env } = asks(app);
    const shares = this.branch('shares').sort(byName);
    const engineUp = this.tree?.['apps-engine']?.state === 'up';
    return html`
      ${this.engineNeeded(app)}
      <form class="app-install" @submit=${(e) => this.install(e)}>
        ${volumes.length ? html`<fieldset><legend>Folders: which share each one is</legend>
          ${shares.length ? volumes.map((v) => html`
            <label>${v.label} <small>${v.container}${v.read_only ? ' · read-only' : ''}</small>
              <select name="v:${v.container}" required>
                <option value="">choose a share…</option>
                ${shares.map((s) => html`<option value=${s.id}>${s.name} (${this.poolName(s.pool)})</option>`)}
              </select>
              ${v.description ? html`<small>${v.description}</small>` : ''}
              ${this.errorAt(`volumes.${v.container}`, `v:${v.container}`)}</label>`)
          : html`<p class="muted">This app needs a share: <a href="#/shares">create one</a> first.</p>`}
          <small>A share is only mapped into the app: uninstalling the app leaves its files as they are.</small>
        </fieldset>` : ''}
        ${ports.length ? html`<fieldset><legend>Ports on this box</legend>
          <div class="form-grid">${ports.map((p) => html`
            <label>${p.label ?? `Port ${p.container}`} <small>${p.container}/${p.protocol}${p.ui ? ' · web UI' : ''}</small>
              <input name="p:${p.container}/${p.protocol}" type="number" min="1" max="65535"
                value=${p.host} required ?readonly=${p.network === 'host'}>
              ${this.errorAt(`ports.${p.container}`, `p:${p.container}/${p.protocol}`)}</label>`)}</div>
        </fieldset>` : ''}
        ${env.length ? html`<fieldset><legend>Settings</legend>
          <div class="form-grid">${env.map((e) => this.field(e))}</div>
        </fieldset>` : ''}
        ${this.problem()}
        <div class="actions">
          <button class="primary" ?disabled=${this.busy || !engineUp || (volumes.length && !shares.length)}>Install ${app.title}</button>
          <button type="button" @click=${() => this.close()}>Cancel</button>
        </div>
      </form>`;
  }

  field(e) {
    const label = html`${e.label}${e.required ? '' : html` <small>optional</small>`}`;
    if (e.choices) {
      return html`<label>${label}
        <select name="e:${e.name}" ?required=${e.required}>
          ${e.required ? '' : html`<option value="">—</option>`}
          ${e.choices.map((c) => html`<option value=${c} ?selected=${c === e.default}>${c}</option>`)}
        </select>${e.description ? html`<small>${e.description}</small>` : ''}
        ${this.errorAt(`env.${e.name}`, `e:${e.name}`)}</label>`;
    }
    return html`<label>${label}
      <input name="e:${e.name}" type=${e.secret ? 'password' : 'text'} autocomplete="off"
        .value=${e.default ?? ''} pattern=${e.pattern ?? '.*'} ?required=${e.required}
        maxlength="1000" title=${e.pattern ? `must match ${e.pattern}` : ''}>${e.description ? html`<small>${e.description}</small>` : ''}
        ${this.errorAt(`env.${e.name}`, `e:${e.name}`)}</label>`;
  }
});
