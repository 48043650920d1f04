// <rockd-copy .text=${value} label="key">: a button that puts `text` on the clipboard and says
// so; without a clipboard (a page not served over HTTPS or from localhost) it selects the
// text shown just before it, for the person to copy.
import { LitElement, html } from 'lit';

customElements.define('rockd-copy', class extends LitElement {
  static properties = {
    text: { type: String },
    label: { type: String },
    copied: { state: true },
  };

  constructor() {
    super();
    this.text = '';
    this.label = '';
    this.copied = false;
  }

  createRenderRoot() {
    return this;
  }

  async copy() {
    try {
      await navigator.clipboard.writeText(this.text);
      this.copied = true;
      setTimeout(() => { this.copied = false; }, 2000);
    } catch {
      const shown = this.previousElementSibling;
      if (shown) getSelection().selectAllChildren(shown);
    }
  }

  render() {
    const what = this.label ? ` ${this.label}` : '';
    return html`<button type="button" class="copy" aria-label=${`Copy${what}`}
      @click=${() => this.copy()}>${this.copied ? 'Copied' : 'Copy'}</button>`;
  }
});
