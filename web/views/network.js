// Network (#/network): the interfaces NetworkManager sees (link, speed, addresses, traffic while
// this screen is open), the connections with a form to add or change one, and the banner of a
// change that waits for confirmation: its countdown, "Keep these settings" (from the new
// address) and "Revert now". All of it live from /network in the tree.
import { html } from 'lit';
import { confirmAction } from '../components/confirm.js';
import { call } from '../lib/api.js';
import { bytes, rate, when } from '../lib/format.js';
import { View } from '../lib/view.js';
import { connectionBody, connectionForm } from './network-form.js';

const LINK_TONE = { up: 'good', 'no-carrier': 'warn', down: '' };
const METHOD_WORDS = { dhcp: 'DHCP', static: 'static', disabled: 'no IP', other: 'other' };

// `address/prefix` without its prefix
const bare = (cidr) => cidr.split('/')[0];

function secondsLeft(deadline) {
  return Math.max(0, Math.round((Date.parse(deadline) - Date.now()) / 1000));
}

customElements.define('rockd-network', class extends View {
  static properties = {
    ...View.properties,
    kind: { state: true },
    method: { state: true },
    editing: { state: true },
    moved: { state: true },
    now: { state: true },
  };

  constructor() {
    super();
    this.kind = 'ethernet';
    this.method = null;
    this.editing = null; // the id of the connection whose form is open
    this.moved = null; // where rockd answers after the last change of this page's interface
    this.now = Date.now();
    this.samples = {}; // interface: [time, rx, tx, rx rate, tx rate]
    this.ticker = null;
  }

  disconnectedCallback() {
    clearInterval(this.ticker);
    this.ticker = null;
    super.disconnectedCallback();
  }

  willUpdate(changed) {
    super.willUpdate(changed);
    const pending = this.tree?.network?.pending;
    if (pending && !this.ticker) this.ticker = setInterval(() => { this.now = Date.now(); }, 1000);
    if (!pending && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
    const at = Date.now() / 1000;
    for (const iface of Object.values(this.tree?.network?.interfaces ?? {})) {
      const traffic = iface.traffic;
      if (!traffic) continue;
      const last = this.samples[iface.name];
      if (last && last[1] === traffic.rx_bytes && last[2] === traffic.tx_bytes) continue;
      const span = last ? at - last[0] : 0;
      this.samples[iface.name] = [at, traffic.rx_bytes, traffic.tx_bytes,
        span > 0 ? (traffic.rx_bytes - last[1]) / span : null,
        span > 0 ? (traffic.tx_bytes - last[2]) / span : null];
    }
  }

  formChanged(event) {
    const name = event.target?.name;
    if (name === 'kind') this.kind = event.target.value;
    if (name === 'method') this.method = event.target.value;
  }

  cancel() {
    this.editing = null;
    this.method = null;
  }

  edit(conn) {
    this.editing = conn.id;
    this.method = conn.method;
  }

  // where this page's own address goes: the new address of a changed connection, if the page
  // came in on one of its old ones
  whereNext(before, after) {
    const here = location.hostname.replace(/^\[|\]$/g, '');
    const now = this.tree?.network?.interfaces?.[before?.interface]?.addresses ?? [];
    if (![...now, ...(before?.addresses ?? [])].map(bare).includes(here)) return null;
    const next = (after?.addresses ?? []).map(bare).find((a) => a.includes(':') === here.includes(':'));
    if (!next || next === here) return null;
    const host = next.includes(':') ? `[${next}]` : next;
    return `${location.protocol}//${host}${location.port ? `:${location.port}` : ''}/#/network`;
  }

  async submit(event) {
    event.preventDefault();
    const conn = this.editing ? this.tree?.network?.connections?.[this.editing] : null;
    const body = connectionBody(event.target, conn);
    // known before the answer, which may never come back to this address
    this.moved = this.whereNext(conn, { addresses: body.addresses ?? conn?.addresses });
    const answer = await this.act(() => (conn
      ? call('PATCH', `/network/connections/${conn.id}`, body)
      : call('POST', '/network/connections', body)));
    if (!answer) {
      if (this.moved && this.error.includes('cannot be reached')) {
        this.error = `rockd no longer answers at this address: open ${this.moved} to keep `
          + 'the new settings before they are rolled back.';
      }
      return;
    }
    this.note = answer.rollback ? 'Applied: keep the settings before the time runs out.'
      : conn ? 'Applied.' : `Added ${answer.interface}.`;
    this.editing = null;
    this.method = null;
    if (!conn) event.target.reset();
  }

  async drop(conn) {
    const sure = await confirmAction({
      title: `Delete the connection of ${conn.interface}?`,
      message: 'Its interface loses its addresses. If this page came in on it, the change '
        + 'is rolled back unless kept in time.',
      action: 'Delete',
    });
    if (sure) await this.act(() => call('DELETE', `/network/connections/${conn.id}`));
  }

  async keep(pending) {
    await this.act(() => call('POST', '/network/confirm', { id: pending.id }));
    if (!this.error) this.note = 'Kept.';
  }

  async revert(pending) {
    await this.act(() => call('POST', '/network/revert', { id: pending.id }));
  }

  // the interfaces no connection holds
  free() {
    const held = new Set(Object.values(this.tree?.network?.connections ?? {})
      .map((c) => c.interface));
    return new Set(Object.keys(this.tree?.network?.interfaces ?? {}).filter((n) => !held.has(n)));
  }

  get waiting() {
    return Boolean(this.tree?.network?.pending);
  }

  rolledBack(network) {
    const last = network.last_change;
    return last?.outcome === 'rolled_back' ? html`<p class="network-rolled-back warn"
      role="status">The last change was not kept in time: it was rolled back
      ${when(last.at)}.</p>` : '';
  }

  banner(network) {
    const pending = network.pending;
    if (!pending) return '';
    const left = secondsLeft(pending.deadline);
    return html`<section class="card rollback-banner" role="alert" data-pending=${pending.id}>
      <h2>Keep these network settings?</h2>
      <p>The change to ${pending.interface ?? 'the network'} is rolled back in
        <strong class="countdown">${left} s</strong> unless you keep it${this.moved ? html`, from
        the new address: <a href=${this.moved}>${this.moved}</a>` : ''}.</p>
      <div class="actions">
        <button class="primary" @click=${() => this.keep(pending)} ?disabled=${this.busy}>Keep
          these settings</button>
        <button @click=${() => this.revert(pending)} ?disabled=${this.busy}>Revert now</button>
      </div>
    </section>`;
  }

  interfaceRow(iface) {
    const sample = this.samples[iface.name];
    return html`<tr data-interface=${iface.name}>
      <td><strong>${iface.name}</strong><br><small>${iface.type}${iface.managed ? ''
        : ' · unmanaged'}</small></td>
      <td data-label="Link"><span class="badge ${LINK_TONE[iface.link] ?? ''}">${iface.link}</span>
        <small>${iface.state}</small></td>
      <td data-label="Speed">${iface.speed ? `${iface.speed} Mb/s` : '—'}</td>
      <td data-label="Addresses">${iface.addresses.length ? iface.addresses.map((a) => html`
        <span class="address">${a}</span> `) : html`<span class="muted">none</span>`}</td>
      <td data-label="MAC · MTU"><small>${iface.mac ?? '—'} · ${iface.mtu ?? '—'}</small></td>
      <td data-label="Traffic">${iface.traffic ? html`<small>↓ ${bytes(iface.traffic.rx_bytes)}
        ${sample?.[3] != null ? `(${rate(sample[3])})` : ''}<br>↑ ${bytes(iface.traffic.tx_bytes)}
        ${sample?.[4] != null ? `(${rate(sample[4])})` : ''}</small>` : '—'}</td>
    </tr>`;
  }

  connectionRow(conn, interfaces) {
    const busy = Boolean(this.tree?.network?.pending);
    const members = conn.bond?.slaves ?? conn.bridge?.ports;
    return html`<tr data-connection=${conn.id} data-interface=${conn.interface}>
      <td><strong>${conn.interface ?? conn.name}</strong><br><small>${conn.kind}${conn.bond
        ? ` · ${conn.bond.mode}` : ''}${conn.vlan ? ` · id ${conn.vlan.id} on ${conn.vlan.parent}`
        : ''}${members ? ` · ${members.join(', ') || 'no ports'}` : ''}${conn.port_of
        ? ` · in ${conn.port_of}` : ''}</small></td>
      <td data-label="Method">${conn.port_of ? html`<span class="muted">${conn.port_of}'s</span>`
        : METHOD_WORDS[conn.method] ?? conn.method}
        ${conn.active ? html`<span class="badge good">active</span>` : ''}</td>
      <td data-label="Addresses">${conn.addresses.join(', ') || '—'}${conn.gateway ? html`<br>
        <small>via ${conn.gateway}</small>` : ''}</td>
      <td data-label="DNS · MTU"><small>${conn.dns.join(', ') || '—'} · ${conn.mtu ?? 'auto'}</small></td>
      <td class="actions">${conn.port_of || !['ethernet', 'bond', 'vlan', 'bridge'].includes(conn.kind)
        ? '' : html`
        <button @click=${() => this.edit(conn)} ?disabled=${busy}>Change</button>
        <button @click=${() => this.drop(conn)} ?disabled=${busy}>Delete</button>`}</td>
    </tr>
    ${this.editing === conn.id ? html`<tr class="network-edit"><td colspan="5">
      ${connectionForm(this, conn, interfaces, this.free())}</td></tr>` : ''}`;
  }

  render() {
    const network = this.tree?.network ?? {};
    const interfaces = Object.values(network.interfaces ?? {})
      .sort((a, b) => a.name.localeCompare(b.name));
    const connections = Object.values(network.connections ?? {})
      .sort((a, b) => (a.interface ?? '').localeCompare(b.interface ?? ''));
    return html`
      ${this.banner(network)}
      <section class="card">
        <h1>Network</h1>
        ${network.running ? html`<p class="muted">NetworkManager ${network.version}: rockd
          follows its signals, so changes made elsewhere show here at once.</p>`
        : html`<p class="warn" role="status">NetworkManager is not running: the network cannot
          be shown or changed.</p>`}
        ${this.rolledBack(network)}${this.editing ? '' : this.problem()}${this.notice()}
        <h2>Interfaces</h2>
        <table class="wide labelled network-interfaces">
          <thead><tr><th>Interface</th><th>Link</th><th>Speed</th><th>Addresses</th>
            <th>MAC · MTU</th><th>Traffic</th></tr></thead>
          <tbody>${interfaces.map((i) => this.interfaceRow(i))}</tbody>
        </table>
        <h2>Connections</h2>
        <table class="wide labelled network-connections">
          <thead><tr><th>Connection</th><th>Method</th><th>Addresses</th><th>DNS · MTU</th>
            <th></th></tr></thead>
          <tbody>${connections.map((c) => this.connectionRow(c, interfaces))}</tbody>
        </table>
        ${connections.length ? '' : html`<p class="muted">No connections yet.</p>`}
      </section>
      ${network.running && !this.editing ? html`<section class="card">
        <h2>New connection</h2>
        ${connectionForm(this, null, interfaces, this.free())}
      </section>` : ''}`;
  }
});
