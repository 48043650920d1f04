// The UPS screen's form: which UPS rockd follows (a USB one from the list, or a NUT server on
// the network) and what it does on battery (grace time, shut down at a low battery). It
// answers the request's body; the screen sends it.
import { html } from 'lit';
import { ruledField } from '../lib/view.js';

const NAME_PATTERN = '[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}';
const NAME_RULE = '1 to 64 letters, digits, ".", "_" or "-"';

// a device of the USB list as the words of its option
function deviceWords(d) {
  const what = [d.vendor, d.product].filter(Boolean).join(' ') || `${d.vendorid}:${d.productid}`;
  return `${what}${d.driver ? ` (${d.driver})` : ' (not known as a UPS)'}`;
}

// The form's fields as PUT /api/v1/ups's body.
export function upsBody(form, devices) {
  const data = new FormData(form);
  const get = (name) => (data.get(name) ?? '').toString().trim();
  const body = { source: get('source'), name: get('name') || 'ups',
    grace: Number(get('grace')), low_battery_shutdown: data.get('low_battery_shutdown') === 'on' };
  if (body.source === 'usb') {
    const chosen = devices.find((d) => d.id === get('device'));
    body.usb = { driver: get('driver') || chosen?.driver || '', port: get('port') || 'auto' };
    for (const key of ['vendorid', 'productid', 'serial', 'bus']) {
      if (chosen?.[key] && !get('driver')) body.usb[key] = chosen[key];
    }
  } else {
    body.server = { host: get('host'), port: Number(get('server_port') || 3493),
      user: get('user') };
    if (get('password')) body.server.password = get('password');
  }
  return body;
}

function usbFields(view, ups, devices) {
  const listed = devices.filter((d) => d.driver);
  return html`
    <div class="field wide-field"><label for="ups-device">USB UPS</label>
      <small id="ups-device-rule">${view.scanned ? `${listed.length} found${view.scanErrors.length
        ? `: ${view.scanErrors.join('; ')}` : ''}` : 'Look for the UPSes on this machine\'s USB.'}</small>
      <div class="actions"><select id="ups-device" name="device" aria-describedby="ups-device-rule">
        <option value="">${listed.length ? 'Choose one' : 'none found'}</option>
        ${listed.map((d) => html`<option value=${d.id}>${deviceWords(d)}</option>`)}
      </select>
      <button type="button" @click=${() => view.scan()} ?disabled=${view.busy}>Look for
        USB UPSes</button></div></div>
    ${ruledField('ups-driver', 'Driver', 'NUT\'s driver, if not the one found (e.g. usbhid-ups)',
      html`<input id="ups-driver" name="driver" pattern="[a-z0-9][a-z0-9_\\-]{0,63}"
        title="NUT's driver name: small letters, digits, '_' or '-'"
        .value=${ups.source === 'usb' ? ups.driver ?? '' : ''} aria-describedby="ups-driver-rule"
        aria-invalid=${view.invalid('usb.driver')}>`, view.fieldError('usb.driver'))}
    ${ruledField('ups-port', 'Port', 'auto for USB', html`<input id="ups-port" name="port"
      placeholder="auto" aria-describedby="ups-port-rule" aria-invalid=${view.invalid('usb.port')}>`,
      view.fieldError('usb.port'))}`;
}

function networkFields(view, ups) {
  const mine = ups.source === 'network';
  return html`
    ${ruledField('ups-host', 'Server', 'the NUT server: its host name or address', html`<input id="ups-host"
      name="host" required .value=${mine ? ups.host ?? '' : ''} aria-describedby="ups-host-rule"
      aria-invalid=${view.invalid('server.host')}>`, view.fieldError('server.host'))}
    ${ruledField('ups-server-port', 'Port', 'upsd\'s, 3493 unless changed', html`<input
      id="ups-server-port" name="server_port" type="number" min="1" max="65535"
      title="a port from 1 to 65535" .value=${String(mine ? ups.port ?? 3493 : 3493)}
      aria-describedby="ups-server-port-rule">`, view.fieldError('server.port'))}
    ${ruledField('ups-user', 'User', 'as upsd.users names it (an upsmon secondary)', html`<input
      id="ups-user" name="user" required pattern=${NAME_PATTERN} title=${NAME_RULE}
      .value=${mine ? ups.user ?? '' : ''} aria-describedby="ups-user-rule"
      aria-invalid=${view.invalid('server.user')}>`, view.fieldError('server.user'))}
    ${ruledField('ups-password', 'Password', mine ? 'left empty: the one kept' : 'kept by rockd, '
      + 'never shown', html`<input id="ups-password" name="password" type="password"
      autocomplete="new-password" ?required=${!mine} aria-describedby="ups-password-rule"
      aria-invalid=${view.invalid('server.password')}>`, view.fieldError('server.password'))}`;
}

// The form; `view` gives its state (source, the USB list) and errors, `ups` the values shown.
export function upsForm(view, ups, devices) {
  const source = view.source ?? ups.source ?? 'usb';
  return html`<form class="ups-form" @submit=${(e) => view.submit(e)}>
    <div class="form-grid">
      <fieldset class="wide-field"><legend>The UPS is</legend>
        <label class="check"><input type="radio" name="source" value="usb"
          .checked=${source === 'usb'} @change=${() => { view.source = 'usb'; }}> on this
          machine's USB</label>
        <label class="check"><input type="radio" name="source" value="network"
          .checked=${source === 'network'} @change=${() => { view.source = 'network'; }}>
          on a NUT server on the network</label>
      </fieldset>
      ${source === 'usb' ? usbFields(view, ups, devices) : networkFields(view, ups)}
      ${ruledField('ups-name', 'UPS name', source === 'usb' ? 'what NUT calls it' : 'as the '
        + 'server names it', html`<input id="ups-name" name="name" required
        pattern=${NAME_PATTERN} title=${NAME_RULE} .value=${ups.name ?? 'ups'}
        aria-describedby="ups-name-rule" aria-invalid=${view.invalid('name')}>`,
        view.fieldError('name'))}
      ${ruledField('ups-grace', 'Grace time (seconds)', 'on battery this long, the machine shuts '
        + 'down', html`<input id="ups-grace" name="grace" type="number" min="0" max="86400"
        required title="0 to 86400 seconds" .value=${String(ups.grace ?? 120)}
        aria-describedby="ups-grace-rule" aria-invalid=${view.invalid('grace')}>`,
        view.fieldError('grace'))}
      <label class="check wide-field"><input type="checkbox" name="low_battery_shutdown"
        .checked=${ups.low_battery_shutdown ?? true}> Shut down at once when the battery is
        low</label>
      ${view.problem()}
      <div class="actions"><button class="primary" ?disabled=${view.busy}>${ups.configured
        ? 'Save' : 'Follow this UPS'}</button></div>
    </div>
  </form>`;
}
