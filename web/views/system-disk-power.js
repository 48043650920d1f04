// A rotational disk's spin-down and APM (a card of the disk's page): what was asked for, kept
// and applied again whenever the disk comes back, and whether the disk took it (hdparm's
// refusal is shown as it said it), live from /disks/{id}/power.
import { html } from 'lit';
import { call } from '../lib/api.js';
import { View, ruledField } from '../lib/view.js';


customElements.define('rockd-disk-power', class extends View {
  async save(event) {
    event.preventDefault();
    const form = event.target;
    const number = (field) => (form[field].value === '' ? null : Number(form[field].value));
    const body = { spindown: number('spindown'), apm: number('apm') };
    const disk = await this.act(() => call('PUT', `/disks/${encodeURIComponent(this.id)}/power`,
      body));
    if (disk?.power?.applied) this.note = 'The disk took these settings.';
    else if (disk) {
      this.refuse('Kept, but the disk refused them (its answer is above); they are tried again '
        + 'whenever it comes back.');
    }
  }

  state(power) {
    if (!power) return html`<p class="muted">Not set: the disk keeps its own defaults.</p>`;
    return power.applied
      ? html`<p><span class="badge good" data-applied="yes">applied</span></p>`
      : html`<p><span class="badge bad" data-applied="no">not applied</span>
        ${power.error ? html`<small class="muted disk-power-error">${power.error}</small>` : ''}</p>`;
  }

  render() {
    const disk = this.tree?.disks?.[this.id];
    if (!disk || !disk.rotational || !disk.managed) return '';
    const power = disk.power;
    return html`<section class="card disk-power" aria-labelledby="disk-power">
      <h2 id="disk-power">Spin-down and power management</h2>
      ${this.state(power)}
      <form class="form-grid disk-power-form" @submit=${(e) => this.save(e)}>
        ${ruledField('disk-spindown', 'Spin down after (minutes)', `idle time before the disk
          stops (hdparm -S); 0 never; empty leaves it as it is`, html`<input id="disk-spindown"
          name="spindown" type="number" min="0" max="330" step="1"
          title="minutes from 0 (never) to 330" .value=${power?.spindown ?? ''}
          aria-describedby="disk-spindown-rule" aria-invalid=${this.invalid('spindown')}>`,
          this.fieldError('spindown'))}
        ${ruledField('disk-apm', 'APM level', `1 (most saving) to 254 (fastest), 255 off
          (hdparm -B); below 128 lets the disk spin down; empty leaves it`, html`<input
          id="disk-apm" name="apm" type="number" min="1" max="255" step="1"
          title="a level from 1 to 255" .value=${power?.apm ?? ''}
          aria-describedby="disk-apm-rule" aria-invalid=${this.invalid('apm')}>`,
          this.fieldError('apm'))}
        <div class="actions"><button class="primary" ?disabled=${this.busy}>Save</button></div>
      </form>
      ${this.problem()}${this.notice()}
    </section>`;
  }
});
