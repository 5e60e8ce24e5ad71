/**
 * The folder view: the HTML page a browser gets for GET on a collection. It is complete without
 * JavaScript (every name a link, sizes, dates, the path as links); the page's script
 * (src/web/app.ts, loaded from the reserved UI path) adds sorting, filtering, local dates and,
 * for users who may write, uploads and file operations, all through WebDAV itself.
 * Every name is escaped: nothing a user names a file is ever read as HTML.
 */
import type { Entry } from '../storage/storage.js';
import { KIND_LABELS, exactBytes, humanSize, kindOf, sortMembers } from '../web/format.js';

const HTML_SPECIALS: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_SPECIALS[c]!);

export interface ListingPage {
  /** The path from the requester's top, as links: the first is the top itself. */
  readonly crumbs: readonly { name: string; href: string }[];
  readonly members: readonly Entry[];
  /** Percent-encoded link of a member. */
  readonly href: (e: Entry) => string;
  /** Link one level up, or null at the top. */
  readonly parentHref: string | null;
  /** URL folder of the script and stylesheet (web-assets.ts). */
  readonly assetBase: string;
}

const utc = (ms: number): string => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

function row(e: Entry, href: string): string {
  const name = e.path.name;
  const kind = kindOf(name, e.isCollection);
  const size = e.isCollection ? '<td class="size"></td>' : `<td class="size" title="${exactBytes(e.size)}">${humanSize(e.size)}</td>`;
  return (
    `<tr class="k-${kind}" data-name="${escapeHtml(name)}" data-dir="${e.isCollection ? 1 : 0}" data-size="${e.size}" data-mtime="${Math.round(e.mtimeMs)}">` +
    `<td class="name"><a href="${escapeHtml(href)}"><span class="icon" data-label="${KIND_LABELS[kind]}" aria-hidden="true"></span>` +
    `<bdi class="label">${escapeHtml(name)}${e.isCollection ? '/' : ''}</bdi></a></td>` +
    `${size}<td class="date"><time datetime="${new Date(e.mtimeMs).toISOString()}">${utc(e.mtimeMs)}</time></td><td class="actions"></td></tr>`
  );
}

export function renderListing(page: ListingPage): string {
  const { crumbs, parentHref, assetBase } = page;
  const here = crumbs[crumbs.length - 1]!;
  const path = crumbs.map((c, i) => (i === 0 ? '' : `${c.name}/`)).join('');
  const nav = crumbs
    .map((c, i) => {
      const label = escapeHtml(i === 0 ? crumbs[0]!.name : c.name);
      const link = i === crumbs.length - 1 ? `<span aria-current="page">${label}</span>` : `<a href="${escapeHtml(c.href)}">${label}</a>`;
      return i === 0 ? link : `<span class="sep" aria-hidden="true">›</span>${link}`;
    })
    .join('');
  const rows = sortMembers([...page.members].map((e) => ({ e, name: e.path.name, isCollection: e.isCollection, size: e.size, mtimeMs: e.mtimeMs })), 'name').map((m) =>
    row(m.e, page.href(m.e)),
  );
  const up = parentHref === null ? '' : `<tr class="up k-folder"><td class="name"><a href="${escapeHtml(parentHref)}" rel="up"><span class="icon" data-label="up" aria-hidden="true"></span><span class="label">../</span></a></td><td class="size"></td><td class="date"></td><td class="actions"></td></tr>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(crumbs[0]!.name + path)}</title>
<link rel="stylesheet" href="${escapeHtml(assetBase)}style.css">
<script type="module" src="${escapeHtml(assetBase)}app.js"></script>
</head>
<body data-folder="${escapeHtml(here.href)}">
<header>
<nav class="crumbs" aria-label="Path">${nav}</nav>
<div class="toolbar" id="toolbar" hidden>
<input type="search" id="filter" placeholder="Filter names" aria-label="Filter names" autocomplete="off">
<span id="write-tools" hidden>
<button type="button" id="upload-files" class="primary">Upload files</button>
<button type="button" id="upload-folder">Upload folder</button>
<button type="button" id="new-folder">New folder</button>
<input type="file" id="file-input" class="file-input" multiple tabindex="-1" aria-hidden="true">
<input type="file" id="folder-input" class="file-input" webkitdirectory multiple tabindex="-1" aria-hidden="true">
</span>
</div>
<div class="status" id="status" role="status" aria-live="polite"></div>
</header>
<main>
<p class="drop-hint">Drop files or folders to upload them here</p>
<div class="uploads" id="uploads" hidden></div>
<table id="listing"><thead><tr><th class="name" scope="col" data-sort="name">Name</th><th class="size" scope="col" data-sort="size">Size</th><th class="date" scope="col" data-sort="date">Modified</th><th class="actions" scope="col"><span hidden>Actions</span></th></tr></thead>
<tbody>
${up}${rows.join('\n')}
</tbody></table>
${page.members.length === 0 ? '<p class="empty" id="empty">This folder is empty.</p>' : ''}
</main>
<footer>${page.members.length} ${page.members.length === 1 ? 'item' : 'items'} · fastdav (WebDAV)</footer>
</body></html>
`;
}
