// Shares: every share of the mounted pools with its quota, usage and snapshot count, and the
// form that makes a new one; #/shares/{id} is one share (share-detail.js).
import { html } from 'lit';
import { View } from '../lib/view.js';
import { bytes, byName } from '../lib/format.js';
import { href } from '../lib/router.js';
import './share-create.js';
import './share-detail.js';

// how many snapshots each share has, by share id
export function snapshotCounts(tree) {
  const counts = {};
  for (const snapshot of Object.values(tree?.snapshots ?? {})) {
    if (snapshot.share) counts[snapshot.share] = (counts[snapshot.share] ?? 0) + 1;
  }
  return counts;
}

// "alice:staff" (either may be unknown)
export function ownership(share) {
  return `${share.owner ?? '?'}:${share.group ?? '?'}`;
}

customElements.define('rockd-shares', class extends View {
  render() {
    if (this.id) {
      return html`<rockd-share-detail .tree=${this.tree} .rev=${this.rev} .id=${this.id}>
        </rockd-share-detail>`;
    }
    const shares = this.branch('shares').sort((a, b) =>
      this.poolName(a.pool).localeCompare(this.poolName(b.pool)) || byName(a, b));
    const counts = snapshotCounts(this.tree);
    return html`
      <section class="card">
        <h1>Shares</h1>
        ${shares.length ? html`
          <table class="wide shares">
            <thead><tr>
              <th>Name</th><th>Pool</th><th class="num">Quota</th>
              <th class="num">Referenced</th><th class="num">Exclusive</th>
              <th>Compression</th><th>Owner</th><th>Mode</th><th class="num">Snapshots</th>
            </tr></thead>
            <tbody>${shares.map((share) => this.row(share, counts[share.id] ?? 0))}</tbody>
          </table>`
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
