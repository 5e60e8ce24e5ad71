/** The HTML page a browser gets for GET on a collection. */
import type { Entry } from '../storage/storage.js';

const HTML_SPECIALS: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_SPECIALS[c]!);

function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/**
 * `title` is the collection's path as shown; `href(entry)` gives each member's percent-encoded
 * link; `parentHref` is null at the top.
 */
export function renderListing(title: string, members: readonly Entry[], href: (e: Entry) => string, parentHref: string | null): string {
  const sorted = [...members].sort((a, b) => Number(b.isCollection) - Number(a.isCollection) || (a.path.name < b.path.name ? -1 : 1));
  const rows = sorted.map((e) => {
    const name = escapeHtml(e.path.name) + (e.isCollection ? '/' : '');
    const size = e.isCollection ? '' : humanSize(e.size);
    const modified = new Date(e.mtimeMs).toISOString().replace('T', ' ').slice(0, 19);
    return `<tr><td><a href="${escapeHtml(href(e))}">${name}</a></td><td>${size}</td><td>${modified}</td></tr>`;
  });
  const up = parentHref === null ? '' : `<tr><td><a href="${escapeHtml(parentHref)}">../</a></td><td></td><td></td></tr>`;
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Index of ${escapeHtml(title)}</title>
</head>
<body><h1>Index of ${escapeHtml(title)}</h1>
<table><thead><tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr></thead><tbody>
${up}${rows.join('\n')}
</tbody></table></body></html>
`;
}
