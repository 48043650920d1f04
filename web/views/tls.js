// The HTTPS certificate (a card of the Services screen): the names it is for, until when, who
// issued it, and a form to serve another (chain and key pasted or read from files), live from
// /system/tls.
import { html } from 'lit';
import { call } from '../lib/api.js';
import { when } from '../lib/format.js';
import { View } from '../lib/view.js';

const DAY = 24 * 3600 * 1000;
const SOURCE = {
  'self-signed': 'made by rockd (self-signed)',
  uploaded: 'uploaded',
  files: 'the --tls-cert file',
};

// days until `stamp`, rounded down (negative once it has passed)
function daysLeft(stamp) {
  return Math.floor((new Date(stamp).getTime() - Date.now()) / DAY);
}

customElements.define('rockd-tls', class extends View {
  async upload(event) {
    event.preventDefault();
    const form = event.target;
    const body = { cert: form.cert.value.trim(), key: form.key.value.trim() };
    const info = await this.act(() => call('PUT', '/system/tls', body));
    if (info) {
      form.reset();
      this.note = `rockd now serves the certificate for ${info.names.join(', ')}; reload the `
        + 'page if the browser still shows the old one.';
    }
  }

  // a file chosen for `name`: its text goes into that field
  async readFile(event, name) {
    const file = event.target.files?.[0];
    if (file) event.target.form[name].value = await file.text();
  }

  expiry(tls) {
    const left = daysLeft(tls.not_after);
    if (left < 0) return html`<span class="badge bad">expired</span> ${when(tls.not_after)}`;
    const tone = left <= 30 ? 'bad' : 'good';
    return html`${when(tls.not_after)} <span class="badge ${tone}">${left} days left</span>`;
  }

  facts(tls) {
    return html`
      <dl class="tls-facts">
        <dt>Names</dt><dd>${tls.names.join(', ')}</dd>
        <dt>Valid until</dt><dd>${this.expiry(tls)}</dd>
        <dt>Issuer</dt><dd>${tls.self_signed ? html`<span class="badge">self-signed</span>
          browsers warn until it is trusted or replaced` : tls.issuer}</dd>
        <dt>Source</dt><dd>${SOURCE[tls.source] ?? tls.source}</dd>
        <dt>SHA-256</dt><dd><small>${tls.fingerprint}</small></dd>
      </dl>`;
  }

  // a PEM text field, typed or pasted, or read from a file
  pemField(name, title, rule, placeholder, accept) {
    const id = `tls-${name}`;
    return html`<div class="field wide-field"><label for=${id}>${title}</label>
      <small id=${`${id}-rule`}>${rule}</small>
      <textarea id=${id} name=${name} rows="4" required spellcheck="false" autocomplete="off"
        placeholder=${placeholder} aria-describedby=${`${id}-rule`}
        aria-invalid=${this.invalid(name)}></textarea>
      <input type="file" aria-label=${`Read the ${title.toLowerCase()} from a file`}
        accept=${accept} @change=${(e) => this.readFile(e, name)}>
      ${this.fieldError(name)}</div>`;
  }

  form(tls) {
    if (tls.source === 'files') {
      return html`<p class="muted">This certificate is the file named by --tls-cert: replace
        that file and restart rockd to serve another.</p>`;
    }
    return html`
      <h3>Use another certificate</h3>
      <form class="form-grid tls-upload" @submit=${(e) => this.upload(e)}>
        ${this.pemField('cert', 'Certificate chain', "PEM: the server's certificate first, then "
          + 'each issuer', '-----BEGIN CERTIFICATE-----', '.pem,.crt,.cer')}
        ${this.pemField('key', 'Private key', 'PEM, without a passphrase',
          '-----BEGIN PRIVATE KEY-----', '.pem,.key')}
        ${this.problem()}
        <div class="actions"><button class="primary" ?disabled=${this.busy}>Use this
          certificate</button></div>
      </form>`;
  }

  render() {
    const tls = this.tree?.system?.tls;
    if (!tls) return '';
    return html`
      <section class="card" data-tls=${tls.enabled ? tls.source : 'off'}>
        <h2>HTTPS certificate</h2>
        ${tls.enabled ? html`${this.facts(tls)}${this.notice()}${this.form(tls)}`
          : html`<p class="muted">rockd serves plain HTTP. Start it with --tls self-signed (or
            --tls-cert and --tls-key) to serve HTTPS.</p>${this.problem()}`}
      </section>`;
  }
});
