// The System screen: the hostname, the time zone (a searchable list), the NTP servers and the
// clock's sync state, live from /system/time, and reboot or shut down with the hostname typed
// to confirm (and a second question when a job that cannot resume would be cut off).
import { html } from 'lit';
import { confirmAction } from '../components/confirm.js';
import { call } from '../lib/api.js';
import { when } from '../lib/format.js';
import { View, ruledField } from '../lib/view.js';

const HOSTNAME = '[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?'
  + '(?:\\.[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?)*';
const HOSTNAME_RULE = 'letters, digits and hyphens (not first or last), labels separated by '
  + 'dots, 64 characters at most';

// the zones the browser knows (the server checks against its own zoneinfo)
function zones(current) {
  const known = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  return [...new Set([current, 'Etc/UTC', ...known])].filter(Boolean).sort();
}

function offsetWords(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const ms = seconds * 1000;
  const abs = Math.abs(ms);
  if (abs < 0.1) return 'under 0.1 ms';
  const text = abs < 1000 ? `${abs.toFixed(1)} ms` : `${(abs / 1000).toFixed(2)} s`;
  return `${text} ${ms >= 0 ? 'fast' : 'slow'}`;
}

customElements.define('rockd-system', class extends View {
  async saveName(event) {
    event.preventDefault();
    const hostname = event.target.hostname.value.trim();
    const answer = await this.act(() => call('PATCH', '/system', { hostname }));
    if (answer) this.note = `The hostname is now ${answer.hostname}.`;
  }

  async saveTime(event) {
    event.preventDefault();
    const form = event.target;
    const servers = form.ntp_servers.value.split(/[\s,]+/).filter(Boolean);
    const body = { timezone: form.timezone.value.trim(), ntp_servers: servers };
    const answer = await this.act(() => call('PATCH', '/system', body));
    if (answer) this.note = `Time zone ${answer.time.timezone}; NTP servers: `
      + `${answer.time.ntp_servers.join(', ') || 'none set by rockd'}.`;
  }

  async power(action) {
    const hostname = this.tree?.system?.hostname ?? '';
    const verb = action === 'reboot' ? 'Reboot' : 'Shut down';
    const ok = await confirmAction({
      title: `${verb} ${hostname}?`,
      message: action === 'reboot'
        ? 'Every share, export and app is unavailable until the host is back. Jobs that can '
          + 'pause (balance, scrub) are paused and go on after the restart.'
        : 'The host powers off: someone must switch it on again. Jobs that can pause are '
          + 'paused first.',
      action: verb,
      typed: hostname,
    });
    if (!ok) return;
    this.busy = true;
    this.clearMessages();
    this.acting();
    try {
      await call('POST', `/system/${action}`, { confirm: hostname });
    } catch (err) {
      if (err.code !== 'jobs_running') {
        this.refuse(err.message);
        return;
      }
      const force = await confirmAction({
        title: 'A job would be cut off',
        message: `${err.message}. It cannot resume after the ${action}: what it did so far `
          + 'may be lost.',
        action: `${verb} anyway`,
      });
      if (!force) return;
      try {
        await call('POST', `/system/${action}`, { confirm: hostname, force: true });
      } catch (again) {
        this.refuse(again.message);
      }
    } finally {
      this.busy = false;
    }
  }

  nameCard(system) {
    return html`<section class="card system-name">
      <h2>Hostname</h2>
      <p class="muted">What the network, Samba and this page call the box.</p>
      <form class="form-grid host-name" @submit=${(e) => this.saveName(e)}>
        ${ruledField('system-hostname', 'Hostname', HOSTNAME_RULE, html`<input
          id="system-hostname" name="hostname" required maxlength="64" pattern=${HOSTNAME}
          title=${`A hostname: ${HOSTNAME_RULE}`} .value=${system.hostname ?? ''}
          autocomplete="off" spellcheck="false" aria-describedby="system-hostname-rule"
          aria-invalid=${this.invalid('hostname')}>`, this.fieldError('hostname'))}
        <div class="actions"><button class="primary" ?disabled=${this.busy}>Rename</button></div>
      </form>
    </section>`;
  }

  syncState(time) {
    if (time.synchronized) {
      return html`<span class="badge good" data-sync="yes">synchronized</span>`;
    }
    return html`<span class="badge bad" data-sync="no">not synchronized</span>`;
  }

  timeCard(time) {
    return html`<section class="card system-time">
      <h2>Time</h2>
      <dl class="facts">
        <dt>Clock</dt><dd>${this.syncState(time)}</dd>
        <dt>Source</dt><dd>${time.reference ?? '—'}${time.stratum ? html` <small class="muted">
          stratum ${time.stratum}</small>` : ''}</dd>
        <dt>Offset</dt><dd>${offsetWords(time.offset)}</dd>
        ${time.error ? html`<dt>chrony</dt><dd class="muted">${time.error}</dd>` : ''}
      </dl>
      <form class="form-grid host-time" @submit=${(e) => this.saveTime(e)}>
        ${ruledField('system-timezone', 'Time zone', 'type to search, e.g. Paris or New_York',
          html`<input id="system-timezone" name="timezone" list="system-zones" required
            .value=${time.timezone ?? ''} autocomplete="off" spellcheck="false"
            aria-describedby="system-timezone-rule"
            aria-invalid=${this.invalid('timezone')}>
          <datalist id="system-zones">${zones(time.timezone).map((z) => html`
            <option value=${z}></option>`)}</datalist>`, this.fieldError('timezone'))}
        <div class="field wide-field"><label for="system-ntp">NTP servers</label>
          <small id="system-ntp-rule">hostnames or addresses, one a line; empty: chrony's own
            sources only</small>
          <textarea id="system-ntp" name="ntp_servers" rows="3" spellcheck="false"
            autocomplete="off" aria-describedby="system-ntp-rule"
            aria-invalid=${this.invalid('ntp_servers')}
            .value=${(time.ntp_servers ?? []).join('\n')}></textarea>
          ${this.fieldError('ntp_servers')}</div>
        <div class="actions"><button class="primary" ?disabled=${this.busy}>Save</button></div>
      </form>
    </section>`;
  }

  powerCard(power) {
    const pending = power?.pending;
    return html`<section class="card system-power">
      <h2>Power</h2>
      ${pending ? html`<p class="badge warn" role="status" data-pending=${pending}>
        ${pending === 'reboot' ? 'Rebooting' : 'Shutting down'} since ${when(power.at)}:
        ${power.reason}</p>` : ''}
      ${power?.error ? html`<p class="error">${power.error}</p>` : ''}
      <div class="actions">
        <button class="danger" ?disabled=${this.busy || pending}
          @click=${() => this.power('reboot')}>Reboot…</button>
        <button class="danger" ?disabled=${this.busy || pending}
          @click=${() => this.power('shutdown')}>Shut down…</button>
      </div>
    </section>`;
  }

  render() {
    const system = this.tree?.system;
    if (!system) return '';
    return html`
      <h1>System</h1>
      ${this.notice()}${this.problem()}
      <div class="system-cards">
        ${this.nameCard(system)}
        ${system.time ? this.timeCard(system.time) : ''}
        ${this.powerCard(system.power)}
      </div>`;
  }
});
