// One share (#/shares/{id}): its facts, the settings form (quota, compression, owner, group,
// mode), clone, rollback and delete, and its snapshots (snapshot-list.js) below.
import { html } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { View } from '../lib/view.js';
import { call } from '../lib/api.js';
import { bytes, percent, when } from '../lib/format.js';
import { go, href } from '../lib/router.js';
import { confirmAction } from '../components/confirm.js';
import { NAME_PATTERN, NAME_RULE } from '../lib/names.js';
import {
  COMPRESSIONS, MODE_PATTERN, MODE_RULE, quotaBytes, quotaField, quotasAllowed,
} from './share-create.js';
import { newestFirst, rollback, snapshotRows } from './snapshot-list.js';

// how many of the newest snapshots the rollback form offers (the table below has them all)
const ROLLBACK_CHOICES = 50;

// the compression select's value for what the share has now ("none" is btrfs's word for "no")
function compressionChoice(share) {
  return share.compression === 'none' ? 'no' : share.compression ?? '';
}

customElements.define('rockd-share-detail', class extends View {
  get share() {
    return this.tree?.shares?.[this.id];
  }

  // the settings that differ from the share's own, as the PATCH body
  changes(form, share) {
    const data = Object.fromEntries(new FormData(form).entries());
    const body = {};
    const quotaText = data.quota.trim();
    if (quotaText !== (share.quota ? bytes(share.quota) : '')) {
      const quota = quotaBytes(quotaText); // throws the rule in words
      if (quota !== (share.quota ?? null)) body.quota = quota;
    }
    if (data.compression && data.compression !== compressionChoice(share)) {
      body.compression = data.compression;
    }
    for (const key of ['owner', 'group', 'mode']) {
      const value = data[key].trim();
      if (value && value !== share[key]) body[key] = value;
    }
    return body;
  }

  async save(event, share) {
    event.preventDefault();
    const form = event.target;
    let body;
    try {
      body = this.changes(form, share);
    } catch (err) {
      this.refuse(err.message, 'quota');
      return;
    }
    if (!Object.keys(body).length) {
      this.clearMessages();
      this.note = 'Nothing to change.';
      return;
    }
    if (body.quota && !await quotasAllowed(this.tree?.pools?.[share.pool])) return;
    if (await this.act(() => call('PATCH', `/shares/${share.id}`, body))) {
      form.reset();
      this.note = 'Saved.';
    }
  }

  async removeQuota(share) {
    if (await this.act(() => call('PATCH', `/shares/${share.id}`, { quota: null }))) {
      this.querySelector('form.share-settings')?.reset();
      this.note = 'The quota is removed.';
    }
  }

  async clone(event, share) {
    event.preventDefault();
    const name = new FormData(event.target).get('name');
    const made = await this.act(() => call('POST', `/shares/${share.id}/clone`, { name }));
    if (made) {
      event.target.reset();
      go('shares', made.id);
    }
  }

  async rollbackTo(event, share) {
    event.preventDefault();
    const snapshot = this.tree.snapshots?.[new FormData(event.target).get('snapshot')];
    if (snapshot) this.note = (await rollback(this, share, snapshot)) ?? '';
  }

  async deleteShare(share, count) {
    const force = count > 0 && this.querySelector('input[name="force"]')?.checked;
    if (count > 0 && !force) {
      this.refuse(`Share ${share.name} has ${count} snapshot${count === 1 ? '' : 's'}: delete `
        + 'them first, or tick "Also delete its snapshots".');
      return;
    }
    const ok = await confirmAction({
      title: `Delete share ${share.name}?`,
      message: `Everything in ${share.path} is deleted for good${force
        ? `, and so are its ${count} snapshot${count === 1 ? '' : 's'}` : ''}. Exports of it stop.`,
      action: 'Delete share',
      typed: share.name,
    });
    if (!ok) return;
    const query = force ? '?force=true' : '';
    if (await this.act(async () => { await call('DELETE', `/shares/${share.id}${query}`); return true; })) {
      go('shares');
    }
  }

  render() {
    const share = this.share;
    if (!share) {
      return html`<section class="card"><h1>Share not found</h1>
        <p>There is no share <code>${this.id}</code> (now): it was deleted, or its pool is not
        mounted.</p><p><a href=${href('shares')}>All shares</a></p></section>`;
    }
    if (this.snapshotRows?.share !== share.id) {
      this.snapshotRows = snapshotRows(share.id);
      this.snapshotRows.share = share.id;
    }
    const snapshots = this.snapshotRows.sorted(this.tree, newestFirst);
    // the forms first: an error about one of their fields is shown there, not at the top
    const settings = this.settings(share);
    const actions = this.actions(share, snapshots);
    const problem = this.problem();
    return html`
      <p class="crumbs"><a href=${href('shares')}>Shares</a> ›</p>
      <div class="title-row card">
        <h1>${share.name}</h1>
        <span class="muted">share of pool <a href=${href('pools', share.pool)}>${this.poolName(share.pool)}</a></span>
      </div>
      ${problem || this.note ? html`<div class="card">${problem}${this.notice()}</div>` : ''}
      <div class="grid">
        ${this.facts(share, snapshots.length)}
        ${settings}
        ${actions}
      </div>
      <rockd-snapshots .tree=${this.tree} .rev=${this.rev} .id=${share.id}></rockd-snapshots>`;
  }

  facts(share, count) {
    const used = share.usage?.referenced;
    return html`
      <section class="card">
        <h2>Facts</h2>
        <dl>
          <dt>Path</dt><dd><code>${share.path}</code></dd>
          <dt>Quota</dt><dd>${share.quota ? bytes(share.quota) : 'none'}</dd>
          <dt>Referenced</dt><dd>${bytes(used)}${share.quota && typeof used === 'number'
            ? html` (${percent(used / share.quota)} of the quota)` : ''}</dd>
          <dt>Exclusive</dt><dd>${bytes(share.usage?.exclusive)}</dd>
          <dt>Compression</dt><dd>${share.compression ?? 'as the pool'}</dd>
          <dt>Owner</dt><dd>${share.owner ?? '—'}</dd>
          <dt>Group</dt><dd>${share.group ?? '—'}</dd>
          <dt>Mode</dt><dd>${share.mode ?? '—'}</dd>
          <dt>Snapshots</dt><dd>${count}</dd>
          <dt>Created</dt><dd>${when(share.created)}</dd>
          ${share.read_only ? html`<dt>Read-only</dt><dd>yes</dd>` : ''}
          ${share.received_uuid ? html`<dt>Replica of</dt><dd><code>${share.received_uuid}</code></dd>` : ''}
        </dl>
        ${share.quota && typeof used === 'number' ? html`
          <meter aria-label="Space used" min="0" max=${share.quota} high=${share.quota * 0.9}
            value=${used}></meter>` : ''}
        ${share.usage ? '' : html`<p class="muted">Usage shows once quotas are on for the
          pool (setting a quota turns them on).</p>`}
      </section>`;
  }

  settings(share) {
    const current = compressionChoice(share);
    return html`
      <section class="card">
        <h2>Settings</h2>
        <form class="share-settings" @submit=${(e) => this.save(e, share)}>
          ${quotaField(this, share.quota ? bytes(share.quota) : '')}
          <label>Compression
            <select name="compression">
              ${current ? '' : html`<option value="" selected>as the pool</option>`}
              ${COMPRESSIONS.map((c) => html`<option value=${c} ?selected=${c === current}>${c}</option>`)}
            </select></label>
          <label>Owner <input name="owner" autocomplete="off" value=${share.owner ?? ''}
            aria-invalid=${this.invalid('owner')}>${this.fieldError('owner')}</label>
          <label>Group <input name="group" autocomplete="off" value=${share.group ?? ''}
            aria-invalid=${this.invalid('group')}>${this.fieldError('group')}</label>
          <label>Mode <small>${MODE_RULE}</small>
            <input name="mode" pattern=${MODE_PATTERN} maxlength="5" autocomplete="off"
            title=${`The mode is ${MODE_RULE}.`} aria-invalid=${this.invalid('mode')}
            value=${share.mode ?? ''}>${this.fieldError('mode')}</label>
          <div class="actions">
            <button class="primary" ?disabled=${this.busy}>Save changes</button>
            ${share.quota ? html`<button type="button" ?disabled=${this.busy}
              @click=${() => this.removeQuota(share)}>Remove quota</button>` : ''}
          </div>
        </form>
      </section>`;
  }

  actions(share, snapshots) {
    return html`
      <section class="card">
        <h2>Clone</h2>
        <p class="muted">A writable copy of the share as it is now, as a new share of the same
          pool (copy-on-write: it takes no space until the two differ).</p>
        <form class="inline" @submit=${(e) => this.clone(e, share)}>
          <label class="grow">Name of the new share <small>${NAME_RULE}</small>
            <input name="name" required pattern=${NAME_PATTERN} maxlength="64" autocomplete="off"
              title=${`A share's name is ${NAME_RULE}.`} aria-invalid=${this.invalid('name')}>
            ${this.fieldError('name')}</label>
          <button ?disabled=${this.busy}>Clone</button>
        </form>
        <h2 class="spaced">Rollback</h2>
        ${snapshots.length ? html`
          <form class="inline" @submit=${(e) => this.rollbackTo(e, share)}>
            <label class="grow">Snapshot to go back to${snapshots.length > ROLLBACK_CHOICES
              ? html` <small>the newest ${ROLLBACK_CHOICES}; every snapshot has its own Rollback
                in the table below</small>` : ''}
              <select name="snapshot">${repeat(snapshots.slice(0, ROLLBACK_CHOICES), (s) => s.id,
                (s) => html`<option value=${s.id}>${s.name} (${when(s.created)})</option>`)}</select></label>
            <button ?disabled=${this.busy}>Rollback</button>
          </form>`
        : html`<p class="muted">Rollback needs a snapshot of this share.</p>`}
        <h2 class="spaced">Delete</h2>
        ${snapshots.length ? html`
          <label class="check"><input type="checkbox" name="force">
            Also delete its ${snapshots.length} snapshot${snapshots.length === 1 ? '' : 's'}</label>` : ''}
        <div class="actions">
          <button class="danger" ?disabled=${this.busy}
            @click=${() => this.deleteShare(share, snapshots.length)}>Delete share</button>
        </div>
      </section>`;
  }
});
