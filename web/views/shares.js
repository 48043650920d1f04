// Shares: every share of the mounted pools with its quota, usage and snapshot count, a page at
// a time with a search and a choice of order, and the form that makes a new one; #/shares/{id}
// is one share (share-detail.js).
import { html } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { View } from '../lib/view.js';
import { bytes } from '../lib/format.js';
import { href } from '../lib/router.js';
import { collator } from '../lib/rows.js';
import { changesOf } from '../lib/store.js';
import { Table } from '../lib/table.js';
import './share-create.js';
import './share-detail.js';

const counted = new WeakMap(); // a tree → { version, counts } of its snapshots

// how many snapshots each share has, by share id (counted again only when /snapshots changed)
export function snapshotCounts(tree) {
  const version = changesOf(tree).version('snapshots');
  const known = counted.get(tree);
  if (known?.version === version) return known.counts;
  const counts = {};
  for (const snapshot of Object.values(tree?.snapshots ?? {})) {
    if (snapshot.share) counts[snapshot.share] = (counts[snapshot.share] ?? 0) + 1;
  }
  counted.set(tree, { version, counts });
  return counts;
}

// "alice:staff" (either may be unknown)
export function ownership(share) {
  return `${share.owner ?? '?'}:${share.group ?? '?'}`;
}

const byName = (a, b) => collator.compare(String(a.name), String(b.name));
const byNumber = (value) => (a, b) => (value(a) ?? -1) - (value(b) ?? -1) || byName(a, b);

customElements.define('rockd-shares', class extends View {
  constructor() {
    super();
    const byPool = (a, b) => collator.compare(this.poolName(a.pool), this.poolName(b.pool))
      || byName(a, b);
    this.table = new Table(this, {
      branch: 'shares', noun: 'shares', order: ['pool', false],
      columns: {
        name: ['Name', byName],
        pool: ['Pool', byPool],
        quota: ['Quota', byNumber((s) => s.quota)],
        referenced: ['Referenced', byNumber((s) => s.usage?.referenced)],
        exclusive: ['Exclusive', byNumber((s) => s.usage?.exclusive)],
      },
      text: (s) => `${s.name} ${this.poolName(s.pool)}`,
    });
  }

  render() {
    if (this.id) {
      return html`<rockd-share-detail .tree=${this.tree} .rev=${this.rev} .id=${this.id}>
        </rockd-share-detail>`;
    }
    const { table } = this;
    const shares = table.page(this.tree);
    const counts = snapshotCounts(this.tree);
    return html`
      <section class="card">
        <h1>Shares</h1>
        ${table.shown.total ? html`
          ${table.tools()}
          <table class="wide shares">
            <thead><tr>
              ${table.th('name')}${table.th('pool')}${table.th('quota', 'num')}
              ${table.th('referenced', 'num')}${table.th('exclusive', 'num')}
              <th>Compression</th><th>Owner</th><th>Mode</th><th class="num">Snapshots</th>
            </tr></thead>
            <tbody>${repeat(shares, (share) => share.id,
              (share) => this.row(share, counts[share.id] ?? 0))}</tbody>
          </table>
          ${table.pager()}`
        : html`<p class="muted">No shares yet. A share is a folder of a pool (a btrfs subvolume)
            with its own quota, snapshots and owner; create the first one below.</p>`}
      </section>
      <rockd-share-create .tree=${this.tree} .rev=${this.rev}></rockd-share-create>`;
  }

  row(share, snapshots) {
    return html`
      <tr data-share=${share.id}>
        <td><a href=${href('shares', share.id)}>${share.name}</a>
          ${share.read_only ? html` <span class="badge">read-only</span>` : ''}
          ${share.received_uuid ? html` <span class="badge">replica</span>` : ''}</td>
        <td><a href=${href('pools', share.pool)}>${this.poolName(share.pool)}</a></td>
        <td class="num" data-label="Quota">${share.quota ? bytes(share.quota) : 'none'}</td>
        <td class="num" data-label="Referenced">${bytes(share.usage?.referenced)}</td>
        <td class="num" data-label="Exclusive">${bytes(share.usage?.exclusive)}</td>
        <td data-label="Compression">${share.compression ?? 'as the pool'}</td>
        <td data-label="Owner">${ownership(share)}</td>
        <td data-label="Mode">${share.mode ?? '—'}</td>
        <td class="num" data-label="Snapshots">${snapshots}</td>
      </tr>`;
  }
});
