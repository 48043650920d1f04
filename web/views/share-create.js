// The "Create share" form: a new subvolume in one of the mounted pools, with its quota,
// compression, owner, group and mode; on success the new share's page opens. Errors show at
// the field they are about; a first quota on a pool asks before it turns btrfs quotas on.
import { NAME_PATTERN, NAME_RULE } from '../lib/names.js';
import { html } from 'lit';
import { View, fields, ruledField } from '../lib/view.js';
import { call } from '../lib/api.js';
import { byName, parseSize } from '../lib/format.js';
import { go } from '../lib/router.js';
import { confirmAction } from '../components/confirm.js';

export const MODE_PATTERN = '0?[0-7]{3,4}';
export const MODE_RULE = '3 or 4 octal digits (0 to 7), such as 0755';
// what btrfs can compress a subvolume with; its level is the pool's (mount option)
export const COMPRESSIONS = ['no', 'lzo', 'zlib', 'zstd'];
// A quota is written with its unit: a bare number would be read as bytes by the API and as
// gigabytes by most people, so it is refused rather than guessed.
export const QUOTA_RULE = 'a size with its unit, such as 500M, 10G or 2T (units of 1024); '
  + 'at least 1M';

// The quota field's text as bytes: null for empty; throws an Error saying the rule in words
// when it is not a size with a unit.
export function quotaBytes(text) {
  if (!text || !text.trim()) return null;
  const said = text.trim();
  const bytes = parseSize(said);
  if (bytes !== null && !/[kmgtpe]/i.test(said)) {
    throw new Error(`"${said}" has no unit: write the quota as ${QUOTA_RULE}.`);
  }
  if (bytes === null) throw new Error(`"${said}" is not a size: write the quota as ${QUOTA_RULE}.`);
  return bytes;
}

// The quota field with its rule in words and its error (shared with the share's settings).
export function quotaField(view, value = '') {
  return ruledField('quota', 'Quota', `optional; ${QUOTA_RULE}`, html`
    <input id="quota" name="quota" value=${value} autocomplete="off" placeholder="no quota"
      aria-invalid=${view.invalid('quota')} aria-describedby="quota-rule">`,
  view.fieldError('quota'));
}

// A first quota turns btrfs quotas on for the whole pool, which costs every later snapshot
// and deletion time (BTRFS-NOTES): ask first. Answers whether to go on. `action` is the
// button's words (the pool's settings turn them on without setting a quota).
export function quotasAllowed(pool, action = 'Turn on quotas and set the quota') {
  if (!pool || pool.quotas) return Promise.resolve(true);
  return confirmAction({
    title: `Turn on quotas for pool ${pool.name}?`,
    message: `Quotas are off on pool ${pool.name}. With them on, btrfs `
      + 'counts the space of every share and snapshot of the pool: making a snapshot takes '
      + 'about 3 times longer (25 times with 2,000 snapshots), deleting many snapshots up to 30 '
      + 'times longer, and the first count of what the pool holds runs for a while. They can '
      + 'be turned off again in the pool\'s settings (the quotas then stop applying).',
    action,
    tone: 'primary',
  });
}

customElements.define('rockd-share-create', class extends View {
  async create(event) {
    event.preventDefault();
    const form = event.target;
    const body = fields(form);
    try {
      body.quota = quotaBytes(body.quota);
    } catch (err) {
      this.refuse(err.message, 'quota');
      return;
    }
    if (body.quota === null) delete body.quota;
    else if (!await quotasAllowed(this.tree?.pools?.[body.pool])) return;
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
                </select>${this.fieldError('pool')}</label>
              ${ruledField('share-name', 'Name', NAME_RULE, html`
                <input id="share-name" name="name" required pattern=${NAME_PATTERN} maxlength="64"
                  title=${`A share's name is ${NAME_RULE}.`} aria-describedby="share-name-rule"
                  aria-invalid=${this.invalid('name')} autocomplete="off" placeholder="e.g. photos">`,
                this.fieldError('name'))}
              ${quotaField(this)}
              <label>Compression
                <select name="compression">
                  <option value="">as the pool</option>
                  ${COMPRESSIONS.map((c) => html`<option value=${c}>${c}</option>`)}
                </select>${this.fieldError('compression')}</label>
              <label>Owner <small>optional user</small>
                <input name="owner" autocomplete="off" placeholder="root"
                  aria-invalid=${this.invalid('owner')}>${this.fieldError('owner')}</label>
              <label>Group <small>optional</small>
                <input name="group" autocomplete="off" placeholder="root"
                  aria-invalid=${this.invalid('group')}>${this.fieldError('group')}</label>
              ${ruledField('share-mode', 'Mode', `optional; ${MODE_RULE}`, html`
                <input id="share-mode" name="mode" pattern=${MODE_PATTERN} maxlength="5"
                  title=${`The mode is ${MODE_RULE}.`} aria-describedby="share-mode-rule"
                  aria-invalid=${this.invalid('mode')} autocomplete="off" placeholder="0755">`,
                this.fieldError('mode'))}
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
