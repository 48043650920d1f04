// One user (#/users/{name}): facts, a new password, groups, shell and SSH keys, and delete.
// System accounts (uid < 1000) are only shown.
import { html } from 'lit';
import { confirmAction } from '../components/confirm.js';
import { call } from '../lib/api.js';
import { go, href } from '../lib/router.js';
import { View, fields } from '../lib/view.js';
import { SHELLS, keyLines, words } from './users.js';

customElements.define('rockd-user-detail', class extends View {
  get user() {
    return this.tree?.users?.[this.id];
  }

  async save(event, user) {
    event.preventDefault();
    const form = event.target;
    const data = fields(form);
    const body = {};
    if (data.password) body.password = data.password;
    if (data.group && data.group !== user.group) body.group = data.group;
    const groups = words(data.groups);
    if (groups.join(' ') !== (user.groups ?? []).join(' ')) body.groups = groups;
    if (data.shell && data.shell !== user.shell) body.shell = data.shell;
    if (form.elements.replace_keys.checked) body.ssh_keys = keyLines(data.ssh_keys);
    if (!Object.keys(body).length) {
      this.clearMessages();
      this.note = 'Nothing to change.';
      return;
    }
    if (await this.act(() => call('PATCH', `/users/${encodeURIComponent(user.name)}`, body))) {
      form.elements.password.value = '';
      this.note = 'Saved.';
    }
  }

  async deleteUser(user) {
    const sure = await confirmAction({
      title: `Delete user ${user.name}?`,
      message: 'The account, its Samba password and its SSH keys go'
        + (user.home?.startsWith('/home/')
          ? `, and its home ${user.home} with all in it, if rockd made it` : '')
        + '; the files it owns in shares stay, owned by its old uid, which no new user is '
        + 'given.',
      action: 'Delete',
      typed: user.name,
    });
    if (sure && await this.act(() => call('DELETE', `/users/${encodeURIComponent(user.name)}`))
        !== undefined) {
      go('users');
    }
  }

  render() {
    const user = this.user;
    if (!user) {
      return html`<section class="card"><h1>User not found</h1>
        <p><a href=${href('users')}>All users</a></p></section>`;
    }
    const exports = Object.values(this.tree?.exports?.sftp ?? {})
      .filter((e) => (e.users ?? []).includes(user.name));
    return html`
      <section class="card">
        <p><a href=${href('users')}>← Users</a></p>
        <h1>${user.name}</h1>
        <dl>
          <dt>UID</dt><dd>${user.uid}</dd>
          <dt>Primary group</dt><dd>${user.group}</dd>
          <dt>Other groups</dt><dd>${(user.groups ?? []).join(', ') || '—'}</dd>
          <dt>Shell</dt><dd>${user.shell}</dd>
          <dt>Home</dt><dd>${user.home ?? '—'}</dd>
          <dt>Samba password</dt><dd>${user.samba ? 'set' : 'not set'}</dd>
          <dt>SSH keys</dt><dd>${user.ssh_keys ?? 0}</dd>
          <dt>SFTP</dt><dd>${exports.length ? exports.map((e) => html`
            <a href=${href('shares', e.share)}>${e.share_name ?? e.share}</a> `) : 'no share'}</dd>
        </dl>
      </section>
      ${user.system ? html`<section class="card"><p class="muted">A system account: rockd shows
        it but does not change it.</p></section>` : html`
      <section class="card">
        <h2>Change</h2>
        <form class="form-grid" @submit=${(e) => this.save(e, user)}>
          <label>New password <small>login and Samba; at least 8 characters</small>
            <input name="password" type="password" minlength="8" autocomplete="new-password"
              title="A password is at least 8 characters." aria-invalid=${this.invalid('password')}>
            ${this.fieldError('password')}</label>
          <label>Primary group <input name="group" .value=${user.group ?? ''} autocomplete="off"
            aria-invalid=${this.invalid('group')}>${this.fieldError('group')}</label>
          <label>Other groups <small>separated by spaces or commas</small>
            <input name="groups" .value=${(user.groups ?? []).join(' ')} autocomplete="off"
            aria-invalid=${this.invalid('groups')}>${this.fieldError('groups')}</label>
          <label>Shell <select name="shell">${[...new Set([user.shell, ...SHELLS])].map((s) => html`
            <option ?selected=${s === user.shell}>${s}</option>`)}</select>
            ${this.fieldError('shell')}</label>
          <label class="wide-field">SSH public keys <small>one a line</small>
            <textarea name="ssh_keys" rows="3" aria-invalid=${this.invalid('ssh_keys')}></textarea>
            ${this.fieldError('ssh_keys')}</label>
          <label class="check"><input type="checkbox" name="replace_keys"> Replace the SSH keys
            with these</label>
          ${this.problem()}
          <div class="actions"><button class="primary" ?disabled=${this.busy}>Save changes</button>
            ${this.note ? html`<span class="ok" role="status">${this.note}</span>` : ''}</div>
        </form>
      </section>
      <section class="card">
        <h2>Delete</h2>
        <button class="danger" ?disabled=${this.busy} @click=${() => this.deleteUser(user)}>
          Delete user</button>
      </section>`}`;
  }
});
