// Disks: every disk the box has, managed by rockd or not, with its pool and health; one
// disk's page (#/disks/{id}) is disk-detail.js.
import { html } from 'lit';
import { bytes } from '../lib/format.js';
import { href } from '../lib/router.js';
import { View } from '../lib/view.js';
import { diskHealth, diskHolds } from './disk-facts.js';
import './disk-detail.js';

class Disks extends View {
  row(disk) {
    return html`
      <tr data-disk=${disk.id}>
        <td data-label="Path"><a href=${href('disks', disk.id)}>${disk.path}</a></td>
        <td data-label="Size" class="num">${bytes(disk.size)}</td>
        <td data-label="Model">${disk.model ?? '—'}</td>
        <td data-label="Serial">${disk.serial ?? '—'}</td>
        <td data-label="Pool">${diskHolds(this.tree, disk)}</td>
        <td data-label="Health">${diskHealth(disk)}</td>
        <td data-label="Managed">${disk.managed ? 'yes'
          : html`<span class="muted">no (read-only)</span>`}</td>
      </tr>`;
  }

  render() {
    if (this.id) {
      return html`<rockd-disk-detail .tree=${this.tree} .rev=${this.rev} .id=${this.id}>
        </rockd-disk-detail>`;
    }
    const disks = this.branch('disks').sort((a, b) => (b.managed - a.managed)
      || String(a.path).localeCompare(String(b.path), undefined, { numeric: true }));
    const unmanaged = disks.filter((d) => !d.managed).length;
    return html`
      <section class="card">
        <h1>Disks</h1>
        ${disks.length ? html`
          <table class="wide labelled">
            <thead><tr><th>Path</th><th class="num">Size</th><th>Model</th><th>Serial</th>
              <th>Pool</th><th>Health</th><th>Managed</th></tr></thead>
            <tbody>${disks.map((disk) => this.row(disk))}</tbody>
          </table>` : html`<p>No disk was found.</p>`}
        ${unmanaged ? html`<p class="muted">rockd only changes the disks it was given
          (<code>--devices</code>); the others are shown read-only, and the disk holding the
          system is never managed.</p>` : ''}
      </section>`;
  }
}

customElements.define('rockd-disks', Disks);
