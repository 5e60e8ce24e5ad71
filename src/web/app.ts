/**
 * The folder view's script (served from PREFIX/.fastdav-ui/VERSION/app.js; no framework, no
 * bundler). The server's HTML already lists the folder; this adds sorting, a filter, local
 * dates, and for users whom the server's `Allow` header (OPTIONS) offers writes: uploads with
 * progress, new folder, rename/move, delete, all with plain WebDAV requests to the server the
 * page came from. Credentials are the browser's Basic authentication; nothing is stored.
 * Names only ever reach the page through textContent and attributes, never as HTML.
 */
import { KIND_LABELS, exactBytes, humanSize, kindOf, sortMembers, type Member, type SortKey } from './format.js';

interface Row extends Member {
  readonly href: string;
  readonly el: HTMLTableRowElement;
}

interface Rights {
  readonly create: boolean; // PUT and MKCOL of new members
  readonly change: boolean; // MOVE and DELETE of members
}

const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const tbody = document.querySelector<HTMLTableSectionElement>('#listing tbody')!;
/** The folder's own URL path (percent-encoded, ending with '/'). */
const here = document.body.dataset['folder'] ?? location.pathname;
const statusBox = byId<HTMLDivElement>('status');

let rows: Row[] = [];
let sortKey: SortKey = 'name';
let descending = false;
let rights: Rights = { create: false, change: false };

// ---- requests and errors ------------------------------------------------------------------

function dav(method: string, url: string, headers: Record<string, string> = {}, body?: BodyInit): Promise<Response> {
  return fetch(url, { method, headers, body: body ?? null, credentials: 'same-origin', cache: 'no-store', redirect: 'manual' });
}

/** What a status means for the person who asked, in words (RFC 4918 §11, RFC 9110 §15). */
export function explain(status: number): string {
  switch (status) {
    case 0: return 'the server could not be reached';
    case 401: return 'you are not signed in, or your password was refused';
    case 403: return 'you are not allowed to do this here (read-only access or a reserved name)';
    case 404: return 'it is no longer there (someone may have moved or deleted it)';
    case 405: return 'this is not possible here (something with that name may already exist)';
    case 409: return 'the folder it belongs in does not exist';
    case 412: return 'something with that name already exists';
    case 413: return 'it is larger than this server accepts';
    case 415: return 'the server does not accept this kind of request body';
    case 423: return 'it is locked by someone else (an editor or a mounted drive is using it); try again later';
    case 424: return 'it failed because another part of the same operation failed';
    case 502: return 'the destination is on another server';
    case 503: return 'the server is busy or stopping; try again';
    case 507: return 'the server has no space left';
    default: return status >= 500 ? `the server failed (${status})` : `the server refused (${status})`;
  }
}

function setStatus(message: string, kind: 'ok' | 'error' | '' = '', details: string[] = []): void {
  statusBox.className = `status ${kind}`;
  statusBox.textContent = message;
  if (details.length > 0) {
    const list = document.createElement('ul');
    for (const d of details) list.appendChild(document.createElement('li')).textContent = d;
    statusBox.appendChild(list);
  }
}

/** Percent-encodes each segment of a relative path ('a b/c#' → 'a%20b/c%23'); '.' and '..' stay. */
const encodePath = (p: string): string =>
  p
    .split('/')
    .map((s) => (s === '.' || s === '..' ? s : encodeURIComponent(s)))
    .join('/');

const nameFromHref = (href: string): string => {
  const parts = href.replace(/\/$/, '').split('/');
  return decodeURIComponent(parts[parts.length - 1] ?? '');
};

// ---- the rows ------------------------------------------------------------------------------

/** One formatter for every row (toLocaleString would build one per call: slow for 10,000 rows). */
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const localDate = (ms: number): string => dateFormat.format(ms);

function readRow(el: HTMLTableRowElement): Row {
  const d = el.dataset;
  return { el, name: d['name'] ?? '', isCollection: d['dir'] === '1', size: Number(d['size']), mtimeMs: Number(d['mtime']), href: el.querySelector('a')!.getAttribute('href')! };
}

function makeRow(m: Member, href: string): HTMLTableRowElement {
  const kind = kindOf(m.name, m.isCollection);
  const tr = document.createElement('tr');
  tr.className = `k-${kind}`;
  Object.assign(tr.dataset, { name: m.name, dir: m.isCollection ? '1' : '0', size: String(m.size), mtime: String(m.mtimeMs) });
  const nameCell = tr.insertCell();
  nameCell.className = 'name';
  const a = nameCell.appendChild(document.createElement('a'));
  a.href = href;
  const icon = a.appendChild(document.createElement('span'));
  icon.className = 'icon';
  icon.dataset['label'] = KIND_LABELS[kind];
  icon.setAttribute('aria-hidden', 'true');
  const label = a.appendChild(document.createElement('bdi'));
  label.className = 'label';
  label.textContent = m.name + (m.isCollection ? '/' : '');
  const size = tr.insertCell();
  size.className = 'size';
  if (!m.isCollection) {
    size.textContent = humanSize(m.size);
    size.title = exactBytes(m.size);
  }
  const date = tr.insertCell();
  date.className = 'date';
  const time = date.appendChild(document.createElement('time'));
  time.dateTime = new Date(m.mtimeMs).toISOString();
  tr.insertCell().className = 'actions';
  return tr;
}

/** Local time for every date; exact UTC on hover. */
function localizeDates(row: Row): void {
  const time = row.el.querySelector('time');
  if (!time || !Number.isFinite(row.mtimeMs)) return;
  time.textContent = localDate(row.mtimeMs);
  time.title = new Date(row.mtimeMs).toUTCString();
}

/** Row actions are plain buttons named by data-action; one listener on the table serves them all. */
function addActions(row: Row): void {
  const cell = row.el.querySelector<HTMLTableCellElement>('td.actions')!;
  cell.textContent = '';
  const button = (action: string, label: string, title: string, className = '') => {
    const b = cell.appendChild(document.createElement('button'));
    b.type = 'button';
    b.textContent = label;
    b.title = title;
    b.dataset['action'] = action;
    b.setAttribute('aria-label', `${title}: ${row.name}`);
    if (className) b.className = className;
  };
  if (!row.isCollection) button('link', 'Copy link', 'Copy link');
  if (rights.change) {
    button('rename', 'Rename', 'Rename or move');
    button('delete', 'Delete', 'Delete', 'danger');
  }
}

function setUpActions(): void {
  const byElement = new WeakMap<Element, Row>();
  tbody.addEventListener('click', (e) => {
    const button = (e.target as Element).closest<HTMLButtonElement>('button[data-action]');
    const tr = button?.closest('tr');
    if (!button || !tr) return;
    if (!byElement.has(tr)) for (const r of rows) byElement.set(r.el, r);
    const row = byElement.get(tr);
    if (!row) return;
    const action = button.dataset['action'];
    if (action === 'link') void copyLink(row);
    else if (action === 'rename') void rename(row);
    else if (action === 'delete') void remove(row);
  });
}

function filterText(): string {
  return byId<HTMLInputElement>('filter').value.trim().toLocaleLowerCase();
}

const lowerNames = new WeakMap<Row, string>();
const lowerName = (r: Row): string => {
  let lower = lowerNames.get(r);
  if (lower === undefined) lowerNames.set(r, (lower = r.name.toLocaleLowerCase()));
  return lower;
};

/** Rows put back in one go; the rest follow frame by frame, so the page never stops answering. */
const ROWS_PER_FRAME = 400;
let renderRun = 0;

/**
 * Puts the rows in order and leaves out those the filter does not match. The first rows are in
 * place at once; the others are appended in later frames (a newer render stops an older one),
 * so sorting or filtering 10,000 rows is never one long task.
 */
function render(): void {
  const run = ++renderRun;
  const wanted = filterText();
  sortMembers(rows, sortKey, descending);
  const shown = wanted === '' ? rows : rows.filter((r) => lowerName(r).includes(wanted));
  const up = tbody.querySelector('tr.up');
  tbody.replaceChildren(...(up ? [up] : []));
  const append = (from: number): void => {
    if (run !== renderRun) return;
    const fragment = document.createDocumentFragment();
    for (const r of shown.slice(from, from + ROWS_PER_FRAME)) fragment.appendChild(r.el);
    tbody.appendChild(fragment);
    if (from + ROWS_PER_FRAME < shown.length) requestAnimationFrame(() => append(from + ROWS_PER_FRAME));
  };
  append(0);
  for (const th of document.querySelectorAll<HTMLTableCellElement>('th[data-sort]')) {
    const active = th.dataset['sort'] === sortKey;
    th.setAttribute('aria-sort', active ? (descending ? 'descending' : 'ascending') : 'none');
    th.querySelector('button')?.setAttribute('aria-pressed', String(active));
    const arrow = th.querySelector('.arrow');
    if (arrow) arrow.textContent = active ? (descending ? ' ↓' : ' ↑') : '';
  }
  const footer = document.querySelector('footer');
  if (footer) footer.textContent = `${wanted ? `${shown.length} of ` : ''}${rows.length} ${rows.length === 1 ? 'item' : 'items'} · fastdav (WebDAV)`;
  document.getElementById('empty')?.toggleAttribute('hidden', rows.length > 0);
}

function setRows(next: Row[]): void {
  rows = next;
  for (const r of rows) {
    localizeDates(r);
    addActions(r);
  }
  render();
}

/** Lists the folder again with PROPFIND Depth 1 (RFC 4918 §9.1). */
async function refresh(): Promise<void> {
  const res = await dav('PROPFIND', here, { depth: '1', 'content-type': 'application/xml; charset=utf-8' },
    '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/><D:getlastmodified/></D:prop></D:propfind>');
  if (res.status !== 207) return setStatus(`Could not list the folder: ${explain(res.status)}.`, 'error');
  const xml = new DOMParser().parseFromString(await res.text(), 'application/xml');
  const next: Row[] = [];
  const herePath = decodeURIComponent(new URL(here, location.href).pathname);
  for (const response of xml.getElementsByTagNameNS('DAV:', 'response')) {
    const href = response.getElementsByTagNameNS('DAV:', 'href')[0]?.textContent ?? '';
    const path = new URL(href, location.href).pathname;
    if (decodeURIComponent(path) === herePath) continue;
    const prop = (local: string) => response.getElementsByTagNameNS('DAV:', local)[0];
    const member: Member = {
      name: nameFromHref(path),
      isCollection: (prop('resourcetype')?.getElementsByTagNameNS('DAV:', 'collection').length ?? 0) > 0,
      size: Number(prop('getcontentlength')?.textContent ?? 0),
      mtimeMs: Date.parse(prop('getlastmodified')?.textContent ?? ''),
    };
    next.push({ ...member, href: path, el: makeRow(member, path) });
  }
  setRows(next);
}

// ---- sorting and filtering -----------------------------------------------------------------

function setUpSorting(): void {
  for (const th of document.querySelectorAll<HTMLTableCellElement>('th[data-sort]')) {
    const key = th.dataset['sort'] as SortKey;
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = th.textContent;
    button.title = `Sort by ${key}`;
    button.appendChild(document.createElement('span')).className = 'arrow';
    th.textContent = '';
    th.appendChild(button);
    button.addEventListener('click', () => {
      if (sortKey === key) descending = !descending;
      else [sortKey, descending] = [key, key !== 'name'];
      render();
    });
  }
}

function setUpFilter(): void {
  const input = byId<HTMLInputElement>('filter');
  let pending = 0;
  input.addEventListener('input', () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(render);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      input.value = '';
      render();
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === '/' && document.activeElement?.tagName !== 'INPUT') {
      e.preventDefault();
      input.focus();
    }
  });
}

// ---- what this user may do: from Allow, never guessed ---------------------------------------

const allowOf = (res: Response): Set<string> => new Set((res.headers.get('allow') ?? '').split(',').map((m) => m.trim().toUpperCase()));

async function probeRights(): Promise<Rights> {
  // A name that is not in the folder: its Allow says whether new members may be made here.
  let probe = '';
  do probe = `new-${Math.random().toString(36).slice(2)}`;
  while (rows.some((r) => r.name === probe));
  const [folder, member] = await Promise.all([dav('OPTIONS', here), dav('OPTIONS', here + probe)]);
  const f = allowOf(folder);
  const m = allowOf(member);
  return { create: m.has('PUT') && m.has('MKCOL'), change: f.has('MOVE') && f.has('DELETE') };
}

// ---- file operations -----------------------------------------------------------------------

async function copyLink(row: Row): Promise<void> {
  const url = new URL(row.href, location.href).href;
  try {
    await navigator.clipboard.writeText(url);
    setStatus(`Link to “${row.name}” copied.`, 'ok');
  } catch {
    prompt('Copy this link:', url);
  }
}

async function newFolder(): Promise<void> {
  const name = prompt('Name of the new folder:')?.trim();
  if (!name) return;
  if (name.includes('/') || name === '.' || name === '..') return setStatus('A folder name cannot contain “/” or be “.” or “..”.', 'error');
  const res = await dav('MKCOL', `${here}${encodeURIComponent(name)}/`);
  if (res.status === 201) {
    setStatus(`Folder “${name}” created.`, 'ok');
    await refresh();
  } else setStatus(`Could not create “${name}”: ${explain(res.status === 405 ? 412 : res.status)}.`, 'error');
}

/** RFC 4918 §9.9: MOVE with Overwrite F first; asks before replacing what is there. */
async function rename(row: Row): Promise<void> {
  const answer = prompt(`Rename or move “${row.name}” to (a new name, or a path such as ../other/${row.name}):`, row.name);
  if (answer === null || answer.trim() === '' || answer === row.name) return;
  const suffix = row.isCollection ? '/' : '';
  const destination = new URL(encodePath(answer.replace(/\/+$/, '')) + suffix, new URL(here, location.href)).href;
  let res = await dav('MOVE', row.href, { destination, overwrite: 'F' });
  if (res.status === 412) {
    if (!confirm(`“${answer}” already exists. Replace it with “${row.name}”?`)) return setStatus('Nothing was moved.');
    res = await dav('MOVE', row.href, { destination, overwrite: 'T' });
  }
  if (res.status === 201 || res.status === 204) {
    setStatus(`“${row.name}” is now “${answer}”.`, 'ok');
    await refresh();
  } else if (res.status === 207) {
    setStatus(`“${row.name}” was moved only in part:`, 'error', await failedMembers(res));
    await refresh();
  } else setStatus(`Could not move “${row.name}”: ${explain(res.status)}.`, 'error');
}

/** The members a 207 reports as failed, in words (RFC 4918 §9.6.1, §13). */
async function failedMembers(res: Response): Promise<string[]> {
  const xml = new DOMParser().parseFromString(await res.text(), 'application/xml');
  const out: string[] = [];
  for (const r of xml.getElementsByTagNameNS('DAV:', 'response')) {
    const status = Number(/\s(\d{3})\s?/.exec(r.getElementsByTagNameNS('DAV:', 'status')[0]?.textContent ?? '')?.[1] ?? 0);
    if (status >= 200 && status < 300) continue;
    const href = r.getElementsByTagNameNS('DAV:', 'href')[0]?.textContent ?? '';
    out.push(`${decodeURIComponent(new URL(href, location.href).pathname)}: ${explain(status)}`);
  }
  return out;
}

async function remove(row: Row): Promise<void> {
  if (!confirm(`Delete “${row.name}”${row.isCollection ? ' and everything in it' : ''}? This cannot be undone.`)) return;
  const res = await dav('DELETE', row.href);
  if (res.status === 204 || res.status === 200) {
    setStatus(`“${row.name}” deleted.`, 'ok');
  } else if (res.status === 207) {
    setStatus(`“${row.name}” was deleted only in part; these remain:`, 'error', await failedMembers(res));
  } else {
    return setStatus(`Could not delete “${row.name}”: ${explain(res.status)}.`, 'error');
  }
  await refresh();
}

// ---- uploads -------------------------------------------------------------------------------

interface Upload {
  readonly file: File;
  /** Path below this folder, '/'-separated ("photos/2024/a.jpg"). */
  readonly path: string;
  loaded: number;
  state: 'waiting' | 'sending' | 'done' | 'failed' | 'cancelled';
  xhr?: XMLHttpRequest;
  started?: number;
  readonly progress: HTMLProgressElement;
  readonly info: HTMLElement;
  readonly row: HTMLElement;
}

const SHOW_SPEED_ABOVE = 1 << 20;

function rate(bytes: number, ms: number, remaining: number): string {
  if (ms < 500 || bytes === 0) return '';
  const perSecond = (bytes * 1000) / ms;
  const left = Math.ceil(remaining / perSecond);
  const time = left >= 3600 ? `${Math.floor(left / 3600)} h ${Math.round((left % 3600) / 60)} min` : left >= 60 ? `${Math.floor(left / 60)} min ${left % 60} s` : `${left} s`;
  return ` · ${humanSize(perSecond)}/s · ${time} left`;
}

const percent = (loaded: number, total: number): number => (total === 0 ? 100 : Math.floor((loaded / total) * 100));

/** Runs a batch of uploads one after another, with a progress bar per file and for all. */
async function upload(files: { file: File; path: string }[]): Promise<void> {
  if (files.length === 0) return;
  const existing = new Set(rows.map((r) => r.name));
  const clashes = [...new Set(files.map((f) => f.path.split('/')[0]!).filter((top) => existing.has(top)))];
  let skip = new Set<string>();
  if (clashes.length > 0 && !confirm(`${clashes.length === 1 ? `“${clashes[0]}” already exists` : `${clashes.length} names already exist (${clashes.slice(0, 5).join(', ')}${clashes.length > 5 ? ', …' : ''})`}. Replace?`)) {
    skip = new Set(clashes);
  }
  files = files.filter((f) => !skip.has(f.path.split('/')[0]!));
  if (files.length === 0) return setStatus('Nothing was uploaded.');

  const panel = byId<HTMLDivElement>('uploads');
  panel.hidden = false;
  panel.textContent = '';
  const line = (label: string, className: string) => {
    const row = panel.appendChild(document.createElement('div'));
    row.className = `row ${className}`;
    const name = row.appendChild(document.createElement('bdi'));
    name.className = 'label';
    name.textContent = label;
    const info = row.appendChild(document.createElement('span'));
    info.className = 'info';
    const progress = row.appendChild(document.createElement('progress'));
    progress.max = 100;
    progress.value = 0;
    return { row, info, progress };
  };
  const total = line(`Uploading ${files.length} ${files.length === 1 ? 'file' : 'files'}`, 'total');
  total.progress.id = 'total-progress';
  const cancelAll = panel.insertBefore(document.createElement('button'), total.row.nextSibling);
  cancelAll.type = 'button';
  cancelAll.textContent = 'Cancel all';
  const jobs: Upload[] = files.map(({ file, path }) => ({ file, path, loaded: 0, state: 'waiting', ...line(path, 'file') }));
  let cancelled = false;
  cancelAll.addEventListener('click', () => {
    cancelled = true;
    for (const j of jobs) j.xhr?.abort();
  });
  for (const j of jobs) {
    const cancel = j.row.insertBefore(document.createElement('button'), j.progress);
    cancel.type = 'button';
    cancel.textContent = 'Cancel';
    cancel.setAttribute('aria-label', `Cancel ${j.path}`);
    cancel.addEventListener('click', () => {
      if (j.state === 'waiting') j.state = 'cancelled';
      j.xhr?.abort();
    });
  }

  const bytes = jobs.reduce((n, j) => n + j.file.size, 0);
  const began = performance.now();
  const showTotal = () => {
    const loaded = jobs.reduce((n, j) => n + j.loaded, 0);
    const p = percent(loaded, bytes);
    total.progress.value = p;
    total.info.textContent = `${p} % · ${humanSize(loaded)} of ${humanSize(bytes)}${bytes > SHOW_SPEED_ABOVE ? rate(loaded, performance.now() - began, bytes - loaded) : ''}`;
  };

  // Folders first, parents before children (MKCOL, RFC 4918 §9.3); 405 means it is there already.
  const folders = [...new Set(jobs.flatMap((j) => j.path.split('/').slice(0, -1).map((_s, i, all) => all.slice(0, i + 1).join('/'))))].sort((a, b) => a.split('/').length - b.split('/').length);
  for (const folder of folders) {
    const res = await dav('MKCOL', `${here}${encodePath(folder)}/`);
    if (res.status !== 201 && res.status !== 405) {
      setStatus(`Could not create the folder “${folder}”: ${explain(res.status)}.`, 'error');
      return;
    }
  }

  const failures: string[] = [];
  for (const job of jobs) {
    if (cancelled || job.state === 'cancelled') {
      job.state = 'cancelled';
      job.info.textContent = 'cancelled';
      continue;
    }
    const status = await send(job, showTotal);
    if (job.state === 'failed') failures.push(`${job.path}: ${explain(status)}`);
  }
  showTotal();
  const done = jobs.filter((j) => j.state === 'done').length;
  cancelAll.remove();
  if (failures.length > 0) setStatus(`${done} of ${jobs.length} uploaded; these failed:`, 'error', failures);
  else if (done < jobs.length) setStatus(`${done} of ${jobs.length} uploaded; the rest was cancelled.`);
  else setStatus(`${done} ${done === 1 ? 'file' : 'files'} uploaded.`, 'ok');
  await refresh();
}

/** One PUT (RFC 4918 §9.7), streamed from the file, with progress. Resolves with the status. */
function send(job: Upload, showTotal: () => void): Promise<number> {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    job.xhr = xhr;
    job.state = 'sending';
    job.started = performance.now();
    const size = job.file.size;
    const show = () => {
      const p = percent(job.loaded, size);
      job.progress.value = p;
      job.info.textContent = `${p} % of ${humanSize(size)}${size > SHOW_SPEED_ABOVE ? rate(job.loaded, performance.now() - job.started!, size - job.loaded) : ''}`;
      showTotal();
    };
    xhr.upload.addEventListener('progress', (e) => {
      job.loaded = e.loaded;
      show();
    });
    xhr.addEventListener('loadend', () => {
      const ok = xhr.status === 201 || xhr.status === 204;
      if (ok) {
        job.loaded = size;
        job.state = 'done';
        show();
        job.info.textContent = `100 % of ${humanSize(size)} · done`;
      } else {
        job.state = job.state === 'cancelled' ? 'cancelled' : 'failed';
        job.info.textContent = job.state === 'cancelled' ? 'cancelled' : explain(xhr.status);
        job.row.classList.add('failed');
      }
      job.row.querySelector('button')?.remove();
      resolve(xhr.status);
    });
    xhr.addEventListener('abort', () => (job.state = 'cancelled'));
    xhr.open('PUT', here + encodePath(job.path));
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.send(job.file);
  });
}

/** Files and folders dropped on the page, with their paths (folders read recursively). */
async function droppedFiles(items: DataTransferItemList): Promise<{ file: File; path: string }[]> {
  const out: { file: File; path: string }[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
      out.push({ file, path: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  const entries = [...items].map((i) => i.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  for (const e of entries) await walk(e, '');
  return out;
}

function setUpUploads(): void {
  const fileInput = byId<HTMLInputElement>('file-input');
  const folderInput = byId<HTMLInputElement>('folder-input');
  byId('upload-files').addEventListener('click', () => fileInput.click());
  byId('upload-folder').addEventListener('click', () => folderInput.click());
  byId('new-folder').addEventListener('click', () => void newFolder());
  const fromInput = (input: HTMLInputElement) => {
    const files = [...(input.files ?? [])].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
    input.value = '';
    void upload(files);
  };
  fileInput.addEventListener('change', () => fromInput(fileInput));
  folderInput.addEventListener('change', () => fromInput(folderInput));

  let depth = 0;
  const hasFiles = (e: DragEvent) => e.dataTransfer?.types.includes('Files') ?? false;
  document.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    depth++;
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', () => {
    if (--depth <= 0) document.body.classList.remove('dragging');
  });
  document.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer!.dropEffect = 'copy';
  });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    document.body.classList.remove('dragging');
    void droppedFiles(e.dataTransfer!.items).then(upload);
  });
}

// ---- start ---------------------------------------------------------------------------------

async function start(): Promise<void> {
  rows = [...tbody.querySelectorAll<HTMLTableRowElement>('tr[data-name]')].map(readRow);
  setUpSorting();
  setUpFilter();
  setUpActions();
  byId('toolbar').hidden = false;
  setRows(rows);
  rights = await probeRights().catch(() => ({ create: false, change: false }));
  if (rights.create) {
    byId('write-tools').hidden = false;
    setUpUploads();
  }
  if (rights.change) for (const r of rows) addActions(r);
  document.body.dataset['ready'] = rights.create || rights.change ? 'write' : 'read';
}

void start();
