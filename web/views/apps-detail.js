// One installed app (#/apps/{name}): its state and health, its containers as the engine reports
// them, the ports and the shares mapped into it, a link to its web UI, the job working on it,
// and start, stop, restart, update and uninstall.
import { html } from 'lit';
import { View } from '../lib/view.js';
import { call } from '../lib/api.js';
import { when } from '../lib/format.js';
import { go, href } from '../lib/router.js';
import { confirmAction } from '../components/confirm.js';
import { jobRow } from '../components/job-row.js';
import { engineLine, healthBadge, stateBadge, uiUrl } from './apps-common.js';

customElements.define('rockd-app-detail', class extends View {
  get app() {
    return this.tree?.apps?.[this.id];
  }

  async verb(app, verb) {
    if (verb === 'stop' && !await confirmAction({
      title: `Stop ${app.title}?`, message: 'Its containers stop until you start them again.',
      action: 'Stop' })) return;
    await this.act(() => call('POST', `/apps/${app.name}/${verb}`));
  }

  async updateApp(app) {
    await this.act(() => call('POST', `/apps/${app.name}/update`));
  }

  async uninstall(app) {
    const sure = await confirmAction({
      title: `Uninstall ${app.title}?`,
      message: 'Its containers are removed. The shares mapped into it, and every file in them, are kept.',
      action: 'Uninstall', typed: app.name,
    });
    if (sure && await this.act(() => call('DELETE', `/apps/${app.name}`))) go('apps');
  }

  render() {
    const app = this.app;
    if (!app) {
      return html`<section class="card"><p class="crumbs"><a href=${href('apps')}>Apps</a></p>
        <p>No app ${this.id} is installed.</p></section>`;
    }
    const url = uiUrl(app);
    const job = app.job ? this.tree?.jobs?.[app.job] : null;
    const idle = !app.job && this.tree?.['apps-engine']?.state === 'up';
    const running = app.state === 'running';
    return html`
      <section class="card app-detail" data-app=${app.name} data-state=${app.state}>
        <p class="crumbs"><a href=${href('apps')}>Apps</a> ›</p>
        <div class="title-row">
          <h1>${app.title}</h1> ${stateBadge(app.state)} ${healthBadge(app.health)}
        </div>
        <p>${app.description}</p>
        ${this.tree?.['apps-engine']?.state === 'up' ? '' : engineLine(this.tree, this)}
        ${job ? jobRow(job, this) : ''}
        ${this.problem()}
        <div class="actions">
          ${url ? html`<a class="app-open" href=${url} target="_blank" rel="noopener">Open ${app.title}</a>` : ''}
          ${running ? '' : html`<button ?disabled=${!idle || this.busy} @click=${() => this.verb(app, 'start')}>Start</button>`}
          ${app.state === 'stopped' ? '' : html`<button ?disabled=${!idle || this.busy} @click=${() => this.verb(app, 'stop')}>Stop</button>`}
          <button ?disabled=${!idle || this.busy} @click=${() => this.verb(app, 'restart')}>Restart</button>
          <button ?disabled=${!idle || this.busy} @click=${() => this.updateApp(app)}>${app.update_available ? 'Update' : 'Recreate'}</button>
          <button class="danger" ?disabled=${!idle || this.busy} @click=${() => this.uninstall(app)}>Uninstall…</button>
        </div>
        <dl class="app-facts">
          <dt>Installed</dt><dd>${when(app.installed)}</dd>
          ${app.updated ? html`<dt>Updated</dt><dd>${when(app.updated)}</dd>` : ''}
          <dt>Images</dt><dd>${Object.values(app.containers).map((c) => c.image).join(', ')}
            ${app.update_available ? html` <span class="badge">update available</span>` : ''}</dd>
          <dt>Website</dt><dd><a href=${app.website} target="_blank" rel="noopener noreferrer">${app.website}</a></dd>
        </dl>
      </section>
      <section class="card">
        <h2>Containers</h2>
        <table class="wide labelled app-containers">
          <thead><tr><th>Container</th><th>State</th><th>Health</th><th>Since</th><th class="num">Restarts</th></tr></thead>
          <tbody>${Object.entries(app.containers).map(([name, c]) => html`
            <tr data-container=${name} data-state=${c.state}>
              <td><strong>${name}</strong><br><small>${c.name}${c.id ? ` · ${c.id}` : ''}</small></td>
              <td data-label="State">${c.state}${c.exit_code !== null && c.exit_code !== undefined
                ? html` <small>(exit ${c.exit_code})</small>` : ''}</td>
              <td data-label="Health">${healthBadge(c.health) || '—'}</td>
              <td data-label="Since">${when(c.started ?? c.finished)}</td>
              <td class="num" data-label="Restarts">${c.restarts}</td>
            </tr>`)}</tbody>
        </table>
      </section>
      <div class="grid app-mappings">
        <section class="card">
          <h2>Ports</h2>
          ${app.ports.length ? html`<ul class="plain">${app.ports.map((p) => html`
            <li>${p.host}/${p.protocol} → ${p.container_name}:${p.container}
              ${p.label ? html`<small>${p.label}</small>` : ''}${p.ui ? html` <span class="badge">web UI</span>` : ''}</li>`)}</ul>`
          : html`<p class="muted">None published.</p>`}
        </section>
        <section class="card">
          <h2>Shares</h2>
          ${app.volumes.length ? html`<ul class="plain">${app.volumes.map((v) => html`
            <li>${v.container} ← ${v.share_name ? html`<a href=${href('shares', v.share)}>${v.share_name}</a>`
              : html`<span class="error">a share that is gone</span>`}
              <small>${v.label}${v.read_only ? ' · read-only' : ''}</small></li>`)}</ul>`
          : html`<p class="muted">None.</p>`}
        </section>
        ${Object.keys(app.env).length ? html`<section class="card">
          <h2>Settings</h2>
          <dl>${Object.entries(app.env).map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>
          <small>Passwords are not shown.</small>
        </section>` : ''}
      </div>`;
  }
});
