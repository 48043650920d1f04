// One job as a row: what it does, a live progress bar, its state, and the actions it allows.
import { html } from 'lit';
import { call } from '../lib/api.js';
import { percent, when } from '../lib/format.js';
import { jobTitle, targetName } from './job-title.js';

export { jobTitle, targetName };

const ACTIVE = new Set(['queued', 'running', 'paused']);
const PAUSABLE = new Set(['balance', 'scrub']);

// asked to pause, the work ends what it is doing first (a balance, its chunk): it says so
function pausing(job) {
  return job.state === 'running' && String(job.detail ?? '').startsWith('pausing');
}

export function isActive(job) {
  return ACTIVE.has(job.state);
}

// `view` is the View that shows the row; its act() runs the actions and shows their errors.
export function jobRow(job, view) {
  const act = (verb) => view.act(() => call('POST', `/jobs/${job.id}/${verb}`));
  const title = jobTitle(view.tree, job);
  const progress = typeof job.progress === 'number' ? job.progress : null;
  return html`
    <div class="job" data-job=${job.id} data-state=${job.state}>
      <span class="job-what"><strong>${title}</strong></span>
      ${progress === null && job.state === 'running'
        ? html`<progress aria-label="${title}: progress"></progress>`
        : html`<progress aria-label="${title}: progress" max="1"
            value=${job.state === 'succeeded' ? 1 : progress ?? 0}></progress>`}
      <span class="state state-${job.state}">${job.state}${progress !== null && isActive(job)
        ? html` ${percent(progress)}` : ''}</span>
      <span class="actions">
        ${job.state === 'running' && PAUSABLE.has(job.kind)
          ? html`<button ?disabled=${pausing(job)} @click=${() => act('pause')}>${pausing(job)
            ? 'Pausing…' : 'Pause'}</button>` : ''}
        ${job.state === 'paused' ? html`<button @click=${() => act('resume')}>Resume</button>` : ''}
        ${isActive(job) ? html`<button @click=${() => act('cancel')}>Cancel</button>` : ''}
      </span>
      <small>${job.error ?? job.detail ?? ''}${job.started ? html` · started ${when(job.started)}` : ''}
        ${job.ended ? html` · ended ${when(job.ended)}` : ''}</small>
    </div>`;
}
