// Replication (#/replication): this box's identity (addresses a peer can use, the key, each
// with a copy button), its paired peers and whether each answers now (live from the tree), the
// tasks that copy shares to them (run now, enable, delete), and the replicas received here
// (promote).
import { html } from 'lit';
import '../components/copy-button.js';
import '../components/cron-picker.js';
import { cronText } from '../components/cron-words.js';
import { confirmAction } from '../components/confirm.js';
import { call } from '../lib/api.js';
import { byName, bytes, counted, when } from '../lib/format.js';
import { NAME_PATTERN } from '../lib/names.js';
import { href } from '../lib/router.js';
import { View, fields } from '../lib/view.js';

const NEW_TARGET = { peer: '', pool: '' };

function lastRun(last) {
  if (!last) return 'never';
  const what = last.state === 'succeeded'
    ? `${bytes(last.bytes)} ${last.incremental ? 'incremental' : 'in full'}`
    : last.error ?? last.state;
  return `${last.state} ${when(last.at)} · ${what}`;
}

// A peer's state: online, or offline with why and when it was last seen
function peerState(peer) {
  if (peer.online) {
    return html`<span class="badge good">online</span>
      ${peer.last_seen ? html`<small>since ${when(peer.last_seen)}</small>` : ''}`;
  }
  return html`<span class="badge bad">offline</span>
    <small>${peer.last_seen ? `last seen ${when(peer.last_seen)}` : 'never seen'}</small>
    ${peer.last_error ? html`<br><small class="peer-error">${peer.last_error}</small>` : ''}`;
}

customElements.define('rockd-replication', class extends View {
  static properties = { ...View.properties, targets: { state: true }, scheduled: { state: true } };

  constructor() {
    super();
    this.targets = [{ ...NEW_TARGET }];
    this.scheduled = false;
  }

  async pair(event) {
    event.preventDefault();
    const form = event.target;
    if (await this.act(() => call('POST', '/replication/peers', fields(form)))) form.reset();
  }

  async unpair(peer) {
    const sure = await confirmAction({
      title: `Unpair ${peer.name}?`,
      message: 'Its key is no longer admitted: it cannot send here, nor receive from here.',
      action: 'Unpair',
    });
    if (sure) await this.act(() => call('DELETE', `/replication/peers/${peer.name}`));
  }

  async createTask(event) {
    event.preventDefault();
    const form = event.target;
    const data = fields(form);
    const body = {
      share: data.share,
      targets: this.targets.filter((t) => t.peer && t.pool),
      keep_last: Number(data.keep_last ?? 3),
      enabled: form.elements.enabled.checked,
    };
    if (this.scheduled && data.cron) body.cron = data.cron;
    if (await this.act(() => call('POST', '/replication/tasks', body))) {
      form.reset();
      this.targets = [{ ...NEW_TARGET }];
      this.scheduled = false;
    }
  }

  async deleteTask(task) {
    const sure = await confirmAction({
      title: 'Delete this replication task?',
      message: 'Its snapshots and the replicas on the peers stay.',
      action: 'Delete',
    });
    if (sure) await this.act(() => call('DELETE', `/replication/tasks/${task.id}`));
  }

  async promote(share) {
    const sure = await confirmAction({
      title: `Promote ${share.name}?`,
      message: 'The replica becomes a normal writable share here, and replication into it ends.',
      action: 'Promote',
    });
    if (sure) await this.act(() => call('POST', `/shares/${share.id}/promote`));
  }

  targetRows(peers) {
    const set = (i, key, value) => {
      this.targets = this.targets.map((t, j) => (j === i ? { ...t, [key]: value } : t));
    };
    return html`
      <fieldset class="wide-field">
        <legend>Targets</legend>
        ${this.targets.map((t, i) => html`
          <div class="actions">
            <label>Peer <select @change=${(e) => set(i, 'peer', e.target.value)}>
              <option value="">choose…</option>
              ${peers.map((p) => html`<option ?selected=${t.peer === p.name}>${p.name}</option>`)}
            </select></label>
            <label>Pool there <input .value=${t.pool} pattern=${NAME_PATTERN} autocomplete="off"
              @input=${(e) => set(i, 'pool', e.target.value.trim())}></label>
            ${this.targets.length > 1 ? html`<button type="button"
              @click=${() => { this.targets = this.targets.filter((_, j) => j !== i); }}>
              Remove target</button>` : ''}
          </div>`)}
        <div class="actions"><button type="button"
          @click=${() => { this.targets = [...this.targets, { ...NEW_TARGET }]; }}>
          Add target</button></div>
      </fieldset>`;
  }

  identityCard(identity) {
    const addresses = identity.addresses ?? [];
    return html`
      <section class="card">
        <h2>This box</h2>
        <p class="muted">A peer pairs with this box by one of these addresses and its public
          key; pair with the peer here in the same way.</p>
        <dl>
          <dt>Address${addresses.length > 1 ? 'es' : ''}</dt><dd>
            <ul class="plain addresses">${addresses.map((a) => html`
              <li><code>${a}</code> <rockd-copy .text=${a} label=${a}></rockd-copy></li>`)}
            </ul>
            ${identity.listening === false ? html`<span class="badge bad">not listening</span>` : ''}</dd>
          <dt>Public key</dt><dd><code class="secret">${identity.public_key ?? '—'}</code>
            <rockd-copy .text=${identity.public_key ?? ''} label="this box's key"></rockd-copy></dd>
        </dl>
      </section>`;
  }

  peersCard(peers) {
    return html`
      <section class="card">
        <h2>Peers</h2>
        ${peers.length ? html`
          <table class="wide labelled">
            <thead><tr><th>Name</th><th>State</th><th>Address</th><th>Public key</th><th></th></tr></thead>
            <tbody>${peers.map((p) => html`
              <tr data-peer=${p.name}>
                <td>${p.name}</td><td data-label="State" class="peer-state">${peerState(p)}</td>
                <td data-label="Address">${p.address}</td>
                <td data-label="Public key"><code class="secret">${p.public_key}</code></td>
                <td><button @click=${() => this.unpair(p)}>Unpair</button></td>
              </tr>`)}</tbody>
          </table>` : html`<p>No peers yet.</p>`}
        <form class="form-grid pair" @submit=${(e) => this.pair(e)}>
          <label>Peer name <small>what this box calls it</small>
            <input name="name" required pattern=${NAME_PATTERN} maxlength="64"
            autocomplete="off" aria-invalid=${this.invalid('name', 'pair')}
            title="letters, digits, dot, dash or underscore, starting with a letter or digit">
            ${this.fieldError('name', 'pair')}</label>
          <label>Address <small>host:port, as the peer's Replication page shows it</small>
            <input name="address" required autocomplete="off"
            aria-invalid=${this.invalid('address', 'pair')}>${this.fieldError('address', 'pair')}</label>
          <label>Public key <small>40 characters, from the peer's Replication page</small>
            <input name="public_key" required minlength="40" maxlength="40" autocomplete="off"
            title="the peer's public key: 40 characters" aria-invalid=${this.invalid('public_key', 'pair')}>
            ${this.fieldError('public_key', 'pair')}</label>
          <div class="actions"><button class="primary" ?disabled=${this.busy}>Pair</button>
            ${this.busy ? html`<small>testing the connection…</small>` : ''}</div>
        </form>
      </section>`;
  }

  tasksCard(peers, tasks, shares) {
    return html`
      <section class="card">
        <h2>Tasks</h2>
        ${tasks.length ? html`
          <table class="wide labelled">
            <thead><tr><th>Share</th><th>Targets</th><th>Schedule</th><th></th></tr></thead>
            <tbody>${tasks.map((t) => html`
              <tr data-task=${t.id}>
                <td><a href=${href('shares', t.share)}>${this.shareName(t.share)}</a></td>
                <td data-label="Targets">${Object.entries(t.targets ?? {}).map(([where, target]) => html`
                  <div><strong>${where}</strong> <small>${lastRun(target.last)}</small></div>`)}</td>
                <td data-label="Schedule">${t.cron ? cronText(t.cron) : 'by hand'}${t.enabled ? ''
                  : html` <span class="badge">disabled</span>`}<br>
                  <small>${t.next_run ? `next ${when(t.next_run)}` : ''}</small>
                  <br><small class="keeps">keeps its last ${counted(t.keep_last, 'snapshot')} here</small></td>
                <td class="actions">
                  <button ?disabled=${Boolean(t.running)}
                    @click=${() => this.act(() => call('POST', `/replication/tasks/${t.id}/run`))}>
                    ${t.running ? 'Running…' : 'Run now'}</button>
                  <button @click=${() => this.act(() => call('PATCH', `/replication/tasks/${t.id}`,
                    { enabled: !t.enabled }))}>${t.enabled ? 'Disable' : 'Enable'}</button>
                  <button @click=${() => this.deleteTask(t)}>Delete</button></td>
              </tr>`)}</tbody>
          </table>` : html`<p>No replication tasks.</p>`}
        ${peers.length && shares.length ? html`
          <h3>Replicate a share</h3>
          <form class="form-grid task" @submit=${(e) => this.createTask(e)}>
            <label>Share <select name="share">${shares.map((s) => html`
              <option value=${s.id}>${s.name} (${this.poolName(s.pool)})</option>`)}</select></label>
            <label class="check wide-field"><input type="checkbox" name="scheduled"
              .checked=${this.scheduled} @change=${(e) => { this.scheduled = e.target.checked; }}>
              Run on a schedule <small>(off: only when you press Run now)</small></label>
            ${this.scheduled ? html`<div class="wide-field">
              <rockd-cron-picker value="0 * * * *"></rockd-cron-picker>
              ${this.fieldError('cron', 'task')}</div>` : ''}
            <label>Snapshots kept here <small>the last ones that reached a target</small>
              <input name="keep_last" type="number" min="1" max="1000" value="3" required
              title="a whole number from 1 to 1000" aria-invalid=${this.invalid('keep_last', 'task')}>
              ${this.fieldError('keep_last', 'task')}</label>
            ${this.targetRows(peers)}
            <label class="check"><input type="checkbox" name="enabled" checked> Enabled</label>
            <div class="actions"><button class="primary" ?disabled=${this.busy}>
              Create task</button></div>
          </form>` : html`<p class="muted">A task needs a share and a paired peer.</p>`}
      </section>`;
  }

  render() {
    const replication = this.tree?.replication ?? {};
    const peers = Object.values(replication.peers ?? {}).sort(byName);
    const tasks = Object.values(replication.tasks ?? {});
    const shares = this.branch('shares').filter((s) => !s.replica).sort(byName);
    const replicas = this.branch('shares').filter((s) => s.replica).sort(byName);
    // the cards first: an error one of their fields shows is not repeated by problem()
    const cards = [this.identityCard(replication.identity ?? {}), this.peersCard(peers),
      this.tasksCard(peers, tasks, shares)];
    return html`
      <h1>Replication</h1>
      ${this.problem()}
      ${cards}
      <section class="card">
        <h2>Replicas on this box</h2>
        ${replicas.length ? html`
          <table class="wide labelled">
            <thead><tr><th>Share</th><th>From</th><th></th></tr></thead>
            <tbody>${replicas.map((s) => html`
              <tr data-replica=${s.id}>
                <td><a href=${href('shares', s.id)}>${s.name}</a></td>
                <td data-label="From">${s.replica.peer}: ${s.replica.share}</td>
                <td><button @click=${() => this.promote(s)}>Promote</button></td>
              </tr>`)}</tbody>
          </table>` : html`<p>No replicas here.</p>`}
      </section>`;
  }
});
