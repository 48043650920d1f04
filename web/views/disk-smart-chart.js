// <rockd-smart-chart>: one uPlot chart of a disk's SMART readings over time (the history
// rockd keeps, GET /disks/{id}/smart/history), with its legend below: each line's colour,
// name and newest value. It draws again when `readings` changes.
import { LitElement, html } from 'lit';
import uPlot from 'uplot';

const SERIES_COLOURS = 3;
const HEIGHT = 150;

function colour(index) {
  const style = getComputedStyle(document.documentElement);
  return style.getPropertyValue(`--series-${index % SERIES_COLOURS}`).trim() || '#1d5fa8';
}

class SmartChart extends LitElement {
  static properties = {
    heading: { type: String },
    readings: { attribute: false }, // [{time, field: value, ...}], oldest first
    series: { attribute: false }, // [{key, label}]
    unit: { type: String },
  };

  createRenderRoot() {
    return this;
  }

  columns() {
    const rows = this.readings ?? [];
    return [rows.map((r) => r.time), ...this.series.map((s) => rows.map((r) => r[s.key] ?? null))];
  }

  format(value) {
    return value == null ? '—' : `${value}${this.unit ? ` ${this.unit}` : ''}`;
  }

  render() {
    const newest = this.readings?.at(-1) ?? {};
    return html`
      <h3>${this.heading}</h3>
      <div class="plot" role="img" aria-label="${this.heading}, over the kept readings"></div>
      <ul class="legend" aria-label="${this.heading} legend">
        ${this.series.map((s, i) => html`<li>
          <span class="swatch series-${i % SERIES_COLOURS}" aria-hidden="true"></span>
          <span class="name">${s.label}</span>
          <span class="figure">${this.format(newest[s.key])}</span></li>`)}
      </ul>`;
  }

  draw() {
    this.plot?.destroy();
    const box = this.querySelector('.plot');
    if (!box) return;
    this.plot = new uPlot({
      width: box.clientWidth || 300,
      height: HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (u, min, max) => [0, Math.max(Math.ceil((max ?? 0) * 1.2), 1)] } },
      axes: [{}, { size: 56, values: (u, ticks) => ticks.map((t) => this.format(t)) }],
      series: [{}, ...this.series.map((s, i) => ({
        label: s.label, stroke: colour(i), width: 1.5, points: { show: true, size: 4 },
        value: (u, v) => this.format(v),
      }))],
    }, this.columns(), box);
    this.resizer?.disconnect();
    this.resizer = new ResizeObserver(() => {
      if (box.clientWidth) this.plot?.setSize({ width: box.clientWidth, height: HEIGHT });
    });
    this.resizer.observe(box);
  }

  updated(changed) {
    if (changed.has('readings') || changed.has('series')) this.draw();
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.resizer?.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }

  connectedCallback() {
    super.connectedCallback();
    if (this.hasUpdated && !this.plot) this.draw();
  }
}

customElements.define('rockd-smart-chart', SmartChart);
