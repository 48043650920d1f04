// API tokens for scripts and integrators: create with a scope, copy the secret once, revoke.
import { html } from 'lit';
import { confirmAction } from '../components/confirm.js';
import { call } from '../lib/api.js';
import { when } from '../lib/format.js';
import { NAME_PATTERN, NAME_RULE } from '../lib/names.js';
import { View, fields, ruledField } from '../lib/view.js';

class Tokens extends View {
  static properties = {
    ...View.properties,
    tokens: { state: true },
    created: { state: true },
    copied: { state: true },
  };

  constructor() {
    super();
    this.tokens = null;
    this.created = null;
  }

  connectedCallback() {
    super.connectedCallback();
    this.reload();
  }

  // tokens are not in the state tree (they are secrets' metadata), so this screen asks
  async reload() {
    const answer = await this.act(() => call('GET', '/tokens'));
    if (answer) this.tokens = answer.tokens;
  }

  async create(event) {
    event.preventDefault();
    const form = event.target;
    const { name, access } = fields(form);
    const scopes = access === 'write' ? ['read', 'write'] : ['read'];
    const token = await this.act(() => call('POST', '/tokens', { name, scopes }));
    if (token) {
      this.created = token;
      this.copied = false;
      form.reset();
      await this.reload();
    }
  }

  async copy() {
    try {
      await navigator.clipboard.writeText(this.created.token);
      this.copied = true;
    } catch {
      // no clipboard outside a secure context: select the text for the person to copy
      getSelection().selectAllChildren(this.querySelector('.secret'));
    }
  }

  async revoke(token) {
    const sure = await confirmAction({
      title: `Revoke ${token.name}?`,
      message: 'Anything that uses this token loses access at once.',
      action: 'Revoke',
    });
    if (!sure) return;
    if (await this.act(() => call('DELETE', `/tokens/${token.id}`)) !== undefined) {
      if (this.created?.id === token.id) this.created = null;
      await this.reload();
    }
  }

  render() {
    return html`
      <h1>API tokens</h1>
      <section class="card">
        <h2>New token</h2>
        <form class="inline" @submit=${(e) => this.create(e)}>
          ${ruledField('token-name', 'Name', NAME_RULE, html`
            <input id="token-name" name="name" required pattern=${NAME_PATTERN} maxlength="64"
              title=${`A token's name is ${NAME_RULE}.`} aria-describedby="token-name-rule"
              aria-invalid=${this.invalid('name')} autocomplete="off">`, this.fieldError('name'))}
          <label>Access <select name="access">
            <option value="read">read only</option>
            <option value="write">read and write</option>
          </select></label>
          <button class="primary" ?disabled=${this.busy}>Create token</button>
        </form>
        ${this.created ? html`
          <div class="created" role="status">
            <p>The token <strong>${this.created.name}</strong>. It is shown this once: copy it now.</p>
            <p class="secret">${this.created.token}</p>
            <div class="actions">
              <button @click=${() => this.copy()}>${this.copied ? 'Copied' : 'Copy'}</button>
              <button @click=${() => { this.created = null; }}>Done</button>
            </div>
          </div>` : ''}
        ${this.problem()}
      </section>
      <section class="card">
        <h2>Tokens</h2>
        ${this.tokens === null ? html`<p>Loading…</p>` : this.tokens.length === 0
          ? html`<p>No tokens yet.</p>`
          : html`<table class="wide">
            <thead><tr><th>Name</th><th>Access</th><th>Created</th><th></th></tr></thead>
            <tbody>${this.tokens.map((t) => html`
              <tr data-token=${t.id}>
                <td>${t.name}</td><td>${t.scopes.join(', ')}</td><td>${when(t.created)}</td>
                <td><button @click=${() => this.revoke(t)}>Revoke</button></td>
              </tr>`)}</tbody>
          </table>`}
      </section>`;
  }
}

customElements.define('rockd-tokens', Tokens);
