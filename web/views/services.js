// Services (#/services): the daemons behind the exports (and Docker), live: running or not,
// since when, their pid, whether they start with the machine; start, stop, restart, enable;
// and the HTTPS certificate (views/tls.js).
import { html } from 'lit';
import { confirmAction } from '../components/confirm.js';
import { call } from '../lib/api.js';
import { byName, when } from '../lib/format.js';
import { View } from '../lib/view.js';
import './tls.js';

const TONE = { active: 'good', failed: 'bad' };

customElements.define('rockd-services', class extends View {
  async verb(service, verb) {
    if (verb === 'stop') {
      const sure = await confirmAction({
        title: `Stop ${service.name}?`,
        message: 'Clients using it are cut off until it is started again.',
        action: 'Stop',
      });
      if (!sure) return;
    }
    await this.act(() => call('POST', `/services/${service.name}/${verb}`));
  }

  row(s) {
    const running = s.active === 'active' || s.active === 'reloading';
    return html`
      <tr data-service=${s.name} data-active=${s.active}>
        <td><strong>${s.name}</strong><br><small>${s.unit}</small></td>
        <td data-label="State">${s.available ? html`<span class="badge ${TONE[s.active] ?? ''}">
          ${s.active}</span> <small>${s.sub}</small>` : html`<span class="muted">not installed</span>`}</td>
        <td data-label="Since">${when(s.since)}</td>
        <td class="num" data-label="PID">${s.main_pid ?? '—'}</td>
        <td data-label="At boot">${s.enabled ? 'enabled' : 'disabled'}</td>
        <td class="actions">${s.available ? html`
          ${running ? html`<button @click=${() => this.verb(s, 'restart')}>Restart</button>
            <button @click=${() => this.verb(s, 'stop')}>Stop</button>`
          : html`<button @click=${() => this.verb(s, 'start')}>Start</button>`}
          ${s.enabled ? html`<button @click=${() => this.verb(s, 'disable')}>Disable</button>`
          : html`<button @click=${() => this.verb(s, 'enable')}>Enable</button>`}` : ''}</td>
      </tr>`;
  }

  render() {
    const services = this.branch('services').sort(byName);
    const backend = services[0]?.backend;
    return html`
      <section class="card">
        <h1>Services</h1>
        <p class="muted">${backend === 'systemd' ? 'systemd runs these services; rockd follows '
          + 'their state through its signals.' : 'rockd runs these services itself and starts '
          + 'them again if they stop unexpectedly; enabled ones start with rockd.'}</p>
        ${this.problem()}
        <table class="wide labelled">
          <thead><tr><th>Service</th><th>State</th><th>Since</th><th class="num">PID</th>
            <th>At boot</th><th></th></tr></thead>
          <tbody>${services.map((s) => this.row(s))}</tbody>
        </table>
      </section>
      <rockd-tls .tree=${this.tree} .rev=${this.rev}></rockd-tls>`;
  }
});
