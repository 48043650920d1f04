// UPS (#/ups): the UPS rockd follows through NUT, live from /ups: its status (in words, with
// NUT's codes), charge and runtime; on battery an alarm with the time the machine shuts down
// (counting down) unless power returns; and the form that chooses the UPS (a USB one from the
// list, or a NUT server) and the grace time.
import { html } from 'lit';
import { confirmAction } from '../components/confirm.js';
import { call } from '../lib/api.js';
import { duration, when } from '../lib/format.js';
import { View } from '../lib/view.js';
import { upsBody, upsForm } from './ups-form.js';

function secondsLeft(stamp) {
  return Math.max(0, Math.round((Date.parse(stamp) - Date.now()) / 1000));
}

// the status's tone and its one word: the badge
function standing(ups) {
  if (!ups.configured) return ['', 'not configured'];
  if (ups.low_battery) return ['bad', 'low battery'];
  if (ups.on_battery) return ['bad', 'on battery'];
  if (ups.status.includes('OL')) return ['good', 'online'];
  return ['warn', ups.last_error ? 'unreachable' : 'unknown'];
}

customElements.define('rockd-ups', class extends View {
  static properties = {
    ...View.properties,
    source: { state: true },
    devices: { state: true },
    scanned: { state: true },
    now: { state: true },
  };

  constructor() {
    super();
    this.source = null; // the form's choice, until saved
    this.devices = [];
    this.scanErrors = [];
    this.scanned = false;
    this.now = Date.now();
    this.ticker = null;
  }

  disconnectedCallback() {
    clearInterval(this.ticker);
    this.ticker = null;
    super.disconnectedCallback();
  }

  willUpdate(changed) {
    super.willUpdate(changed);
    const counting = Boolean(this.tree?.ups?.shutdown_at);
    if (counting && !this.ticker) this.ticker = setInterval(() => { this.now = Date.now(); }, 1000);
    if (!counting && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  }

  async scan() {
    const found = await this.act(() => call('GET', '/ups/devices'));
    if (!found) return;
    this.devices = found.devices;
    this.scanErrors = found.errors;
    this.scanned = true;
  }

  async submit(event) {
    event.preventDefault();
    const body = upsBody(event.target, this.devices);
    const answer = await this.act(() => call('PUT', '/ups', body));
    if (!answer) return;
    this.source = null;
    if (event.target.password) event.target.password.value = '';
    this.note = `rockd follows the UPS ${answer.name} now.`;
  }

  async stopFollowing() {
    const sure = await confirmAction({
      title: 'Stop following the UPS?',
      message: 'NUT\'s programs stop, and a power failure no longer shuts this machine down.',
      action: 'Stop following',
    });
    if (!sure) return;
    await this.act(() => call('DELETE', '/ups'));
    if (!this.error) this.note = 'rockd follows no UPS now.';
  }

  alarm(ups) {
    if (!ups.on_battery) return '';
    return html`<section class="card ups-alarm" role="alert">
      <h2>Power failed: the UPS is on battery</h2>
      <p>Since ${when(ups.on_battery_since)}${ups.low_battery ? html`, and its
        <strong>battery is low</strong>` : ''}.</p>
      ${ups.shutting_down ? html`<p><strong>This machine is shutting down</strong>:
        ${ups.shutting_down}.</p>` : html`<p>This machine shuts down in
        <strong class="countdown">${secondsLeft(ups.shutdown_at)} s</strong>
        (${when(ups.shutdown_at)}) unless power returns first.</p>`}
    </section>`;
  }

  facts(ups) {
    const [tone, word] = standing(ups);
    return html`<dl class="ups-facts">
      <dt>Status</dt><dd><span class="badge ${tone} ups-state">${word}</span>
        ${ups.status.length ? html`<small>${ups.status_text} (${ups.status.join(' ')})</small>`
        : ''}</dd>
      <dt>Charge</dt><dd>${ups.charge == null ? '—' : html`<meter min="0" max="100" low="30"
        high="60" optimum="100" .value=${ups.charge} aria-label="Battery charge"></meter>
        <span class="ups-charge">${ups.charge} %</span>`}</dd>
      <dt>Runtime</dt><dd class="ups-runtime">${ups.runtime == null ? '—'
        : duration(ups.runtime)}</dd>
      <dt>Model</dt><dd>${ups.model ?? '—'}</dd>
      <dt>Through</dt><dd>${ups.source === 'usb' ? `USB, NUT's ${ups.driver} run by rockd`
        : `the NUT server ${ups.host}:${ups.port} (as ${ups.user})`}; UPS ${ups.name}</dd>
      <dt>On battery</dt><dd>${ups.grace} s, then shut down${ups.low_battery_shutdown
        ? '; at once at a low battery' : ''}</dd>
      ${ups.last_event ? html`<dt>Last event</dt><dd>${ups.last_event}</dd>` : ''}
      ${ups.last_error ? html`<dt>Problem</dt><dd class="warn">${ups.last_error}</dd>` : ''}
    </dl>`;
  }

  render() {
    const ups = this.tree?.ups;
    if (!ups) return '';
    return html`
      ${this.alarm(ups)}
      <section class="card ups-status" data-state=${standing(ups)[1]}>
        <h1>UPS</h1>
        ${ups.configured ? this.facts(ups) : html`<p class="muted">rockd follows no UPS: choose
          one below, and a power failure raises an alert and shuts this machine down cleanly
          after the grace time.</p>`}
        ${this.notice()}
        ${ups.configured ? html`<div class="actions"><button @click=${() => this.stopFollowing()}
          ?disabled=${this.busy}>Stop following</button></div>` : ''}
      </section>
      <section class="card">
        <h2>${ups.configured ? 'Change the UPS' : 'Choose the UPS'}</h2>
        ${upsForm(this, ups, this.devices)}
      </section>`;
  }
});
