/**
 * How the folder view shows sizes, kinds and order: plain functions shared by the server's HTML
 * (src/http/listing-html.ts) and the page's script (app.ts), so both say the same thing.
 * No DOM and no Node here: this file runs on both sides.
 */

/** 1536 → "1.5 KiB"; below 1 KiB exact bytes. */
export function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** "1,234,567 bytes": the exact size, for the hover title. */
export const exactBytes = (bytes: number): string => `${String(bytes).replace(/\B(?=(\d{3})+(?!\d))/g, ',')} bytes`;

export type Kind = 'folder' | 'image' | 'video' | 'audio' | 'pdf' | 'text' | 'code' | 'archive' | 'document' | 'file';

const KIND_BY_EXTENSION: Record<string, Kind> = {};
const kinds: [Kind, string][] = [
  ['image', 'png jpg jpeg gif webp avif svg bmp ico tif tiff heic'],
  ['video', 'mp4 m4v webm mkv mov avi ogv mpg mpeg'],
  ['audio', 'mp3 m4a aac flac wav ogg oga opus'],
  ['pdf', 'pdf'],
  ['text', 'txt md rst log csv tsv ini conf cfg'],
  ['code', 'js mjs cjs ts tsx jsx json html htm css xml yml yaml toml sh py rb go rs c h cpp hpp java kt php sql'],
  ['archive', 'zip tar gz tgz bz2 xz zst 7z rar iso'],
  ['document', 'doc docx odt rtf xls xlsx ods ppt pptx odp epub'],
];
for (const [kind, list] of kinds) for (const ext of list.split(' ')) KIND_BY_EXTENSION[ext] = kind;

/** The short label each kind's icon shows. */
export const KIND_LABELS: Record<Kind, string> = {
  folder: 'dir', image: 'img', video: 'vid', audio: 'aud', pdf: 'pdf', text: 'txt', code: 'code', archive: 'zip', document: 'doc', file: 'file',
};

/** The icon kind of a member, from its extension (never from its content). */
export function kindOf(name: string, isCollection: boolean): Kind {
  if (isCollection) return 'folder';
  const dot = name.lastIndexOf('.');
  return (dot > 0 && KIND_BY_EXTENSION[name.slice(dot + 1).toLowerCase()]) || 'file';
}

/** Natural, case-insensitive order: "file2" before "file10", "a" beside "A". */
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
export const compareNames = (a: string, b: string): number => collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);

export interface Member {
  readonly name: string;
  readonly isCollection: boolean;
  readonly size: number;
  readonly mtimeMs: number;
}

export type SortKey = 'name' | 'size' | 'date';

/** Folders first, then by the key (ties by name, A to Z); `descending` reverses the key, never the folders-first rule. */
export function sortMembers<T extends Member>(members: T[], key: SortKey, descending = false): T[] {
  const sign = descending ? -1 : 1;
  return members.sort((a, b) => {
    if (a.isCollection !== b.isCollection) return a.isCollection ? -1 : 1;
    if (key === 'name') return sign * compareNames(a.name, b.name);
    const d = key === 'size' ? a.size - b.size : a.mtimeMs - b.mtimeMs;
    return d !== 0 ? sign * d : compareNames(a.name, b.name);
  });
}
