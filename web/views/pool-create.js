// Create pool (#/pools/new): empty disks, data and metadata profiles with their minimums,
// compression and a name; what the pool would hold is asked of POST /pools/capacity.
import { NAME_PATTERN, NAME_RULE } from '../lib/names.js';
import { html } from 'lit';
import { call } from '../lib/api.js';
import { bytes } from '../lib/format.js';
import { go, href } from '../lib/router.js';
import { View, fields, ruledField } from '../lib/view.js';
import {
  DATA_PROFILES, METADATA_PROFILES, compressionOptions, defaultMetadata, diskLabel, explain,
  freeDisks, profileOptions, shortOf,
} from './pool-facts.js';

class PoolCreate extends View {
  static properties = {
    ...View.properties,
    picked: { state: true },
    data: { state: true },
    metadata: { state: true },
    capacity: { state: true },
  };

  constructor() {
    super();
    this.picked = [];
    this.data = null; // chosen on first render from the disks there are
    this.metadata = ''; // '' is rockd's default for the data profile
    this.capacity = null; // {usable, raw, wasted} | {error} | {pending: true}
    this.asked = 0;
  }

  willUpdate(changed) {
    super.willUpdate(changed);
    if (this.data === null) this.data = freeDisks(this.tree).length > 1 ? 'raid1' : 'single';
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    clearTimeout(this.timer);
  }

  // Called on the user's input only: the capacity question waits until they pause.
  changed() {
    clearTimeout(this.timer);
    const { picked, data, metadata } = this;
    if (!picked.length || shortOf(data, picked.length)
        || (metadata && shortOf(metadata, picked.length))) {
      this.capacity = null;
      return;
    }
    this.capacity = { pending: true };
    this.timer = setTimeout(() => this.ask(picked, data, metadata), 300);
  }

  async ask(disks, data, metadata) {
    const asked = ++this.asked;
    const body = { disks, data, ...(metadata ? { metadata } : {}) };
    let answer;
    try {
      answer = await call('POST', '/pools/capacity', body);
    } catch (err) {
      answer = { error: err.message };
    }
    if (asked === this.asked) this.capacity = answer; // a later question overtakes this one
  }

  toggle(disk, on) {
    this.picked = on ? [...this.picked, disk.id] : this.picked.filter((id) => id !== disk.id);
    this.changed();
  }

  async submit(event) {
    event.preventDefault();
    const form = fields(event.target);
    const body = { name: form.name, disks: this.picked, data: this.data };
    if (this.metadata) body.metadata = this.metadata;
    if (form.compression && form.compression !== 'no') body.compression = form.compression;
    if (form.mount_options) body.mount_options = form.mount_options;
    const pool = await this.act(() => call('POST', '/pools', body));
    if (pool) go('pools', pool.id);
  }

  held() {
    const c = this.capacity;
    if (!c) {
      return html`<p class="muted">${this.picked.length ? 'Those disks cannot hold the chosen profiles.'
        : 'Pick disks and profiles to see what the pool would hold.'}</p>`;
    }
    if (c.pending) return html`<p class="muted">Working out the capacity…</p>`;
    if (c.error) return html`<p class="error">${c.error}</p>`;
    return html`
      <dl>
        <dt>Usable for data</dt><dd><strong>${bytes(c.usable)}</strong></dd>
        <dt>Raw (all disks)</dt><dd>${bytes(c.raw)}</dd>
        <dt>Copies and parity</dt><dd>${bytes(c.raw - c.usable - c.wasted)}</dd>
        <dt>Left unusable</dt><dd>${bytes(c.wasted)}${c.wasted > c.raw * 0.05
          ? html` <small class="warn">(unequal disks: no chunk of this profile fits it)</small>`
          : ''}</dd>
      </dl>
      <p><small>Metadata takes some of the usable space from the start: its first chunks are
        up to a tenth of a pool of small disks (about 110 MiB of one 1 GiB disk) and about 0.2 %
        of one of large disks; it grows with the files, faster with many small ones.</small></p>`;
  }

  render() {
    const free = freeDisks(this.tree);
    const count = this.picked.length;
    const limit = count || free.length;
    const fallback = defaultMetadata(this.data, Math.max(count, 1));
    const dataShort = count ? shortOf(this.data, count) : '';
    const metaShort = count && this.metadata ? shortOf(this.metadata, count) : '';
    // an empty disk that vanished or was taken meanwhile leaves the choice
    const gone = this.picked.filter((id) => !free.some((d) => d.id === id));
    const others = Object.values(this.tree?.disks ?? {}).filter((d) => d.managed && !free.includes(d)
      && !d.pool);
    return html`
      <section class="card">
        <p><a href=${href('pools')}>← Pools</a></p>
        <h1>Create pool</h1>
        <form class="pool-create" @submit=${(e) => this.submit(e)}>
          ${ruledField('pool-name', 'Name', NAME_RULE, html`
            <input id="pool-name" name="name" required pattern=${NAME_PATTERN} maxlength="64"
              title=${`A pool's name is ${NAME_RULE}.`} aria-describedby="pool-name-rule"
              aria-invalid=${this.invalid('name')} autocomplete="off" placeholder="tank">`,
            this.fieldError('name'))}
          <fieldset>
            <legend>Disks</legend>
            ${free.length ? free.map((disk) => html`
              <label class="check" data-disk=${disk.id}>
                <input type="checkbox" .checked=${this.picked.includes(disk.id)}
                  @change=${(e) => this.toggle(disk, e.target.checked)}>
                ${diskLabel(disk)}</label>`)
              : html`<p>No disk is empty and managed by rockd.</p>`}
            ${others.length ? html`<small>Not offered (they hold data; wipe them first):
              ${others.map((d) => html`<a href=${href('disks', d.id)}>${d.path}</a> `)}</small>` : ''}
            ${gone.length ? html`<p class="warn">${gone.length} chosen disk(s) are no longer
              free.</p>` : ''}
          </fieldset>
          <div class="pool-choice">
            <label>Data profile
              <select name="data" @change=${(e) => { this.data = e.target.value; this.changed(); }}>
                ${profileOptions(DATA_PROFILES, this.data, limit)}
              </select></label>
            <p class="pool-explain">${explain(this.data)}${dataShort
              ? html` <strong class="error">${dataShort}.</strong>` : ''}</p>
          </div>
          <div class="pool-choice">
            <label>Profile for metadata
              <select name="metadata"
                @change=${(e) => { this.metadata = e.target.value; this.changed(); }}>
                <option value="" ?selected=${!this.metadata}>default (${fallback})</option>
                ${profileOptions(METADATA_PROFILES, this.metadata, limit)}
              </select></label>
            <p class="pool-explain">${explain(this.metadata || fallback)} Metadata (the
              filesystem's trees) is small, but losing it loses the pool: rockd's default keeps
              at least as many copies of it as the data has.${metaShort
              ? html` <strong class="error">${metaShort}.</strong>` : ''}</p>
          </div>
          <label>Compression <select name="compression">${compressionOptions('no')}</select>
            ${this.fieldError('compression')}</label>
          <label>Mount options <small>optional, separated by commas</small>
            <input name="mount_options" autocomplete="off" placeholder="noatime"
            aria-invalid=${this.invalid('mount_options')}>${this.fieldError('mount_options')}</label>
          <section class="pool-capacity-preview" aria-live="polite">
            <h2>What it would hold</h2>
            ${this.held()}
          </section>
          ${this.problem()}
          <div class="actions">
            <button type="submit" class="primary"
              ?disabled=${this.busy || !count || gone.length || dataShort || metaShort}>
              ${this.busy ? 'Creating…' : 'Create pool'}</button>
            <a href=${href('pools')}>Cancel</a>
          </div>
        </form>
      </section>`;
  }
}

customElements.define('rockd-pool-create', PoolCreate);
