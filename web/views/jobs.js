// Jobs: every long operation rockd runs or ran (balance, scrub, device changes, prunes...),
// running first then the most recent, live from the tree, a page at a time with a search and a
// choice of order; #/jobs/{id} is one job (job-detail.js).
import { html } from 'lit';
import { View } from '../lib/view.js';
import { href } from '../lib/router.js';
import { byText } from '../lib/rows.js';
import { Table } from '../lib/table.js';
import { isActive, jobRow, jobTitle } from '../components/job-row.js';
import './job-detail.js';

const RANK = { running: 0, paused: 1, queued: 2 };
const FILTERS = [['all', 'All jobs'], ['active', 'Active'], ['ended', 'Ended']];

// running, then paused, then queued, then ended; most recent first within each
export function jobOrder(a, b) {
  const rank = (job) => RANK[job.state] ?? 3;
  const moment = (job) => String(job.ended ?? job.started ?? '');
  return rank(a) - rank(b) || byText(moment(b), moment(a)) || byText(String(b.id), String(a.id));
}

const byStart = (a, b) => byText(String(a.started ?? ''), String(b.started ?? ''))
  || byText(String(a.id), String(b.id));

customElements.define('rockd-jobs', class extends View {
  static properties = { ...View.properties, filter: { state: true } };

  constructor() {
    super();
    this.filter = 'all';
    this.table = new Table(this, {
      branch: 'jobs', noun: 'jobs', order: ['state', false], headers: false,
      columns: {
        state: ['State', jobOrder, ['Running first, then the newest', 'Ended first, the oldest first']],
        started: ['Started', byStart, ['Oldest first', 'Newest first']],
      },
      text: (job) => `${jobTitle(this.tree, job)} ${job.kind ?? ''} ${job.state ?? ''}`,
    });
  }

  render() {
    if (this.id) {
      return html`<rockd-job-detail .tree=${this.tree} .rev=${this.rev} .id=${this.id}></rockd-job-detail>`;
    }
    const { table } = this;
    const all = table.all(this.tree);
    const active = all.filter(isActive).length;
    table.where(this.filter === 'all' ? null : this.filter,
      (job) => (this.filter === 'active') === isActive(job));
    const shown = table.page(this.tree);
    return html`
      <section class="card">
        <div class="title-row">
          <h1>Jobs</h1>
          <label class="filter">Show
            <select @change=${(e) => { this.filter = e.target.value; }}>
              ${FILTERS.map(([value, text]) => html`
                <option value=${value} ?selected=${value === this.filter}>${text}</option>`)}
            </select></label>
        </div>
        <p class="muted" role="status">${active} active, ${all.length - active} ended.
          rockd keeps the last 200 ended jobs.</p>
        ${this.problem()}
        ${table.tools()}
        <div class="job-list">
          ${shown.length ? shown.map((job) => html`
            <div class="job-entry">
              ${jobRow(job, this)}
              <a class="job-link" href=${href('jobs', job.id)}
                aria-label="Details of ${jobTitle(this.tree, job)}">Details</a>
            </div>`)
          : html`<p class="muted">${this.filter === 'active' ? 'No job is running.' : 'No jobs.'}</p>`}
        </div>
        ${table.pager()}
      </section>`;
  }
});
