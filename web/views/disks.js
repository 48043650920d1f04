// Disks: every disk the box has, managed by rockd or not, with its pool and health, a page at a
// time with a search and a choice of order; one disk's page (#/disks/{id}) is disk-detail.js.
import { html } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { bytes } from '../lib/format.js';
import { href } from '../lib/router.js';
import { collator } from '../lib/rows.js';
import { Table } from '../lib/table.js';
import { View } from '../lib/view.js';
import { diskHealth, diskHolds } from './disk-facts.js';
import './disk-detail.js';

const byPath = (a, b) => collator.compare(String(a.path), String(b.path));
const byText = (value) => (a, b) => collator.compare(String(value(a) ?? ''), String(value(b) ?? ''))
  || byPath(a, b);

class Disks extends View {
  constructor() {
    super();
    this.table = new Table(this, {
      branch: 'disks', noun: 'disks', order: ['managed', false],
      columns: {
        path: ['Path', byPath],
        size: ['Size', (a, b) => (a.size ?? -1) - (b.size ?? -1) || byPath(a, b)],
        model: ['Model', byText((d) => d.model)],
        serial: ['Serial', byText((d) => d.serial)],
        managed: ['Managed', (a, b) => (b.managed - a.managed) || byPath(a, b),
          ['Managed first', 'Managed last']],
      },
      text: (d) => `${d.path} ${d.model ?? ''} ${d.serial ?? ''}`,
    });
  }

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
    const { table } = this;
    const disks = table.page(this.tree);
    const unmanaged = table.all(this.tree).some((d) => !d.managed);
    return html`
      <section class="card">
        <h1>Disks</h1>
        ${table.shown.total ? html`
          ${table.tools()}
          <table class="wide labelled">
            <thead><tr>${table.th('path')}${table.th('size', 'num')}${table.th('model')}
              ${table.th('serial')}<th>Pool</th><th>Health</th>${table.th('managed')}</tr></thead>
            <tbody>${repeat(disks, (disk) => disk.id, (disk) => this.row(disk))}</tbody>
          </table>
          ${table.pager()}` : html`<p>No disk was found.</p>`}
        ${unmanaged ? html`<p class="muted">rockd only changes the disks it was given
          (<code>--devices</code>); the others are shown read-only, and the disk holding the
          system is never managed.</p>` : ''}
      </section>`;
  }
}

customElements.define('rockd-disks', Disks);
