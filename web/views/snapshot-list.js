// A share's snapshots, live from the tree (one made outside rockd shows up by itself): create,
// show or hide, clone to a new share, roll the share back, delete. A page of them at a time,
// with a search and a choice of order (lib/table.js): a share may have 10,000.
import { html } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { View } from '../lib/view.js';
import { call } from '../lib/api.js';
import { bytes, when } from '../lib/format.js';
import { go } from '../lib/router.js';
import { confirmAction } from '../components/confirm.js';
import { NAME_PATTERN, NAME_RULE } from '../lib/names.js';
import { Rows, byText, collator } from '../lib/rows.js';
import { Table } from '../lib/table.js';

const byName = (a, b) => collator.compare(String(a.name), String(b.name));
const byCreated = (a, b) => byText(String(a.created ?? ''), String(b.created ?? '')) || byName(a, b);
const byUsage = (part) => (a, b) => (a.usage?.[part] ?? -1) - (b.usage?.[part] ?? -1) || byName(a, b);

// the columns a snapshot table sorts by: [title, ascending order]
const COLUMNS = {
  name: ['Name', byName],
  created: ['Created', byCreated],
  referenced: ['Referenced', byUsage('referenced')],
  exclusive: ['Exclusive', byUsage('exclusive')],
};

export const newestFirst = (a, b) => byCreated(b, a);

// A share's snapshots, kept in order as the tree changes: `.sorted(tree, newestFirst)`.
export function snapshotRows(shareId) {
  return new Rows('snapshots', (s) => s.share === shareId);
}

// the share's snapshots, newest first
export function snapshotsOf(tree, shareId) {
  return snapshotRows(shareId).sorted(tree, newestFirst);
}

// a snapshot name for when none is given: manual-20240131T235900Z (UTC)
function defaultName() {
  return `manual-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')}`;
}

// Ask, then make the share's content the snapshot's. Answers a line saying what happened,
// or undefined when it was not done.
export async function rollback(view, share, snapshot) {
  const ok = await confirmAction({
    title: `Roll ${share.name} back to ${snapshot.name}?`,
    message: `The current content of share ${share.name} is replaced by snapshot `
      + `${snapshot.name}'s (taken ${when(snapshot.created)}): whatever was written or changed `
      + 'since then is lost, unless another snapshot holds it. The share keeps its id, quota '
      + 'and exports; its snapshots are kept.',
    action: 'Rollback',
  });
  if (!ok) return undefined;
  const done = await view.act(() => call('POST', `/shares/${share.id}/rollback`,
    { snapshot: snapshot.id }));
  return done ? `${share.name} now holds the content of snapshot ${snapshot.name}.` : undefined;
}

customElements.define('rockd-snapshots', class extends View {
  static properties = { ...View.properties, cloning: { state: true } };

  constructor() {
    super();
    this.cloning = null; // the id of the snapshot whose clone form is open
  }

  get share() {
    return this.tree?.shares?.[this.id];
  }

  willUpdate(changed) {
    super.willUpdate(changed);
    if (!this.table || this.table.share !== this.id) {
      const share = this.id;
      if (this.table) this.removeController(this.table);
      this.table = new Table(this, {
        branch: 'snapshots', noun: 'snapshots', columns: COLUMNS, order: ['created', true],
        keep: (s) => s.share === share, text: (s) => String(s.name),
      });
      this.table.share = share;
    }
  }

  updated(changed) {
    // the clone form just opened: its name field takes the focus
    if (changed.has('cloning') && this.cloning) this.querySelector('.clone-form input')?.focus();
  }

  async create(event) {
    event.preventDefault();
    const form = event.target;
    const data = new FormData(form);
    const body = {
      name: String(data.get('name') ?? '').trim() || defaultName(),
      writable: !data.get('read_only'),
      visible: Boolean(data.get('visible')),
    };
    const made = await this.act(() => call('POST', `/shares/${this.id}/snapshots`, body));
    if (made) {
      form.reset();
      this.note = `Snapshot ${made.name} is made.`;
    }
  }

  async setVisible(snapshot, visible) {
    await this.act(() => call('PATCH', `/snapshots/${snapshot.id}`, { visible }));
  }

  async deleteSnapshot(snapshot) {
    const ok = await confirmAction({
      title: `Delete snapshot ${snapshot.name}?`,
      message: `The snapshot of ${this.share?.name ?? 'the share'} taken ${when(snapshot.created)} `
        + 'is deleted for good; the share itself is not touched.',
      action: 'Delete snapshot',
    });
    if (!ok) return;
    if (await this.act(async () => { await call('DELETE', `/snapshots/${snapshot.id}`); return true; })) {
      this.note = `Snapshot ${snapshot.name} is deleted.`;
    }
  }

  async clone(event, snapshot) {
    event.preventDefault();
    const name = new FormData(event.target).get('name');
    const made = await this.act(() => call('POST', `/snapshots/${snapshot.id}/clone`, { name }));
    if (made) {
      this.cloning = null;
      go('shares', made.id);
    }
  }

  async rollback(snapshot) {
    this.note = (await rollback(this, this.share, snapshot)) ?? '';
  }

  render() {
    const share = this.share;
    if (!share) return '';
    const { table } = this;
    const snapshots = table.page(this.tree);
    const cloning = this.tree.snapshots?.[this.cloning];
    const cloneForm = cloning ? this.cloneForm(cloning) : '';
    const createForm = this.createForm();
    return html`
      <section class="card">
        <h2>Snapshots of ${share.name}</h2>
        ${this.problem()}
        ${this.notice()}
        ${table.shown.total ? html`
          ${table.tools()}
          <table class="wide labelled snapshots">
            <thead><tr>${table.th('name')}${table.th('created')}<th>Read-only</th><th>Visible</th>
              ${table.th('referenced', 'num')}${table.th('exclusive', 'num')}<th>Actions</th></tr></thead>
            <tbody>${repeat(snapshots, (s) => s.id, (s) => this.row(s))}</tbody>
          </table>
          ${snapshots.length ? '' : html`<p class="muted">No snapshot's name holds
            “${table.query}”.</p>`}
          ${table.pager()}`
        : html`<p class="muted">No snapshots yet.</p>`}
        ${cloneForm}
        <h3>Create snapshot</h3>
        ${createForm}
      </section>`;
  }

  createForm() {
    return html`
      <form class="inline snapshot-create" @submit=${(e) => this.create(e)}>
        <label>Snapshot name <small>optional; ${NAME_RULE}</small>
          <input name="name" pattern=${NAME_PATTERN} maxlength="64" autocomplete="off"
            title=${`A snapshot's name is ${NAME_RULE}.`} placeholder="manual-{time}"
            aria-invalid=${this.invalid('name', 'snapshot-create')}>
          ${this.fieldError('name', 'snapshot-create')}</label>
        <label class="check"><input type="checkbox" name="read_only" checked> Read-only</label>
        <label class="check"><input type="checkbox" name="visible"> Visible</label>
        <button class="primary" ?disabled=${this.busy}>Create snapshot</button>
      </form>`;
  }

  row(snapshot) {
    return html`
      <tr data-snapshot=${snapshot.id}>
        <td>${snapshot.name}</td>
        <td data-label="Created">${when(snapshot.created)}</td>
        <td data-label="Read-only">${snapshot.read_only ? 'yes' : 'no'}</td>
        <td data-label="Visible">${snapshot.visible ? 'yes' : 'no'}</td>
        <td class="num" data-label="Referenced">${bytes(snapshot.usage?.referenced)}</td>
        <td class="num" data-label="Exclusive">${bytes(snapshot.usage?.exclusive)}</td>
        <td><div class="actions">
          <button ?disabled=${this.busy} @click=${() => this.setVisible(snapshot, !snapshot.visible)}>
            ${snapshot.visible ? 'Hide' : 'Show'}</button>
          <button ?disabled=${this.busy} aria-expanded=${this.cloning === snapshot.id ? 'true' : 'false'}
            @click=${() => { this.cloning = this.cloning === snapshot.id ? null : snapshot.id; }}>Clone…</button>
          <button ?disabled=${this.busy} @click=${() => this.rollback(snapshot)}>Rollback</button>
          <button class="danger" ?disabled=${this.busy} @click=${() => this.deleteSnapshot(snapshot)}>Delete</button>
        </div></td>
      </tr>`;
  }

  cloneForm(snapshot) {
    return html`
      <form class="inline clone-form" @submit=${(e) => this.clone(e, snapshot)}>
        <label>Name of the new share (from ${snapshot.name}) <small>${NAME_RULE}</small>
          <input name="name" required pattern=${NAME_PATTERN} maxlength="64" autocomplete="off"
            title=${`A share's name is ${NAME_RULE}.`}
            aria-invalid=${this.invalid('name', 'clone-form')}>
          ${this.fieldError('name', 'clone-form')}</label>
        <button class="primary" ?disabled=${this.busy}>Clone</button>
        <button type="button" @click=${() => { this.cloning = null; }}>Cancel</button>
      </form>`;
  }
});
