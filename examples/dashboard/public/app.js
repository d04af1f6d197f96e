// The dashboard page: one typed-client subscription to the `metrics` channel; every sample
// updates the cards, the chart and the subscriber table.
import { connect } from '/client.js';
import { clockTime } from '/shared/time.js';

/**
 * The one event of the metrics channel (see examples/dashboard/server.mjs).
 * @typedef {{ metrics: {
 *   at: string, connections: number, subscribers: Record<string, number>,
 *   publishedPerSec: number, deliveredPerSec: number, bytesPerSec: number,
 *   eventsPublished: number, trafficRate: number, rssBytes: number } }} DashboardEvents
 */

const $ = (id) => document.getElementById(id);
const HISTORY = 60;
const rates = [];
const number = new Intl.NumberFormat();

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function drawChart() {
  const max = Math.max(10, ...rates);
  const step = 600 / (HISTORY - 1);
  const offset = HISTORY - rates.length;
  const points = rates.map(
    (r, i) => `${((offset + i) * step).toFixed(1)},${(118 - (r / max) * 112).toFixed(1)}`,
  );
  // One sample is a point: draw it as a short flat line so the chart is never blank.
  if (points.length === 1) points.unshift(`${(600 - step).toFixed(1)},${points[0].split(',')[1]}`);
  $('chart-line').setAttribute('points', points.join(' '));
}

function showSubscribers(subscribers) {
  const rows = Object.entries(subscribers)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([channel, count]) => {
      const tr = document.createElement('tr');
      const name = document.createElement('td');
      name.textContent = channel;
      const value = document.createElement('td');
      value.textContent = String(count);
      tr.append(name, value);
      return tr;
    });
  $('subscribers').replaceChildren(...rows);
}

function update(m) {
  $('connections').textContent = String(m.connections);
  $('connections').dataset.value = String(m.connections);
  $('published-rate').textContent = number.format(m.publishedPerSec);
  $('delivered-rate').textContent = number.format(m.deliveredPerSec);
  $('bytes-rate').textContent = bytes(m.bytesPerSec);
  $('published-total').textContent = number.format(m.eventsPublished);
  $('rss').textContent = bytes(m.rssBytes);
  $('traffic-rate').textContent = `now ${m.trafficRate}/s`;
  $('updated').dateTime = m.at;
  $('updated').textContent = clockTime(new Date(m.at));
  rates.push(m.publishedPerSec);
  if (rates.length > HISTORY) rates.shift();
  drawChart();
  showSubscribers(m.subscribers);
}

const setStatus = (state) => {
  $('status').textContent = state;
  $('status').dataset.state = state;
};

// persist: false: a dashboard wants the next sample, not old ones (the server keeps no history).
const client = connect('events', { persist: false, on: { metrics: update }, onStateChange: setStatus });
setStatus(client.state);

for (const button of $('traffic-form').querySelectorAll('button')) {
  button.addEventListener('click', async () => {
    await fetch('traffic', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ rate: Number(button.dataset.rate) }),
    });
  });
}
