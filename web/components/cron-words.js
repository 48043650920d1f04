// A cron expression in words ("At 03:00, only on Sunday"), by the cronstrue package: its
// build sets `globalThis.cronstrue` when loaded as a module. Schedules run in UTC, so the
// words say so.
import 'cronstrue';
import { html } from 'lit';

const OPTIONS = { use24HourTimeFormat: true, throwExceptionOnParseError: true };

// the words, or '' when cronstrue cannot read the expression (rockd says why on saving)
export function cronWords(expr) {
  const text = String(expr ?? '').trim();
  if (!text) return '';
  try {
    return `${globalThis.cronstrue.toString(text, OPTIONS)} (UTC)`;
  } catch {
    return '';
  }
}

// a cron expression in words, with the expression itself beside them
export function cronText(expr) {
  const words = cronWords(expr);
  return html`${words ? html`<span class="cron-words">${words}</span> ` : ''}<code>${expr}</code>`;
}
