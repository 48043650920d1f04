// First-run setup (the administrator is created) and login; both end with a session.
import { html } from 'lit';
import { call } from '../lib/api.js';
import { View, fields } from '../lib/view.js';

class Signin extends View {
  static properties = { ...View.properties, mode: { type: String } };

  async submit(event) {
    event.preventDefault();
    const { username, password } = fields(event.target);
    const path = this.mode === 'setup' ? '/setup' : '/auth/login';
    const answer = await this.act(() => call('POST', path, { username, password }));
    if (answer) {
      this.dispatchEvent(new CustomEvent('signed-in', { detail: { user: answer.user.name } }));
    }
  }

  render() {
    const setup = this.mode === 'setup';
    return html`
      <main class="card narrow">
        <h1>rockd</h1>
        <h2>${setup ? 'Create the administrator' : 'Log in'}</h2>
        ${setup ? html`<p>This is the first visit: choose the administrator's name and password.</p>` : ''}
        <form @submit=${(e) => this.submit(e)}>
          <label>User name <input name="username" autocomplete="username" required
            .value=${setup ? 'admin' : ''}></label>
          <label>Password <input name="password" type="password" required
            minlength=${setup ? 8 : 1} title=${setup ? 'A password is at least 8 characters.' : ''}
            aria-invalid=${this.invalid('password')}
            autocomplete=${setup ? 'new-password' : 'current-password'}>${this.fieldError('password')}
          </label>
          <button type="submit" ?disabled=${this.busy}>${setup ? 'Set up' : 'Log in'}</button>
          ${this.problem()}
        </form>
      </main>`;
  }
}

customElements.define('rockd-signin', Signin);
