// One job as a row: what it does, a live progress bar, its state, and the actions it allows.
import { html } from 'lit';
import { call } from '../lib/api.js';
import { percent, when } from '../lib/format.js';

const ACTIVE = new Set(['queued', 'running', 'paused']);
const PAUSABLE = new Set(['balance', 'scrub']);

export function isActive(job) {
  return ACTIVE.has(job.state);
}

export function targetName(tree, job) {
  return tree?.pools?.[job.target]?.name ?? tree?.shares?.[job.target]?.name ?? job.target ?? '';
}

// `view` is the View that shows the row; its act() runs the actions and shows their errors.
export function jobRow(job, view) {
  const act = (verb) => view.act(() => call('POST', `/jobs/${job.id}/${verb}`));
  const label = `${job.kind} ${targetName(view.tree, job)}`;
  const progress = typeof job.progress === 'number' ? job.progress : null;
  return html`
    <div class="job" data-job=${job.id} data-state=${job.state}>
      <span class="job-what"><strong>${job.kind}</strong> · ${targetName(view.tree, job)}</span>
      ${progress === null && job.state === 'running'
        ? html`<progress aria-label="${label} progress"></progress>`
        : html`<progress aria-label="${label} progress" max="1"
            value=${job.state === 'succeeded' ? 1 : progress ?? 0}></progress>`}
      <span class="state state-${job.state}">${job.state}${progress !== null && isActive(job)
        ? html` ${percent(progress)}` : ''}</span>
      <span class="actions">
        ${job.state === 'running' && PAUSABLE.has(job.kind)
          ? html`<button @click=${() => act('pause')}>Pause</button>` : ''}
        ${job.state === 'paused' ? html`<button @click=${() => act('resume')}>Resume</button>` : ''}
        ${isActive(job) ? html`<button @click=${() => act('cancel')}>Cancel</button>` : ''}
      </span>
      <small>${job.error ?? job.detail ?? ''}${job.started ? html` · started ${when(job.started)}` : ''}
        ${job.ended ? html` · ended ${when(job.ended)}` : ''}</small>
    </div>`;
}
