// HH:MM:SS in the viewer's local time, for log lines and messages.
export function clockTime(date = new Date()) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A <time> element showing `date` as HH:MM:SS, with the full ISO time in its datetime attribute. */
export function timeElement(date = new Date()) {
  const el = document.createElement('time');
  el.dateTime = date.toISOString();
  el.title = date.toLocaleString();
  el.textContent = clockTime(date);
  return el;
}
