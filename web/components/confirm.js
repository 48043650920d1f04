// Destructive actions ask first: a modal <dialog> (focus kept inside, Escape cancels). With
// `typed`, the action is enabled only once that exact text (the object's name) is typed.
// `tone` is the action button's look: 'danger' (the default), or 'primary' for an action
// that costs something but destroys nothing.
import { html, render } from 'lit';

export function confirmAction({ title, message, action = 'Confirm', typed = null, tone = 'danger' }) {
  return new Promise((resolve) => {
    const dialog = document.createElement('dialog');
    dialog.className = 'confirm';
    const check = (event) => {
      dialog.querySelector('button[value="yes"]').disabled = event.target.value !== typed;
    };
    render(html`
      <form method="dialog">
        <h2>${title}</h2>
        <p>${message}</p>
        ${typed === null ? '' : html`
          <label><span>Type <strong>${typed}</strong> to confirm</span>
            <input name="typed" autocomplete="off" @input=${check}></label>`}
        <div class="actions">
          <button value="no" autofocus>Cancel</button>
          <button value="yes" class=${tone} ?disabled=${typed !== null}>${action}</button>
        </div>
      </form>`, dialog);
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'yes');
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    if (typed !== null) dialog.querySelector('input').focus();
  });
}
