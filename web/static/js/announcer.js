// Screen-reader announcements through the page's polite live region (joins, waits, admits,
// leaves). Messages are appended, so two events in quick succession are both read.

/** Say `text` through the page's live region. */
export function announce(text) {
  const region = document.getElementById('announcer');
  if (!region) return;
  const line = document.createElement('p');
  line.textContent = text;
  region.append(line);
  setTimeout(() => line.remove(), 15000);
}
