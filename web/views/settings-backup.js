// Backup (#/backup): the settings backup as a file (all intent: users and groups, shares,
// exports, schedules, replication, apps, settings; password hashes only when asked for), and
// a restore from such a file, which lists what it applied and what it skipped, and why.
import { html } from 'lit';
import { ApiError, call } from '../lib/api.js';
import { View } from '../lib/view.js';

customElements.define('rockd-settings-backup', class extends View {
  static properties = {
    ...View.properties,
    outcome: { state: true },
  };

  constructor() {
    super();
    this.outcome = null;
  }

  // the document is fetched (session and CSRF as every call) and handed to the browser as a
  // file, named as the server names it
  async download(event) {
    event.preventDefault();
    const secrets = event.target.secrets.checked;
    await this.act(async () => {
      const response = await fetch(`/api/v1/config/backup${secrets ? '?secrets=true' : ''}`,
        { credentials: 'same-origin' });
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
      const name = /filename="([^"]+)"/.exec(response.headers.get('Content-Disposition') ?? '')?.[1]
        ?? 'rockd-config.json';
      const link = document.createElement('a');
      link.href = URL.createObjectURL(await response.blob());
      link.download = name;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      this.note = `Saved ${name}${secrets ? ', with password hashes: keep it safe' : ''}.`;
    });
  }

  async restore(event) {
    event.preventDefault();
    const file = event.target.document.files?.[0];
    if (!file) {
      this.refuse('Choose a backup file first.', 'document');
      return;
    }
    let doc;
    try {
      doc = JSON.parse(await file.text());
    } catch {
      this.refuse(`${file.name} is not a rockd settings backup (not JSON).`, 'document');
      return;
    }
    const outcome = await this.act(() => call('POST', '/config/restore', doc));
    if (outcome) {
      this.outcome = outcome;
      this.note = `Restored from ${file.name}: ${outcome.applied.length} applied, `
        + `${outcome.skipped.length} skipped.`;
    }
  }

  results() {
    const { applied, skipped } = this.outcome;
    return html`
      <div class="restore-outcome">
        ${skipped.length ? html`<h3>Skipped (${skipped.length})</h3>
          <ul class="skipped">${skipped.map((s) => html`<li><strong>${s.item}</strong>:
            ${s.reason}</li>`)}</ul>` : ''}
        <h3>Applied (${applied.length})</h3>
        <ul class="applied">${applied.map((item) => html`<li>${item}</li>`)}</ul>
      </div>`;
  }

  render() {
    return html`
      <h1>Backup and restore</h1>
      ${this.problem()}
      ${this.notice()}
      <section class="card" data-card="backup">
        <h2>Back up the settings</h2>
        <p class="muted">One file of everything rockd was asked to do: users and groups, shares,
          exports, schedules, replication peers and tasks, apps and alert settings. Data is not
          in it; API tokens never are.</p>
        <form class="download" @submit=${(e) => this.download(e)}>
          <label class="check"><input type="checkbox" name="secrets">
            Include password hashes and secrets</label>
          <button type="submit" ?disabled=${this.busy}>Download backup</button>
        </form>
      </section>
      <section class="card" data-card="restore">
        <h2>Restore</h2>
        <p class="muted">Makes again what the file holds and this box lacks; what exists and
          differs is left as it is and listed. Pools are never made: a share whose pool is not
          here is listed as skipped.</p>
        <form class="restore" @submit=${(e) => this.restore(e)}>
          <label for="backup-file">Backup file</label>
          <input id="backup-file" name="document" type="file" accept="application/json,.json"
            aria-invalid=${this.invalid('document')}>
          ${this.fieldError('document')}
          <button type="submit" ?disabled=${this.busy}>Restore</button>
        </form>
        ${this.outcome ? this.results() : ''}
      </section>`;
  }
});
