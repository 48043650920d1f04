// What the disk screens say of a disk: what it holds (a pool, a filesystem, nothing) and
// its health as the tree's SMART summary tells it.
import { html } from 'lit';
import { href } from '../lib/router.js';

// The disk's SMART summary in the tree ({health, temperature, ...}), where rockd has one.
export function smartSummary(disk) {
  return disk?.smart?.summary ?? disk?.smart ?? null;
}

export function diskHealth(disk) {
  const summary = smartSummary(disk);
  const health = summary?.health;
  if (health === 'passed') {
    const worn = summary.reallocated_sectors || summary.pending_sectors || summary.media_errors;
    return worn ? html`<span class="badge bad">passed, with bad sectors</span>`
      : html`<span class="badge good">passed</span>`;
  }
  if (health === 'failed') return html`<span class="badge bad">failing</span>`;
  return html`<span class="muted">unknown</span>`;
}

// The pool as a link, a btrfs filesystem no pool has taken, another filesystem, or "free".
export function diskHolds(tree, disk) {
  const pool = disk.pool ? tree?.pools?.[disk.pool] : null;
  if (pool) return html`<a href=${href('pools', pool.id)}>${pool.name}</a>`;
  const fs = disk.filesystem;
  if (fs?.type === 'btrfs') {
    return html`<span class="badge">btrfs${fs.label ? ` "${fs.label}"` : ''}, not imported</span>`;
  }
  if (fs) return html`<span class="badge">${fs.type}</span>`;
  if (disk.partitions?.length) {
    return html`<span class="badge">${disk.partitions.length} partition(s)</span>`;
  }
  return disk.managed ? html`<span class="muted">free</span>` : html`<span class="muted">—</span>`;
}
