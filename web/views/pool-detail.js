// One pool (#/pools/{id}): its state and usage, its disks, its jobs (live), scrub and
// balance, its shares, and (in pool-disks.js, pool-care.js and pool-settings.js) its disks'
// changes, trim and dedup, and every other change to it.
import { html } from 'lit';
import { call } from '../lib/api.js';
import { bytes, byName, percent } from '../lib/format.js';
import { href } from '../lib/router.js';
import { View, fields } from '../lib/view.js';
import { isActive, jobRow } from '../components/job-row.js';
import { confirmAction } from '../components/confirm.js';
import { healthBadges, usageBar, usageOf } from './pool-facts.js';
import './pool-care.js';
import './pool-disks.js';
import './pool-settings.js';

const RECENT = 5; // ended jobs shown beside the running ones

class PoolDetail extends View {
  header(pool) {
    return html`
      <section class="card">
        <p><a href=${href('pools')}>← Pools</a></p>
        <div class="title-row">
          <h1>${pool.name}</h1>
          <span>${pool.mounted ? html`<span class="badge good">mounted</span>`
            : html`<span class="badge bad">not mounted</span>`} ${healthBadges(pool)}</span>
        </div>
        <dl class="pool-facts">
          <dt>Profiles</dt>
          <dd>data ${pool.data ?? '—'} · metadata ${pool.metadata ?? '—'} · system
            ${pool.system ?? '—'}</dd>
          <dt>Mount point</dt><dd>${pool.mount_point ?? '—'}</dd>
          <dt>Mount options</dt><dd>${pool.mount_options ?? '—'}</dd>
          <dt>Compression</dt><dd>${pool.compression ?? 'none'}</dd>
          <dt>Quotas</dt><dd>${pool.quotas === null ? '—' : pool.quotas ? 'on' : 'off'}</dd>
          <dt>Label</dt><dd>${pool.label ?? '—'}</dd>
          ${pool.exclusive_operation ? html`
            <dt>Running in btrfs</dt><dd>${pool.exclusive_operation}</dd>` : ''}
          <dt>UUID</dt><dd><small>${pool.id}</small></dd>
        </dl>
        ${pool.degraded ? html`<p class="warn">This pool is degraded: a disk is missing, so some
          data has fewer copies than its profile keeps. See its disks below.</p>` : ''}
      </section>`;
  }

  usage(pool) {
    const u = usageOf(pool);
    if (!u) {
      return html`<section class="card"><h2>Usage</h2>
        <p class="muted">Usage is read while the pool is mounted.</p></section>`;
    }
    const allocation = pool.usage.allocation ?? {};
    return html`
      <section class="card">
        <h2>Usage</h2>
        ${usageBar(pool)}
        <dl>
          <dt>Size (estimated)</dt><dd>${bytes(u.size)}</dd>
          <dt>Used</dt><dd>${bytes(u.used)} (${percent(u.size ? u.used / u.size : 0)})</dd>
          <dt>Free (estimated)</dt><dd>${bytes(u.free)}</dd>
          <dt>Raw on disks</dt><dd>${bytes(pool.usage.used)} used of ${bytes(pool.usage.size)},
            ${bytes(pool.usage.unallocated)} unallocated</dd>
        </dl>
        <table class="pool-allocation">
          <thead><tr><th>Kind</th><th>Profile</th><th class="num">Allocated</th>
            <th class="num">Used</th><th class="num">On disks</th></tr></thead>
          <tbody>${['data', 'metadata', 'system'].filter((k) => allocation[k]).map((k) => html`
            <tr data-kind=${k}>
              <td data-label="Kind">${k}</td>
              <td data-label="Profile">${(allocation[k].profiles ?? [allocation[k].profile])
                .join(', ')}</td>
              <td data-label="Allocated" class="num">${bytes(allocation[k].total)}</td>
              <td data-label="Used" class="num">${bytes(allocation[k].used)}</td>
              <td data-label="On disks" class="num">${bytes(allocation[k].disk_total)}</td>
            </tr>`)}</tbody>
        </table>
      </section>`;
  }

  jobs(pool) {
    const all = this.branch('jobs').filter((job) => job.target === pool.id);
    const order = (job) => job.started ?? job.ended ?? '';
    const active = all.filter(isActive).sort((a, b) => order(b).localeCompare(order(a)));
    const ended = all.filter((job) => !isActive(job))
      .sort((a, b) => (b.ended ?? '').localeCompare(a.ended ?? '')).slice(0, RECENT);
    return html`
      <section class="card" aria-labelledby="pool-jobs">
        <h2 id="pool-jobs">Jobs</h2>
        ${active.length || ended.length ? [...active, ...ended].map((job) => jobRow(job, this))
          : html`<p class="muted">No job has run on this pool.</p>`}
        <p><a href=${href('jobs')}>All jobs</a></p>
      </section>`;
  }

  async scrub(event) {
    event.preventDefault();
    const readonly = new FormData(event.target).has('readonly');
    await this.act(() => call('POST', `/pools/${this.id}/scrub`, { readonly }));
  }

  async balance(event) {
    event.preventDefault();
    const { filters } = fields(event.target);
    const full = !(filters ?? '').split(/\s+/).some((arg) => /^-[dms]/.test(arg));
    if (full && !await this.confirmFullBalance(this.tree.pools[this.id])) return;
    await this.act(() => call('POST', `/pools/${this.id}/balance`, filters ? { filters } : {}));
  }

  // A balance without filters rewrites every allocated chunk: say how much, and ask.
  confirmFullBalance(pool) {
    const allocation = pool.usage?.allocation ?? {};
    const kinds = ['data', 'metadata', 'system'].filter((k) => allocation[k]);
    const total = kinds.reduce((sum, k) => sum + (allocation[k].total ?? 0), 0);
    const onDisks = kinds.reduce((sum, k) => sum + (allocation[k].disk_total ?? 0), 0);
    const parts = kinds.map((k) => `${k} ${bytes(allocation[k].total)}`).join(', ');
    return confirmAction({
      title: `Balance all of ${pool.name}?`,
      message: `A balance without filters rewrites every chunk of the pool: ${bytes(total)}
        allocated (${parts}), ${bytes(onDisks)} written on the disks with its copies. It can
        take long and slows the pool meanwhile; it can be paused or cancelled. To give back
        space held by half-empty chunks only, use a filter such as -dusage=50.`,
      action: 'Balance everything',
    });
  }

  maintenance(pool) {
    const off = this.busy || !pool.mounted;
    return html`
      <section class="card">
        <h2>Scrub and balance</h2>
        ${pool.mounted ? '' : html`<p class="muted">Mount the pool to scrub or balance it.</p>`}
        <div class="grid pool-forms">
          <form @submit=${(e) => this.scrub(e)}>
            <p class="pool-explain">A scrub reads every copy of every block and checks it
              against its checksum, repairing a bad copy from a good one where the profile keeps
              two.</p>
            <label class="check"><input type="checkbox" name="readonly"> Read-only (report, do
              not repair)</label>
            <div class="actions"><button type="submit" ?disabled=${off}>Scrub</button></div>
          </form>
          <form @submit=${(e) => this.balance(e)}>
            <p class="pool-explain">A balance rewrites chunks across the disks: after adding a
              disk, or to give back space held by half-empty chunks (filters such as
              <code>-dusage=50 -musage=30</code> take only chunks at most that full). Without
              filters every chunk is rewritten, which takes long on a big pool.</p>
            <label>Filters <input name="filters" autocomplete="off" placeholder="-dusage=50"
              aria-invalid=${this.invalid('filters')}
              aria-describedby=${this.errorId('filters')}></label>
            ${this.fieldError('filters')}
            <div class="actions"><button type="submit" ?disabled=${off}>Balance</button></div>
          </form>
        </div>
        ${this.problem()}
      </section>`;
  }

  shares(pool) {
    const shares = this.branch('shares').filter((s) => s.pool === pool.id).sort(byName);
    return html`
      <section class="card" aria-labelledby="pool-shares">
        <h2 id="pool-shares">Shares</h2>
        ${shares.length ? html`<ul class="pool-shares">${shares.map((s) => html`
          <li data-share=${s.id}><a href=${href('shares', s.id)}>${s.name}</a>
            ${s.usage?.referenced !== undefined
              ? html` <small>${bytes(s.usage.referenced)}</small>` : ''}</li>`)}</ul>`
          : html`<p class="muted">No share on this pool.</p>`}
        <p><a href=${href('shares')}>Shares</a></p>
      </section>`;
  }

  render() {
    const pool = this.tree?.pools?.[this.id];
    if (!pool) {
      return html`<section class="card"><h1>Pool not found</h1>
        <p>No pool has the id ${this.id}; it may have been deleted.</p>
        <p><a href=${href('pools')}>← Pools</a></p></section>`;
    }
    const props = { tree: this.tree, rev: this.rev, id: this.id };
    return html`
      ${this.header(pool)}
      <div class="grid">${this.usage(pool)}${this.jobs(pool)}</div>
      <rockd-pool-disks .tree=${props.tree} .rev=${props.rev} .id=${props.id}></rockd-pool-disks>
      <div class="grid">${this.maintenance(pool)}${this.shares(pool)}</div>
      <rockd-pool-care .tree=${props.tree} .rev=${props.rev} .id=${props.id}></rockd-pool-care>
      <rockd-pool-settings .tree=${props.tree} .rev=${props.rev} .id=${props.id}>
      </rockd-pool-settings>`;
  }
}

customElements.define('rockd-pool-detail', PoolDetail);
