// A pool's settings and lifecycle: profile conversion, name, compression, mount options and
// quotas (PATCH), mounting (degraded when a disk is missing), and deleting the pool.
import { NAME_PATTERN } from '../lib/names.js';
import { html } from 'lit';
import { call } from '../lib/api.js';
import { go } from '../lib/router.js';
import { View } from '../lib/view.js';
import { confirmAction } from '../components/confirm.js';
import { quotasAllowed } from './share-create.js';
import {
  DATA_PROFILES, METADATA_PROFILES, compressionOptions, explain, profileOptions, shortOf,
} from './pool-facts.js';

class PoolSettings extends View {
  static properties = {
    ...View.properties, data: { state: true }, metadata: { state: true },
  };

  constructor() {
    super();
    this.data = null; // the convert form's choice; null until the user picks
    this.metadata = null;
    this.optionsTyped = false; // mount options are sent only once the user typed them
  }

  get pool() {
    return this.tree?.pools?.[this.id];
  }

  async convert(event, present) {
    event.preventDefault();
    const pool = this.pool;
    const data = this.data ?? pool.data;
    const metadata = this.metadata ?? pool.metadata;
    const ok = await confirmAction({
      title: `Convert ${pool.name} to ${data} data and ${metadata} metadata?`,
      message: `A converting balance rewrites every chunk of the pool in the new profiles (a job
        that can take hours; the pool stays usable meanwhile). ${present} disks are present.`,
      action: 'Change profile',
    });
    if (ok) await this.act(() => call('POST', `/pools/${pool.id}/profile`, { data, metadata }));
  }

  async save(event) {
    event.preventDefault();
    const pool = this.pool;
    const form = new FormData(event.target);
    const changes = {};
    if (form.get('label') !== pool.name) changes.label = form.get('label');
    if (form.get('compression') !== (pool.compression ?? 'no')) {
      changes.compression = form.get('compression');
    }
    if (this.optionsTyped) changes.mount_options = String(form.get('mount_options')).trim();
    if (form.has('quotas') !== Boolean(pool.quotas)) changes.quotas = form.has('quotas');
    if (!Object.keys(changes).length) {
      this.error = 'Nothing was changed.';
      return;
    }
    if (changes.quotas && !await quotasAllowed(pool, 'Turn on quotas')) return;
    const done = await this.act(() => call('PATCH', `/pools/${pool.id}`, changes));
    if (done) this.optionsTyped = false;
  }

  async mount(degraded) {
    await this.act(() => call('POST', `/pools/${this.id}/mount`, { degraded }));
  }

  async unmount() {
    const pool = this.pool;
    const ok = await confirmAction({
      title: `Unmount ${pool.name}?`,
      message: 'Its shares become unavailable (and their exports fail) until it is mounted again.',
      action: 'Unmount',
    });
    if (ok) await this.act(() => call('POST', `/pools/${pool.id}/unmount`));
  }

  async deletePool() {
    const pool = this.pool;
    const shares = this.branch('shares').filter((s) => s.pool === pool.id).length;
    const ok = await confirmAction({
      title: `Delete pool ${pool.name}?`,
      message: `rockd unmounts it and forgets it; its ${pool.devices?.length ?? 0} disks are
        freed, not wiped: their data stays until they are wiped or reused, and the filesystem
        can be imported again meanwhile.${shares ? ` Its ${shares} share${shares > 1 ? 's' : ''}
        leave rockd with it.` : ''}`,
      action: 'Delete',
      typed: pool.name,
    });
    if (!ok) return;
    const query = shares ? '?force=true' : '';
    const done = await this.act(async () => {
      await call('DELETE', `/pools/${pool.id}${query}`);
      return true;
    });
    if (done) go('pools');
  }

  profile(pool) {
    const present = (pool.devices ?? []).filter((d) => !d.missing).length;
    const data = this.data ?? pool.data;
    const metadata = this.metadata ?? pool.metadata;
    if (!pool.data || !pool.metadata) {
      return html`<div><h3>Change profile</h3>
        <p class="pool-explain">The profiles are read while the pool is mounted.</p></div>`;
    }
    const short = shortOf(data, present, 'present') || shortOf(metadata, present, 'present');
    const same = data === pool.data && metadata === pool.metadata;
    return html`
      <form @submit=${(e) => this.convert(e, present)}>
        <h3>Change profile</h3>
        <label>Data profile <select name="data"
          @change=${(e) => { this.data = e.target.value; }}>
          ${profileOptions(DATA_PROFILES, data, present)}</select></label>
        <p class="pool-explain">${explain(data)}</p>
        <label>Profile for metadata <select name="metadata"
          @change=${(e) => { this.metadata = e.target.value; }}>
          ${profileOptions(METADATA_PROFILES, metadata, present)}</select></label>
        <p class="pool-explain">${explain(metadata)}</p>
        ${short ? html`<p class="error">${short}.</p>` : ''}
        <div class="actions"><button type="submit"
          ?disabled=${this.busy || !pool.mounted || short || same}>Change profile</button></div>
      </form>`;
  }

  // put the pool's options with the recommended ones into the form (saved with the rest)
  useRecommended(pool) {
    const input = this.querySelector('input[name="mount_options"]');
    input.value = pool.ssd.mount_options;
    this.optionsTyped = true;
  }

  recommended(pool) {
    const wanted = pool.ssd?.recommended_options ?? [];
    if (!wanted.length) return '';
    const missing = wanted.filter((o) => !(pool.ssd.in_force ?? []).includes(o));
    return html`
      <p class="pool-explain recommended-options">For these devices rockd recommends
        ${wanted.map((o, i) => html`${i ? ', ' : ''}<code>${o}</code>`)}${missing.length
          ? html` (not in force now: ${missing.join(', ')}).` : ' (in force).'}
        ${missing.length ? html`<button type="button" ?disabled=${this.busy || !pool.mounted}
          @click=${() => this.useRecommended(pool)}>Use recommended options</button>` : ''}</p>`;
  }

  settings(pool) {
    return html`
      <form @submit=${(e) => this.save(e)}>
        <h3>Settings</h3>
        <label>Name <input name="label" required pattern=${NAME_PATTERN} maxlength="64"
          autocomplete="off" .value=${pool.name}></label>
        <small>Renaming moves the mount point (and its shares' paths) to the new name.</small>
        <label>Compression <select name="compression">
          ${compressionOptions(pool.compression ?? 'no')}</select></label>
        <small>Applies to what is written from now on.</small>
        <label>Mount options <input name="mount_options" autocomplete="off"
          placeholder="noatime" @input=${() => { this.optionsTyped = true; }}></label>
        <small>${pool.mount_options ? `Mounted now with ${pool.mount_options}. ` : ''}Leave the
          field alone to keep the options; what you type (comma-separated, such as
          noatime,commit=60) replaces them.</small>
        ${this.recommended(pool)}
        <label class="check"><input type="checkbox" name="quotas" .checked=${Boolean(pool.quotas)}>
          Quotas</label>
        <small>Quotas count each share's usage and let shares have a size limit; they cost some
          speed on pools with many snapshots.</small>
        <div class="actions"><button type="submit"
          ?disabled=${this.busy || !pool.mounted}>Save settings</button></div>
      </form>`;
  }

  lifecycle(pool) {
    return html`
      <div class="pool-lifecycle">
        <h3>Mount</h3>
        ${pool.mounted ? html`
          <p class="pool-explain">Mounted at ${pool.mount_point}.</p>
          <div class="actions">
            <button ?disabled=${this.busy} @click=${() => this.unmount()}>Unmount</button>
          </div>` : html`
          <p class="pool-explain">Not mounted: its shares are unavailable.</p>
          <div class="actions">
            ${pool.missing_devices ? html`
              <button class="primary" ?disabled=${this.busy}
                @click=${() => this.mount(true)}>Mount degraded</button>` : html`
              <button class="primary" ?disabled=${this.busy}
                @click=${() => this.mount(false)}>Mount</button>`}
          </div>
          ${pool.missing_devices ? html`<p class="warn">A disk of this pool is missing
            (${pool.missing_devices} in all): it mounts only degraded, with fewer copies of
            some data until the disk is back or another takes its place.</p>` : ''}`}
        <h3>Delete pool</h3>
        <p class="pool-explain">Unmounts the pool and frees its disks. Nothing is erased: the
          disks keep their data until wiped, and the filesystem can be imported again.</p>
        <div class="actions">
          <button class="danger" ?disabled=${this.busy} @click=${() => this.deletePool()}>Delete</button>
        </div>
      </div>`;
  }

  render() {
    const pool = this.pool;
    if (!pool) return '';
    return html`
      <section class="card" aria-labelledby="pool-settings">
        <h2 id="pool-settings">Manage</h2>
        ${pool.mounted ? '' : html`<p class="muted">Mount the pool to change its settings or
          profile.</p>`}
        ${this.problem()}
        <div class="grid pool-forms">
          ${this.profile(pool)}${this.settings(pool)}${this.lifecycle(pool)}
        </div>
      </section>`;
  }
}

customElements.define('rockd-pool-settings', PoolSettings);
