// One job (#/jobs/{id}): its live progress and actions, what it was asked to do (params),
// how it ended (detail, error) and the last lines of its output, all from the tree.
import { html } from 'lit';
import { View } from '../lib/view.js';
import { duration, when } from '../lib/format.js';
import { href } from '../lib/router.js';
import { jobRow, jobTitle, targetName } from '../components/job-row.js';

function value(item) {
  if (Array.isArray(item)) {
    return item.length ? html`<ul class="plain">${item.map((x) => html`<li>${value(x)}</li>`)}</ul>` : '—';
  }
  if (item === null || item === undefined || item === '') return '—';
  if (typeof item === 'object') return html`<code>${JSON.stringify(item)}</code>`;
  return String(item);
}

customElements.define('rockd-job-detail', class extends View {
  target(job) {
    const name = targetName(this.tree, job);
    if (this.tree?.pools?.[job.target]) return html`pool <a href=${href('pools', job.target)}>${name}</a>`;
    if (this.tree?.shares?.[job.target]) return html`share <a href=${href('shares', job.target)}>${name}</a>`;
    return name || '—';
  }

  render() {
    const job = this.tree?.jobs?.[this.id];
    if (!job) {
      return html`<section class="card"><h1>Job not found</h1>
        <p>There is no job <code>${this.id}</code>: rockd keeps only the last 200 ended jobs.</p>
        <p><a href=${href('jobs')}>All jobs</a></p></section>`;
    }
    const took = job.started
      ? ((job.ended ? Date.parse(job.ended) : Date.now()) - Date.parse(job.started)) / 1000 : null;
    const params = Object.entries(job.params ?? {});
    return html`
      <p class="crumbs"><a href=${href('jobs')}>Jobs</a> ›</p>
      <section class="card">
        <h1>${jobTitle(this.tree, job)}</h1>
        ${this.problem()}
        ${jobRow(job, this)}
      </section>
      <div class="grid">
        <section class="card">
          <h2>Facts</h2>
          <dl>
            <dt>Kind</dt><dd><code>${job.kind}</code></dd>
            <dt>State</dt><dd class="state-${job.state}">${job.state}</dd>
            <dt>Target</dt><dd>${this.target(job)}</dd>
            <dt>Started</dt><dd>${when(job.started)}</dd>
            <dt>Ended</dt><dd>${when(job.ended)}</dd>
            <dt>${job.ended ? 'Took' : 'Running for'}</dt><dd>${duration(took)}</dd>
            <dt>${job.ended ? 'Result' : 'Now'}</dt><dd>${job.detail || '—'}</dd>
            ${job.error ? html`<dt>Error</dt><dd class="error">${job.error}</dd>` : ''}
            <dt>Id</dt><dd><code>${job.id}</code></dd>
          </dl>
        </section>
        <section class="card">
          <h2>Parameters</h2>
          ${params.length ? html`<dl>${params.map(([key, item]) => html`
            <dt>${key}</dt><dd>${value(item)}</dd>`)}</dl>`
          : html`<p class="muted">None.</p>`}
        </section>
      </div>
      <section class="card">
        <h2>Log</h2>
        ${job.log?.length ? html`<pre class="log" tabindex="0" aria-label="Log of the job">${job.log.join('\n')}</pre>`
          : html`<p class="muted">No output (yet).</p>`}
        <p class="muted">The last lines the job wrote.</p>
      </section>`;
  }
});
