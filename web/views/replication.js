// Replication (#/replication): this box's identity, its paired peers, the tasks that copy
// shares to them (run now, enable, delete), and the replicas received here (promote).
import { html } from 'lit';
import { confirmAction } from '../components/confirm.js';
import { call } from '../lib/api.js';
import { byName, bytes, when } from '../lib/format.js';
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

customElements.define('rockd-replication', class extends View {
  static properties = { ...View.properties, targets: { state: true } };

  constructor() {
    super();
    this.targets = [{ ...NEW_TARGET }];
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
      enabled: form.elements.enabled.checked,
    };
    if (data.cron) body.cron = data.cron;
    if (await this.act(() => call('POST', '/replication/tasks', body))) {
      form.reset();
      this.targets = [{ ...NEW_TARGET }];
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

  render() {
    const replication = this.tree?.replication ?? {};
    const identity = replication.identity ?? {};
    const peers = Object.values(replication.peers ?? {}).sort(byName);
    const tasks = Object.values(replication.tasks ?? {});
    const shares = this.branch('shares').filter((s) => !s.replica).sort(byName);
    const replicas = this.branch('shares').filter((s) => s.replica).sort(byName);
    return html`
      <h1>Replication</h1>
      ${this.problem()}
      <section class="card">
        <h2>This box</h2>
        <p class="muted">A peer pairs with this box by its address and public key; pair with
          the peer here in the same way.</p>
        <dl>
          <dt>Address</dt><dd>${identity.listen ?? '—'}
            ${identity.listening === false ? html`<span class="badge bad">not listening</span>` : ''}</dd>
          <dt>Public key</dt><dd class="secret">${identity.public_key ?? '—'}</dd>
        </dl>
      </section>
      <section class="card">
        <h2>Peers</h2>
        ${peers.length ? html`
          <table class="wide labelled">
            <thead><tr><th>Name</th><th>Address</th><th>Public key</th><th></th></tr></thead>
            <tbody>${peers.map((p) => html`
              <tr data-peer=${p.name}>
                <td>${p.name}</td><td data-label="Address">${p.address}</td>
                <td data-label="Public key"><code>${p.public_key}</code></td>
                <td><button @click=${() => this.unpair(p)}>Unpair</button></td>
              </tr>`)}</tbody>
          </table>` : html`<p>No peers yet.</p>`}
        <form class="form-grid" @submit=${(e) => this.pair(e)}>
          <label>Peer name <input name="name" required pattern=${NAME_PATTERN} maxlength="64"
            autocomplete="off"></label>
          <label>Address <small>host:port</small> <input name="address" required
            autocomplete="off"></label>
          <label>Public key <input name="public_key" required minlength="40" maxlength="40"
            autocomplete="off"></label>
          <div class="actions"><button class="primary" ?disabled=${this.busy}>Pair</button></div>
        </form>
      </section>
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
                <td data-label="Schedule">${t.cron ?? 'by hand'}${t.enabled ? ''
                  : html` <span class="badge">disabled</span>`}<br>
                  <small>${t.next_run ? `next ${when(t.next_run)}` : ''}</small></td>
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
          <form class="form-grid" @submit=${(e) => this.createTask(e)}>
            <label>Share <select name="share">${shares.map((s) => html`
              <option value=${s.id}>${s.name} (${this.poolName(s.pool)})</option>`)}</select></label>
            <label>Schedule <small>cron, e.g. 0 * * * *; empty: by hand</small>
              <input name="cron" autocomplete="off"></label>
            ${this.targetRows(peers)}
            <label class="check"><input type="checkbox" name="enabled" checked> Enabled</label>
            <div class="actions"><button class="primary" ?disabled=${this.busy}>
              Create task</button></div>
          </form>` : html`<p class="muted">A task needs a share and a paired peer.</p>`}
      </section>
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
