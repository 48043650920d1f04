// Jobs: every long operation rockd runs or ran (balance, scrub, device changes, prunes...),
// running first then the most recent, live from the tree; #/jobs/{id} is one job (job-detail.js).
import { html } from 'lit';
import { View } from '../lib/view.js';
import { href } from '../lib/router.js';
import { isActive, jobRow, jobTitle } from '../components/job-row.js';
import './job-detail.js';

const RANK = { running: 0, paused: 1, queued: 2 };
const FILTERS = [['all', 'All jobs'], ['active', 'Active'], ['ended', 'Ended']];

// running, then paused, then queued, then ended; most recent first within each
export function jobOrder(a, b) {
  const rank = (job) => RANK[job.state] ?? 3;
  const moment = (job) => String(job.ended ?? job.started ?? '');
  return rank(a) - rank(b) || moment(b).localeCompare(moment(a)) || String(b.id).localeCompare(String(a.id));
}

customElements.define('rockd-jobs', class extends View {
  static properties = { ...View.properties, filter: { state: true } };

  constructor() {
    super();
    this.filter = 'all';
  }

  render() {
    if (this.id) {
      return html`<rockd-job-detail .tree=${this.tree} .rev=${this.rev} .id=${this.id}></rockd-job-detail>`;
    }
    const all = this.branch('jobs');
    const active = all.filter(isActive).length;
    const shown = all.filter((job) => this.filter === 'all'
      || (this.filter === 'active') === isActive(job)).sort(jobOrder);
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
        <div class="job-list">
          ${shown.length ? shown.map((job) => html`
            <div class="job-entry">
              ${jobRow(job, this)}
              <a class="job-link" href=${href('jobs', job.id)}
                aria-label="Details of ${jobTitle(this.tree, job)}">Details</a>
            </div>`)
          : html`<p class="muted">${this.filter === 'active' ? 'No job is running.' : 'No jobs.'}</p>`}
        </div>
      </section>`;
  }
});
