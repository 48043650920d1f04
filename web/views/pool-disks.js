// A pool's disks: the per-device table (sizes, error counters) and adding, removing,
// replacing and resizing them. Remove and replace move data, so they run as jobs.
import { html } from 'lit';
import { call } from '../lib/api.js';
import { bytes, parseSize } from '../lib/format.js';
import { href } from '../lib/router.js';
import { View } from '../lib/view.js';
import { confirmAction } from '../components/confirm.js';
import { PROFILES, diskLabel, errorCount, freeDisks } from './pool-facts.js';

const COUNTERS = [
  ['write_io_errs', 'write'], ['read_io_errs', 'read'], ['flush_io_errs', 'flush'],
  ['corruption_errs', 'corruption'], ['generation_errs', 'generation'],
];

class PoolDisks extends View {
  static properties = { ...View.properties, adding: { state: true } };

  constructor() {
    super();
    this.adding = [];
  }

  get pool() {
    return this.tree?.pools?.[this.id];
  }

  // Why removing one disk would leave too few for a profile, or ''.
  tooFew(pool) {
    const left = (pool.devices?.length ?? 0) - 1;
    for (const kind of ['data', 'metadata']) {
      if (!pool[kind]) continue; // profiles are read while the pool is mounted
      const need = PROFILES[pool[kind]]?.min ?? 1;
      if (left < need) return `${pool[kind]} ${kind} needs at least ${need} disks`;
    }
    return '';
  }

  async removeDevice(pool, device) {
    const ok = await confirmAction({
      title: `Remove ${device.path} from ${pool.name}?`,
      message: `btrfs first moves every chunk on ${device.path} to the other disks of the pool
        (a job that can take hours on a full disk), then frees the disk. The other disks need
        room for that data.`,
      action: 'Remove',
    });
    if (ok) await this.act(() => call('POST', `/pools/${pool.id}/disks`, { remove: [device.disk] }));
  }

  async add(event) {
    event.preventDefault();
    const disks = this.adding;
    const done = await this.act(() => call('POST', `/pools/${this.id}/disks`, { add: disks }));
    if (done) this.adding = [];
  }

  async replace(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    const old = this.pool.devices.find((d) => d.disk === form.get('old'));
    const ok = await confirmAction({
      title: `Replace ${old?.path ?? 'the disk'}?`,
      message: `btrfs copies what ${old?.path} holds onto the new disk (a job), then the old one
        leaves the pool. Anything on the new disk is overwritten.`,
      action: 'Replace',
    });
    if (ok) {
      await this.act(() => call('POST', `/pools/${this.id}/disks`,
        { replace: { old: form.get('old'), new: form.get('new') } }));
    }
  }

  async resize(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    const text = String(form.get('size') ?? '').trim();
    const body = { disk: form.get('disk') };
    if (text) {
      const size = parseSize(text);
      if (size === null) {
        this.error = `"${text}" is not a size (such as 500G or 2T)`;
        return;
      }
      body.size = size;
    }
    await this.act(() => call('POST', `/pools/${this.id}/resize`, body));
  }

  errors(device) {
    if (!device.errors) return html`<span class="muted">—</span>`;
    const found = COUNTERS.filter(([key]) => device.errors[key]);
    if (!found.length) return html`<span class="badge good">none</span>`;
    return found.map(([key, name]) => html`
      <span class="badge bad">${device.errors[key]} ${name}</span> `);
  }

  row(pool, device, blocked) {
    const disk = this.tree?.disks?.[device.disk];
    return html`
      <tr data-devid=${device.devid} data-disk=${device.disk ?? ''}>
        <td data-label="Devid" class="num">${device.devid}</td>
        <td data-label="Disk">${device.missing ? html`<span class="badge bad">missing</span>` : ''}
          ${disk ? html`<a href=${href('disks', disk.id)}>${device.path}</a>`
            : device.path ?? '—'}${disk?.model ? html` <small>${disk.model}</small>` : ''}</td>
        <td data-label="Size" class="num">${bytes(device.size)}</td>
        <td data-label="Used" class="num">${bytes(device.used)}</td>
        <td data-label="Errors">${this.errors(device)}</td>
        <td>${device.disk ? html`<button ?disabled=${this.busy || !pool.mounted || blocked}
          title=${blocked || ''} @click=${() => this.removeDevice(pool, device)}>Remove</button>` : ''}</td>
      </tr>`;
  }

  render() {
    const pool = this.pool;
    if (!pool) return '';
    const free = freeDisks(this.tree);
    const blocked = this.tooFew(pool);
    const errors = (pool.devices ?? []).reduce((sum, d) => sum + errorCount(d), 0);
    const members = (pool.devices ?? []).filter((d) => d.disk);
    const off = this.busy || !pool.mounted;
    return html`
      <section class="card" aria-labelledby="pool-disks">
        <h2 id="pool-disks">Disks</h2>
        <table class="wide labelled">
          <thead><tr><th class="num">Devid</th><th>Disk</th><th class="num">Size</th>
            <th class="num">Used</th><th>Errors</th><th>Action</th></tr></thead>
          <tbody>${(pool.devices ?? []).map((d) => this.row(pool, d, blocked))}</tbody>
        </table>
        ${errors ? html`<p class="warn">The error counters count since they were last reset;
          read and write errors point at a failing disk or cable, corruption errors at bad data
          a scrub can repair from another copy.</p>` : ''}
        ${blocked ? html`<p class="muted">No disk can be removed: ${blocked}. Change the profile
          or add a disk first.</p>` : ''}
        ${pool.missing_devices ? html`<p class="warn">A missing disk has no disk id, so it can
          be neither removed nor replaced from here; add a disk to get redundancy back, or
          bring the missing disk back.</p>` : ''}
        ${pool.mounted ? '' : html`<p class="muted">Mount the pool to change its disks.</p>`}
        ${this.problem()}
        <div class="grid pool-forms">
          <form @submit=${(e) => this.add(e)}>
            <h3>Add disks</h3>
            ${free.length ? free.map((disk) => html`
              <label class="check" data-disk=${disk.id}><input type="checkbox"
                .checked=${this.adding.includes(disk.id)}
                @change=${(e) => { this.adding = e.target.checked ? [...this.adding, disk.id]
                  : this.adding.filter((id) => id !== disk.id); }}>
                ${diskLabel(disk)}</label>`)
              : html`<p class="muted">No empty disk is free.</p>`}
            <p class="pool-explain">New data goes to every disk at once; balance afterwards to
              spread what is already there.</p>
            <div class="actions"><button type="submit"
              ?disabled=${off || !this.adding.length}>Add disks</button></div>
          </form>
          <form @submit=${(e) => this.replace(e)}>
            <h3>Replace a disk</h3>
            <label>Old disk <select name="old" required>${members.map((d) => html`
              <option value=${d.disk}>${d.path ?? d.disk} (${bytes(d.size)})</option>`)}</select></label>
            <label>New disk <select name="new" required>${free.map((disk) => html`
              <option value=${disk.id}>${diskLabel(disk)}</option>`)}</select></label>
            <p class="pool-explain">The new disk must be at least as large as the old one.</p>
            <div class="actions"><button type="submit"
              ?disabled=${off || !free.length || !members.length}>Replace</button></div>
          </form>
          <form @submit=${(e) => this.resize(e)}>
            <h3>Resize</h3>
            <label>Disk to resize <select name="disk" required>${members.map((d) => html`
              <option value=${d.disk}>${d.path ?? d.disk} (${bytes(d.size)})</option>`)}</select></label>
            <label>New size <input name="size" autocomplete="off" placeholder="whole disk"></label>
            <p class="pool-explain">Grows btrfs to the whole disk when left empty (after the disk
              itself grew), or to the size given (such as 500G); a smaller size shrinks it.</p>
            <div class="actions"><button type="submit"
              ?disabled=${off || !members.length}>Resize</button></div>
          </form>
        </div>
      </section>`;
  }
}

customElements.define('rockd-pool-disks', PoolDisks);
