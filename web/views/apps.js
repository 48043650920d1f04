// Apps (#/apps): the Docker engine's state, the installed apps with their containers' states
// and a link to each app's own UI, and the catalog with its install forms (apps-catalog.js);
// #/apps/{name} is one installed app (apps-detail.js).
import { html } from 'lit';
import { View } from '../lib/view.js';
import { byName } from '../lib/format.js';
import { href } from '../lib/router.js';
import { engineLine, healthBadge, stateBadge, uiUrl } from './apps-common.js';
import './apps-catalog.js';
import './apps-detail.js';

customElements.define('rockd-apps', class extends View {
  render() {
    if (this.id) {
      return html`<rockd-app-detail .tree=${this.tree} .rev=${this.rev} .id=${this.id}>
        </rockd-app-detail>`;
    }
    const apps = this.branch('apps').sort(byName);
    return html`
      <section class="card">
        <h1>Apps</h1>
        ${engineLine(this.tree, this)}
        ${this.problem()}
        ${apps.length ? html`
          <table class="wide labelled apps">
            <thead><tr><th>App</th><th>State</th><th>Containers</th><th>Web UI</th></tr></thead>
            <tbody>${apps.map((app) => this.row(app))}</tbody>
          </table>`
        : html`<p class="muted">No apps installed yet. Apps run in containers beside your data:
            pick one from the catalog below and map its folders to your shares.</p>`}
      </section>
      <rockd-apps-catalog .tree=${this.tree} .rev=${this.rev}></rockd-apps-catalog>`;
  }

  row(app) {
    const url = uiUrl(app);
    const containers = Object.entries(app.containers ?? {});
    return html`
      <tr data-app=${app.name} data-state=${app.state}>
        <td><a href=${href('apps', app.name)}><strong>${app.title}</strong></a><br>
          <small>${app.name}${app.update_available ? html` · <span class="badge">update available</span>` : ''}</small></td>
        <td data-label="State">${stateBadge(app.state)} ${healthBadge(app.health)}</td>
        <td data-label="Containers"><ul class="plain">${containers.map(([name, c]) => html`
          <li data-container=${name}>${name}: <span class="container-state">${c.state}</span></li>`)}</ul></td>
        <td data-label="Web UI">${url && app.state === 'running'
          ? html`<a href=${url} target="_blank" rel="noopener">Open ${app.title}</a>`
          : url ? html`<span class="muted">port ${app.ui.port}</span>` : '—'}</td>
      </tr>`;
  }
});
