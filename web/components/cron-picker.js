// The "when" of a schedule: a picker for the usual cases (every hour at a minute, every day at
// HH:MM, every week on a day at HH:MM, every month on a day at HH:MM) or a custom cron
// expression, with the result in words below it. The expression goes into the form as a
// hidden field named `cron`; times are in UTC, as rockd runs schedules.
import { LitElement, html } from 'lit';
import { cronWords } from './cron-words.js';

export const MODES = [
  ['hourly', 'Every hour'],
  ['daily', 'Every day'],
  ['weekly', 'Every week'],
  ['monthly', 'Every month'],
  ['custom', 'Custom'],
];
export const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

const NUMBER = '([0-9]|[1-5][0-9])';
const HOUR = '([0-9]|1[0-9]|2[0-3])';
const SHAPES = [
  ['hourly', new RegExp(`^${NUMBER} \\* \\* \\* \\*$`)],
  ['daily', new RegExp(`^${NUMBER} ${HOUR} \\* \\* \\*$`)],
  ['weekly', new RegExp(`^${NUMBER} ${HOUR} \\* \\* ([0-6])$`)],
  ['monthly', new RegExp(`^${NUMBER} ${HOUR} ([1-9]|[12][0-9]|3[01]) \\* \\*$`)],
];

const two = (n) => String(n).padStart(2, '0');

// {mode, minute, hour, day, date, custom} from an expression (a custom one when it is none of
// the usual shapes)
export function readCron(expr) {
  const text = String(expr ?? '').trim().replace(/\s+/g, ' ');
  const found = { mode: 'custom', minute: 0, hour: 3, day: 0, date: 1, custom: text };
  for (const [mode, shape] of SHAPES) {
    const match = shape.exec(text);
    if (!match) continue;
    const [, minute, hour, third] = match.map(Number);
    return { ...found, mode, minute, hour: hour ?? 3,
      day: mode === 'weekly' ? third : 0, date: mode === 'monthly' ? third : 1 };
  }
  return text ? found : { ...found, mode: 'daily', minute: 0, hour: 3, custom: '' };
}

// the expression a picker's choice stands for
export function writeCron({ mode, minute, hour, day, date, custom }) {
  switch (mode) {
    case 'hourly': return `${minute} * * * *`;
    case 'daily': return `${minute} ${hour} * * *`;
    case 'weekly': return `${minute} ${hour} * * ${day}`;
    case 'monthly': return `${minute} ${hour} ${date} * *`;
    default: return String(custom ?? '').trim();
  }
}

class CronPicker extends LitElement {
  static properties = { value: { type: String }, choice: { state: true } };

  constructor() {
    super();
    this.value = '';
    this.choice = null;
  }

  createRenderRoot() {
    return this;
  }

  willUpdate(changed) {
    if (changed.has('value') || !this.choice) this.choice = readCron(this.value);
  }

  // the form is reset: back to the expression it was given
  connectedCallback() {
    super.connectedCallback();
    this.form = this.closest('form');
    this.form?.addEventListener('reset', this.reset);
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.form?.removeEventListener('reset', this.reset);
  }

  reset = () => {
    this.choice = readCron(this.value);
  };

  set(changes) {
    this.choice = { ...this.choice, ...changes };
    if (changes.mode === 'custom' && !this.choice.custom) {
      this.choice = { ...this.choice, custom: writeCron({ ...this.choice, mode: 'daily' }) };
    }
  }

  time() {
    const c = this.choice;
    return html`<label>Time <small>HH:MM, UTC</small>
      <input name="cron_time" type="time" required value="${two(c.hour)}:${two(c.minute)}"
        @input=${(e) => {
          const [hour, minute] = e.target.value.split(':').map(Number);
          if (Number.isInteger(hour) && Number.isInteger(minute)) this.set({ hour, minute });
        }}></label>`;
  }

  fields() {
    const c = this.choice;
    switch (c.mode) {
      case 'hourly': return html`<label>Minute past the hour <small>0-59</small>
        <input name="cron_minute" type="number" min="0" max="59" required inputmode="numeric"
          value=${c.minute} title="A minute past the hour, 0 to 59"
          @input=${(e) => { if (e.target.validity.valid) this.set({ minute: Number(e.target.value) }); }}></label>`;
      case 'daily': return this.time();
      case 'weekly': return html`<label>Weekday
        <select name="cron_day" @change=${(e) => this.set({ day: Number(e.target.value) })}>
          ${DAYS.map((name, n) => html`<option value=${n} ?selected=${n === c.day}>${name}</option>`)}
        </select></label>${this.time()}`;
      case 'monthly': return html`<label>Day of the month <small>1-31</small>
        <input name="cron_date" type="number" min="1" max="31" required inputmode="numeric"
          value=${c.date} title="A day of the month, 1 to 31 (a month without it is skipped)"
          @input=${(e) => { if (e.target.validity.valid) this.set({ date: Number(e.target.value) }); }}></label>
        ${this.time()}`;
      default: return html`<label>Cron expression <small>minute hour day month weekday, in UTC</small>
        <input name="cron_custom" required maxlength="128" autocomplete="off" placeholder="0 3 * * *"
          .value=${c.custom} @input=${(e) => this.set({ custom: e.target.value })}></label>`;
    }
  }

  render() {
    const expr = writeCron(this.choice);
    const words = cronWords(expr);
    return html`
      <div class="cron-picker form-grid">
        <label>Repeat
          <select name="cron_mode" @change=${(e) => this.set({ mode: e.target.value })}>
            ${MODES.map(([mode, text]) => html`
              <option value=${mode} ?selected=${mode === this.choice.mode}>${text}</option>`)}
          </select></label>
        ${this.fields()}
        <input type="hidden" name="cron" .value=${expr}>
        <p class="cron-words muted wide-field" role="status">${words
          || (expr ? html`<code>${expr}</code>: not read as a cron expression` : '')}</p>
      </div>`;
  }
}

customElements.define('rockd-cron-picker', CronPicker);
