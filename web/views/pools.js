// Pools: every pool with its capacity and health, btrfs filesystems to import, and the
// routes to a new pool (#/pools/new) and to one pool's page (#/pools/{id}).
import { html } from 'lit';
import { call } from '../lib/api.js';
import { bytes, byName } from '../lib/format.js';
import { go, href } from '../lib/router.js';
import { View } from '../lib/view.js';
import { freeDisks, healthBadges, importable, usageBar } from './pool-facts.js';
import './pool-create.js';
import './pool-detail.js';

class Pools extends View {
  async import(fs) {
    const pool = await this.act(() => call('POST', '/pools/import', { disk: fs.disks[0].id }));
    if (pool) go('pools', pool.id);
  }

  row(pool) {
    return html`
      <tr data-pool=${pool.id}>
        <td data-label="Name"><a href=${href('pools', pool.id)}>${pool.name}</a></td>
        <td data-label="Profile">${pool.data ?? '—'}${pool.metadata
          ? html` <small>· metadata ${pool.metadata}</small>` : ''}</td>
        <td data-label="Capacity" class="pool-capacity">${usageBar(pool)}</td>
        <td data-label="Disks" class="num">${pool.devices?.length ?? 0}</td>
        <td data-label="Health">${healthBadges(pool)}</td>
        <td data-label="Mounted">${pool.mounted
          ? html`<span class="badge good">mounted</span>`
          : html`<span class="badge bad">not mounted</span>`}</td>
      </tr>`;
  }

  imports() {
    const found = importable(this.tree);
    if (!found.length) return '';
    return html`
      <section class="card" aria-labelledby="import-title">
        <h2 id="import-title">Import a btrfs filesystem</h2>
        <p>These disks hold btrfs filesystems that are not pools of rockd. Importing one makes
          it a pool with all its subvolumes (as shares), mounted under its label.</p>
        <table class="wide labelled">
          <thead><tr><th>Label</th><th>Disks</th><th>UUID</th><th>Action</th></tr></thead>
          <tbody>${found.map((fs) => html`
            <tr data-filesystem=${fs.uuid}>
              <td data-label="Label">${fs.label ?? html`<span class="muted">no label</span>`}</td>
              <td data-label="Disks">${fs.disks.map((d) => html`
                <a href=${href('disks', d.id)}>${d.path}</a> `)}</td>
              <td data-label="UUID"><small>${fs.uuid}</small></td>
              <td><button ?disabled=${this.busy} @click=${() => this.import(fs)}>Import</button></td>
            </tr>`)}</tbody>
        </table>
      </section>`;
  }

  render() {
    if (this.id === 'new') {
      return html`<rockd-pool-create .tree=${this.tree} .rev=${this.rev}></rockd-pool-create>`;
    }
    if (this.id) {
      return html`<rockd-pool-detail .tree=${this.tree} .rev=${this.rev} .id=${this.id}>
        </rockd-pool-detail>`;
    }
    const pools = this.branch('pools').sort(byName);
    const free = freeDisks(this.tree);
    return html`
      <section class="card">
        <div class="title-row">
          <h1>Pools</h1>
          <a class="pool-button" href=${href('pools', 'new')}>Create pool</a>
        </div>
        <p class="muted">${free.length
          ? `${free.length} empty disk${free.length > 1 ? 's' : ''} (${bytes(
            free.reduce((sum, d) => sum + d.size, 0))}) can go into a new or existing pool.`
          : 'No empty disk is free for a new pool.'}</p>
        ${this.problem()}
        ${pools.length ? html`
          <table class="wide labelled">
            <thead><tr><th>Name</th><th>Profile</th><th>Capacity</th><th class="num">Disks</th>
              <th>Health</th><th>Mounted</th></tr></thead>
            <tbody>${pools.map((pool) => this.row(pool))}</tbody>
          </table>` : html`<p>There is no pool yet.</p>`}
      </section>
      ${this.imports()}`;
  }
}

customElements.define('rockd-pools', Pools);
