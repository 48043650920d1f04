// A pool's disks: the per-device table (sizes, error counters) and adding, removing,
// replacing and resizing them. Remove and replace move data, so they run as jobs. A missing
// device has no disk id: it is replaced as "devid:N" and removed as "missing".
import { html } from 'lit';
import { call } from '../lib/api.js';
import { bytes, parseSize } from '../lib/format.js';
import { href } from '../lib/router.js';
import { View } from '../lib/view.js';
import { confirmAction } from '../components/confirm.js';
import { PROFILES, diskLabel, errorCount, freeDisks } from './pool-facts.js';

// ['a', 'b', 'c'] as 'a, b and c'.
function listed(words) {
  return words.length > 1 ? `${words.slice(0, -1).join(', ')} and ${words.at(-1)}` : words[0];
}

const COUNTERS = [
  ['write_io_errs', 'write'], ['read_io_errs', 'read'], ['flush_io_errs', 'flush'],
  ['corruption_errs', 'corruption'], ['generation_errs', 'generation'],
];

class PoolDisks extends View {
  static properties = {
    ...View.properties, adding: { state: true }, mending: { state: true },
  };

  constructor() {
    super();
    this.adding = [];
    this.mending = null; // the devid of the missing device being replaced, while picking
  }

  get pool() {
    return this.tree?.pools?.[this.id];
  }

  // Why `left` present disks would be too few for a profile in use, or ''. Every profile
  // that has chunks counts (a degraded mount leaves single chunks beside raid1 ones).
  tooFew(pool, left) {
    const allocation = pool.usage?.allocation ?? {};
    for (const kind of ['data', 'metadata', 'system']) {
      // profiles are read while the pool is mounted
      const names = allocation[kind]?.profiles ?? (pool[kind] ? [pool[kind]] : []);
      for (const name of names) {
        const need = PROFILES[name]?.min ?? 1;
        if (left < need) return `${name} ${kind} needs at least ${need} disks`;
      }
    }
    return '';
  }

  present(pool) {
    return (pool.devices ?? []).filter((d) => !d.missing).length;
  }

  async removeMissing(pool) {
    const ok = await confirmAction({
      title: `Remove the missing disk from ${pool.name}?`,
      message: `btrfs writes again, onto the disks that are present, every copy the missing disk
        held (a job that can take hours), then forgets that disk. The disks left need room for
        that data, and the pool keeps fewer disks: to keep its size, replace the missing disk
        instead.`,
      action: 'Remove missing',
    });
    if (ok) await this.act(() => call('POST', `/pools/${pool.id}/disks`, { remove: ['missing'] }));
  }

  async replaceMissing(event, pool, device) {
    event.preventDefault();
    const chosen = new FormData(event.target).get('new');
    const disk = this.tree?.disks?.[chosen];
    const ok = await confirmAction({
      title: `Replace missing device ${device.devid} with ${disk?.path ?? chosen}?`,
      message: `btrfs rebuilds on ${disk?.path ?? 'the new disk'} every copy the missing disk held,
        from the disks that are present (a job). Anything on the new disk is overwritten.`,
      action: 'Replace',
    });
    if (!ok) return;
    const done = await this.act(() => call('POST', `/pools/${pool.id}/disks`,
      { replace: { old: `devid:${device.devid}`, new: chosen } }));
    if (done) this.mending = null;
  }

  // After a device was missing: for each kind of chunk that has single chunks beside one
  // redundant profile, that profile (btrfs writes single chunks while a pool is degraded, and
  // while it replaces a missing device). Empty while a device is still missing.
  singleLeft(pool) {
    const allocation = pool.usage?.allocation ?? {};
    const present = this.present(pool);
    const targets = {};
    if (pool.missing_devices || pool.exclusive_operation) return targets;
    for (const kind of ['data', 'metadata', 'system']) {
      const names = allocation[kind]?.profiles ?? [];
      const others = names.filter((name) => name !== 'single');
      if (names.includes('single') && others.length === 1
        && (PROFILES[others[0]]?.min ?? 1) <= present) targets[kind] = others[0];
    }
    return targets;
  }

  async redundantAgain(pool, targets) {
    const filters = Object.entries(targets)
      .map(([kind, profile]) => `-${kind[0]}convert=${profile},soft`);
    const ok = await confirmAction({
      title: `Make the single chunks of ${pool.name} redundant again?`,
      message: `A converting balance rewrites only the chunks that are not yet ${
        Object.values(targets).join(' or ')} (a job).`,
      action: 'Convert',
    });
    if (ok) {
      await this.act(() => call('POST', `/pools/${pool.id}/balance`,
        { filters: ['--force', ...filters].join(' ') }));
    }
  }

  // The form that picks a free disk, at least as large, for a missing device.
  mendForm(pool, device) {
    const fits = freeDisks(this.tree).filter((disk) => disk.size >= device.size);
    return html`
      <form class="pool-mend" data-devid=${device.devid}
        @submit=${(e) => this.replaceMissing(e, pool, device)}>
        <h3>Replace missing device ${device.devid}</h3>
        ${fits.length ? html`<label>New disk <select name="new" required>${fits.map((disk) => html`
          <option value=${disk.id}>${diskLabel(disk)}</option>`)}</select></label>`
          : html`<p class="muted">No free disk is at least ${bytes(device.size)}.</p>`}
        <p class="pool-explain">The new disk must be at least ${bytes(device.size)}, the size
          btrfs used of the missing one.</p>
        <div class="actions">
          <button type="submit" ?disabled=${this.busy || !pool.mounted || !fits.length}>Replace</button>
          <button type="button" @click=${() => { this.mending = null; }}>Cancel</button>
        </div>
      </form>`;
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

  actions(pool, device, blocked) {
    const off = this.busy || !pool.mounted;
    if (device.disk) {
      return html`<button ?disabled=${off || blocked} title=${blocked || ''}
        @click=${() => this.removeDevice(pool, device)}>Remove</button>`;
    }
    if (!device.missing) return '';
    const short = this.tooFew(pool, this.present(pool));
    return html`<div class="actions">
      <button ?disabled=${off} @click=${() => { this.mending = device.devid; }}>Replace with…</button>
      <button class="danger" ?disabled=${off || short} title=${short || ''}
        @click=${() => this.removeMissing(pool)}>Remove missing</button></div>`;
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
        <td>${this.actions(pool, device, blocked)}</td>
      </tr>`;
  }

  render() {
    const pool = this.pool;
    if (!pool) return '';
    const free = freeDisks(this.tree);
    const blocked = this.tooFew(pool, this.present(pool) - 1);
    const mending = (pool.devices ?? []).find((d) => d.missing && d.devid === this.mending);
    const single = this.singleLeft(pool);
    const kinds = Object.keys(single);
    const stillDegraded = !pool.missing_devices
      && (pool.mount_options ?? '').split(',').includes('degraded');
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
        ${pool.missing_devices ? html`<p class="warn">A disk is missing. Replace it with a free
          disk at least as large, or remove it when the disks that are present can hold every
          copy; both run while the pool is mounted degraded.</p>` : ''}
        ${mending ? this.mendForm(pool, mending) : ''}
        ${stillDegraded ? html`<p class="muted">No disk is missing any more, but the pool is
          still mounted with the degraded option: the kernel keeps it until the pool is
          unmounted and mounted again.</p>` : ''}
        ${kinds.length ? html`<div class="warn pool-single"><p>Some ${listed(kinds)} chunks
          are single, with one copy: btrfs writes them so while a pool is degraded, and while
          it replaces a missing disk.</p><div class="actions"><button ?disabled=${off}
          @click=${() => this.redundantAgain(pool, single)}>Make them ${
            [...new Set(Object.values(single))].join(' or ')} again</button></div></div>` : ''}
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
