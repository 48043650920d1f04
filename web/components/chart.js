// <rockd-chart>: one live uPlot time-series chart of the metrics history (lib/metrics.js),
// with its legend below it (each line's colour, name and latest value, wrapping on a narrow
// screen). It redraws when `version` changes, which the dashboard passes on from the history.
import { LitElement, html } from 'lit';
import uPlot from 'uplot';
import { metrics } from '../lib/metrics.js';

// the lines' colours are style.css's --series-N, so the legend's swatches are the same
const SERIES_COLOURS = 3;

function colour(index) {
  const style = getComputedStyle(document.documentElement);
  return style.getPropertyValue(`--series-${index % SERIES_COLOURS}`).trim() || '#1d5fa8';
}
const HEIGHT = 150;

class Chart extends LitElement {
  static properties = {
    heading: { type: String },
    series: { attribute: false }, // [{key, label, scale?}]
    format: { attribute: false }, // value → text
    ceiling: { type: Number }, // the y axis reaches at least this high
    version: { type: Number },
  };

  createRenderRoot() {
    return this;
  }

  columns() {
    const c = metrics.columns;
    return [c.time, ...this.series.map((s) => (s.scale ? c[s.key].map(s.scale) : c[s.key]))];
  }

  // each series' latest value, as text
  latest() {
    const data = this.columns();
    return this.series.map((s, i) => {
      const value = data[i + 1].at(-1);
      return value == null ? '—' : this.format(value);
    });
  }

  render() {
    const latest = this.latest();
    return html`
      <h3>${this.heading}</h3>
      <div class="plot" role="img" aria-label="${this.heading}, the last hour"></div>
      <ul class="legend" aria-label="${this.heading} legend">
        ${this.series.map((s, i) => html`<li>
          <span class="swatch series-${i % SERIES_COLOURS}" aria-hidden="true"></span>
          <span class="name">${s.label}</span> <span class="figure">${latest[i]}</span></li>`)}
      </ul>`;
  }

  build() {
    const box = this.querySelector('.plot');
    const format = (value) => (value == null ? '—' : this.format(value));
    this.plot = new uPlot({
      width: box.clientWidth || 300,
      height: HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (u, min, max) => [0, Math.max(max, this.ceiling || 1)] } },
      axes: [{}, { size: 84, values: (u, ticks) => ticks.map(format) }],
      series: [{}, ...this.series.map((s, i) => ({
        label: s.label, stroke: colour(i), width: 1.5, value: (u, v) => format(v),
      }))],
    }, this.columns(), box);
    this.resizer = new ResizeObserver(() => {
      if (box.clientWidth) this.plot?.setSize({ width: box.clientWidth, height: HEIGHT });
    });
    this.resizer.observe(box);
  }

  firstUpdated() {
    this.build();
  }

  connectedCallback() {
    super.connectedCallback();
    if (this.hasUpdated && !this.plot) this.build();
  }

  updated(changed) {
    if (this.plot && changed.has('version')) this.plot.setData(this.columns());
  }

  disconnectedCallback() {
    super.disconnectedCallback();
    this.resizer?.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}

customElements.define('rockd-chart', Chart);
