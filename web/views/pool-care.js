// A pool's SSD care and deduplication: what its devices are (rotational, discard, as the
// kernel says), the mount options rockd recommends for them, "Trim now" (fstrim, a job) and
// "Deduplicate" (duperemove over chosen shares, or the whole pool, a job), with what the last
// of each did. The jobs themselves show, live, in the pool's Jobs card.
import { html } from 'lit';
import { call } from '../lib/api.js';
import { bytes, byName, when } from '../lib/format.js';
import { View } from '../lib/view.js';

function yesNo(value, yes, no) {
  if (value === null || value === undefined) return '—';
  return value ? yes : no;
}

class PoolCare extends View {
  get pool() {
    return this.tree?.pools?.[this.id];
  }

  // the newest ended job of `kind` on this pool
  last(kind) {
    return this.branch('jobs').filter((j) => j.kind === kind && j.target === this.id && j.ended)
      .sort((a, b) => b.ended.localeCompare(a.ended))[0];
  }

  running(kind) {
    return this.branch('jobs').some((j) => j.kind === kind && j.target === this.id
      && ['queued', 'running', 'paused'].includes(j.state));
  }

  async trim() {
    const job = await this.act(() => call('POST', `/pools/${this.id}/trim`));
    if (job) this.note = 'Trim started: it shows in the Jobs card.';
  }

  async dedup(event) {
    event.preventDefault();
    const shares = new FormData(event.target).getAll('shares');
    const job = await this.act(() => call('POST', `/pools/${this.id}/dedup`,
      shares.length ? { shares } : {}));
    if (job) this.note = 'Deduplication started: it shows in the Jobs card.';
  }

  outcome(job, what) {
    if (!job) return html`<p class="muted">No ${what} has run yet.</p>`;
    const saved = job.kind === 'trim' ? job.result?.bytes_trimmed : job.result?.bytes_deduplicated;
    return html`<p class="care-last" data-kind=${job.kind}>Last ${what}: ${job.state === 'succeeded'
      ? html`<strong>${bytes(saved ?? 0)}</strong> ${job.kind === 'trim' ? 'trimmed' : 'freed'}`
      : job.error ?? job.state} · ${when(job.ended)}</p>`;
  }

  devices(pool) {
    const ssd = pool.ssd ?? {};
    const recommended = ssd.recommended_options ?? [];
    const inForce = ssd.in_force ?? [];
    return html`
      <div>
        <h3>Devices</h3>
        <table class="care-devices">
          <thead><tr><th>Device</th><th>Kind</th><th>Discard (TRIM)</th></tr></thead>
          <tbody>${(pool.devices ?? []).map((d) => html`
            <tr data-devid=${d.devid}>
              <td>${d.path ?? `device ${d.devid} (missing)`}</td>
              <td data-label="Kind">${yesNo(d.rotational, 'rotational', 'non-rotational')}</td>
              <td data-label="Discard">${yesNo(d.discard, 'yes', 'no')}</td>
            </tr>`)}</tbody>
        </table>
        <p class="pool-explain care-recommended">${recommended.length ? html`Recommended mount
          options: ${recommended.map((o) => html`<code>${o}</code>
            ${inForce.includes(o) ? html`<span class="badge good">in force</span>`
              : html`<span class="badge warn">not in force</span>`} `)}
          ${recommended.every((o) => inForce.includes(o)) ? ''
            : html`<br>Apply them in the settings below.`}`
          : 'No mount option is recommended for these devices (they are rotational and take no discard).'}</p>
      </div>`;
  }

  trimPart(pool) {
    const takes = (pool.devices ?? []).some((d) => !d.missing && d.discard);
    const off = this.busy || !pool.mounted || !takes || this.running('trim');
    return html`
      <div class="care-trim">
        <h3>Trim</h3>
        <p class="pool-explain">Tells the devices which blocks are free (fstrim), so an SSD
          keeps its speed and thin or sparse storage gets the space back.</p>
        ${takes ? '' : html`<p class="muted">No device of this pool takes discard.</p>`}
        ${this.outcome(this.last('trim'), 'trim')}
        <div class="actions"><button ?disabled=${off} @click=${() => this.trim()}>Trim now</button></div>
      </div>`;
  }

  dedupPart(pool) {
    const shares = this.branch('shares').filter((s) => s.pool === pool.id && !s.read_only)
      .sort(byName);
    const off = this.busy || !pool.mounted || this.running('dedup');
    return html`
      <form class="care-dedup" @submit=${(e) => this.dedup(e)}>
        <h3>Deduplicate</h3>
        <p class="pool-explain">Finds identical data (duperemove) and stores it once. Its hashes
          are kept on the pool, so a later run reads only what changed.</p>
        <fieldset>
          <legend>Shares</legend>
          ${shares.length ? shares.map((s) => html`
            <label class="check"><input type="checkbox" name="shares" value=${s.id}> ${s.name}</label>`)
            : html`<p class="muted">No share on this pool.</p>`}
          <small>None chosen: the whole pool (snapshots and read-only shares left alone).</small>
        </fieldset>
        ${this.fieldError('shares')}
        ${this.outcome(this.last('dedup'), 'deduplication')}
        <div class="actions"><button type="submit" ?disabled=${off}>Deduplicate</button></div>
      </form>`;
  }

  render() {
    const pool = this.pool;
    if (!pool) return '';
    return html`
      <section class="card" aria-labelledby="pool-care">
        <h2 id="pool-care">SSD care and deduplication</h2>
        ${pool.mounted ? '' : html`<p class="muted">Mount the pool to trim or deduplicate it.</p>`}
        <div class="grid pool-forms">
          ${this.devices(pool)}${this.trimPart(pool)}${this.dedupPart(pool)}
        </div>
        ${this.problem()}${this.notice()}
      </section>`;
  }
}

customElements.define('rockd-pool-care', PoolCare);
