// The "Create share" form: a new subvolume in one of the mounted pools, with its quota,
// compression, owner, group and mode; on success the new share's page opens.
import { NAME_PATTERN } from '../lib/names.js';
import { html } from 'lit';
import { View, fields } from '../lib/view.js';
import { call } from '../lib/api.js';
import { byName, parseSize } from '../lib/format.js';
import { go } from '../lib/router.js';

export const MODE_PATTERN = '0?[0-7]{3,4}';
// what btrfs can compress a subvolume with; its level is the pool's (mount option)
export const COMPRESSIONS = ['no', 'lzo', 'zlib', 'zstd'];

// The quota field's text as bytes: null for empty, NaN when it does not read as a size.
export function quotaBytes(text) {
  if (!text || !text.trim()) return null;
  return parseSize(text) ?? NaN;
}

customElements.define('rockd-share-create', class extends View {
  async create(event) {
    event.preventDefault();
    const form = event.target;
    const body = fields(form);
    const quota = quotaBytes(body.quota);
    if (Number.isNaN(quota)) {
      this.error = `The quota "${body.quota}" is not a size: write e.g. 500M, 10G or 2T.`;
      return;
    }
    if (quota === null) delete body.quota;
    else body.quota = quota;
    const share = await this.act(() => call('POST', '/shares', body));
    if (share) {
      form.reset();
      go('shares', share.id);
    }
  }

  render() {
    const pools = this.branch('pools').filter((pool) => pool.mounted).sort(byName);
    return html`
      <section class="card">
        <h2>New share</h2>
        ${pools.length ? html`
          <form class="share-create" @submit=${(e) => this.create(e)}>
            <div class="form-grid">
              <label>Pool
                <select name="pool" required>
                  ${pools.map((pool) => html`<option value=${pool.id}>${pool.name}</option>`)}
                </select></label>
              <label>Name
                <input name="name" required pattern=${NAME_PATTERN} maxlength="64"
                  autocomplete="off" placeholder="e.g. photos"></label>
              <label>Quota <small>optional, e.g. 10G</small>
                <input name="quota" autocomplete="off" placeholder="no quota"></label>
              <label>Compression
                <select name="compression">
                  <option value="">as the pool</option>
                  ${COMPRESSIONS.map((c) => html`<option value=${c}>${c}</option>`)}
                </select></label>
              <label>Owner <small>optional user</small>
                <input name="owner" autocomplete="off" placeholder="root"></label>
              <label>Group <small>optional</small>
                <input name="group" autocomplete="off" placeholder="root"></label>
              <label>Mode <small>optional, octal</small>
                <input name="mode" pattern=${MODE_PATTERN} maxlength="5" autocomplete="off"
                  placeholder="0755"></label>
            </div>
            ${this.problem()}
            <div class="actions">
              <button class="primary" ?disabled=${this.busy}>Create share</button>
            </div>
          </form>`
        : html`<p class="muted">A share needs a mounted pool: <a href="#/pools">create or
            mount a pool</a> first.</p>`}
      </section>`;
  }
});
