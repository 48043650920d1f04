// A long list on screen one page at a time, with a search and a choice of order: the state of
// one table of a view (a Lit controller of it) and the parts it draws: the search field, the
// sorting column headers, the "Sort by" choice of narrow screens, and the pager. The rows
// themselves stay the view's own; its render calls page() first, then tools(), th() and
// pager(), which tell what page() found. 10,000 snapshots are 50 rows of the DOM, and a patch costs
// the view a binary search (rows.js) and the diff of those 50 rows.
import { html } from 'lit';
import { Rows } from './rows.js';

export const PAGE_SIZE = 50;

export class Table {
  // host: the view; noun: what a row is, plural ("snapshots"); columns: { key: [title,
  // compare(a, b) ascending, optional [the words of ascending, of descending]] }; order:
  // [key, descending] at first; text(item): what the search looks in; keep(item): whether an
  // item of `branch` is in this table; headers: false where the list has no column headers
  // (the "Sort by" choice is then shown at every width)
  constructor(host, { branch, noun, columns, order, text, keep = () => true, size = PAGE_SIZE,
    headers = true }) {
    this.host = host;
    this.noun = noun;
    this.columns = columns;
    this.text = text;
    this.size = size;
    this.headers = headers;
    [this.key, this.descending] = order;
    this.rows = new Rows(branch, keep);
    this.query = '';
    this.filter = null; // [a name, a test] of the rows shown besides the search
    this.start = 0; // the first row of the page, in the matching rows
    this.found = { version: -1, query: '', filter: null, items: [] };
    this.comparers = new Map();
    host.addController(this);
  }

  hostConnected() {}

  // the list's order as a comparer, the same function each time for the same order
  comparer() {
    const name = `${this.key}:${this.descending}`;
    let compare = this.comparers.get(name);
    if (!compare) {
      const ascending = this.columns[this.key][1];
      compare = this.descending ? (a, b) => ascending(b, a) : ascending;
      this.comparers.set(name, compare);
    }
    return compare;
  }

  // Every item of the table in order (the search aside).
  all(tree) {
    return this.rows.sorted(tree, this.comparer());
  }

  // Show only the items that pass `test` (by its `name`), or all again (null).
  where(name, test) {
    if (this.filter?.[0] === name) return;
    this.filter = name === null ? null : [name, test];
    this.start = 0;
  }

  // The items the search (and the filter) finds, in order.
  matching(tree) {
    const items = this.all(tree);
    const query = this.query.trim().toLowerCase();
    if (!query && !this.filter) return items;
    const { found } = this;
    const filter = this.filter?.[0] ?? null;
    if (found.version !== this.rows.version || found.query !== query || found.filter !== filter) {
      const test = this.filter?.[1] ?? (() => true);
      this.found = { version: this.rows.version, query, filter,
        items: items.filter((item) => test(item)
          && (!query || this.text(item).toLowerCase().includes(query))) };
    }
    return this.found.items;
  }

  // This page's items of `tree`, and the counts the pager tells.
  page(tree) {
    const items = this.matching(tree);
    const total = this.rows.items.length;
    if (this.start >= items.length) this.start = Math.max(0, items.length - 1);
    this.start -= this.start % this.size;
    this.shown = { total, found: items.length, start: this.start,
      end: Math.min(this.start + this.size, items.length) };
    return items.slice(this.start, this.shown.end);
  }

  // whether the table needs its search and pager: more than a page, or a search typed
  get long() {
    return this.shown.found > this.size || this.query !== '';
  }

  search(query) {
    this.query = query;
    this.start = 0;
    this.host.requestUpdate();
  }

  sortBy(key, descending = key === this.key ? !this.descending : false) {
    this.key = key;
    this.descending = descending;
    this.start = 0;
    this.host.requestUpdate();
  }

  turn(pages) {
    this.start = Math.max(0, this.start + pages * this.size);
    this.host.requestUpdate();
  }

  // The search field and, for narrow screens (where the headers are hidden), the order as a
  // choice; nothing while the list fits one page.
  tools() {
    if (!this.long) return '';
    const choices = Object.entries(this.columns).flatMap(([key, [title, , words]]) => [
      [`${key}:false`, words?.[0] ?? `${title}, ascending`],
      [`${key}:true`, words?.[1] ?? `${title}, descending`]]);
    const chosen = `${this.key}:${this.descending}`;
    return html`
      <div class="table-tools ${this.headers ? '' : 'no-headers'}">
        <label class="search">Search ${this.noun}
          <input type="search" autocomplete="off" .value=${this.query}
            @input=${(e) => this.search(e.target.value)}></label>
        <label class="sort-by">Sort by
          <select @change=${(e) => {
            const [key, descending] = e.target.value.split(':');
            this.sortBy(key, descending === 'true');
          }}>${choices.map(([value, text]) => html`
            <option value=${value} ?selected=${value === chosen}>${text}</option>`)}</select></label>
      </div>`;
  }

  // A column's header: a button that sorts by it (again: the other way), its order said by
  // aria-sort. `className` is the cell's class ("num").
  th(key, className = '') {
    const [title] = this.columns[key];
    const sorted = key === this.key;
    const order = this.descending ? 'descending' : 'ascending';
    return html`<th class=${className} aria-sort=${sorted ? order : 'none'}><button class="sort"
      @click=${() => this.sortBy(key)}>${title}<span class="arrow" aria-hidden="true">${sorted
        ? (this.descending ? ' ▼' : ' ▲') : ''}</span></button></th>`;
  }

  // Which rows are shown of how many, and the buttons to the other pages.
  pager() {
    const { total, found, start, end } = this.shown;
    if (!this.long) return '';
    const which = found ? `${start + 1} to ${end}` : 'none';
    const told = found === total
      ? `${this.noun[0].toUpperCase()}${this.noun.slice(1)} ${which} of ${total}`
      : `Found ${found} of ${total} ${this.noun}, showing ${which}`;
    return html`
      <nav class="pager" aria-label=${`Pages of ${this.noun}`}>
        <button ?disabled=${start === 0} @click=${() => this.turn(-1)}><span
          aria-hidden="true">‹ </span>Previous</button>
        <span role="status">${told}</span>
        <button ?disabled=${end >= found} @click=${() => this.turn(1)}>Next<span
          aria-hidden="true"> ›</span></button>
      </nav>`;
  }
}
