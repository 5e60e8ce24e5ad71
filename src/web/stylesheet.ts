/**
 * The folder view's one stylesheet, served as style.css from the reserved UI path
 * (src/http/web-assets.ts). Kept as a string so it ships inside dist/ with the compiled code.
 * Light and dark follow the system setting; below 600 px the table reflows into two lines per
 * member; contrast of text on background stays at or above WCAG AA (4.5:1).
 */
export const STYLESHEET = `
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d8dee4; --hover: #f3f5f7;
  --accent: #0a58ca; --accent-fg: #ffffff; --danger: #b42318; --ok: #1a7f37; --focus: #0a58ca;
  --bar: #e6e9ee; --panel: #f6f8fa;
  --k-folder: #b7791f; --k-image: #7c3aed; --k-video: #c026d3; --k-audio: #0e7490; --k-pdf: #b42318;
  --k-text: #475569; --k-code: #15803d; --k-archive: #9a3412; --k-document: #1d4ed8; --k-file: #64748b;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0f1419; --fg: #e6edf3; --muted: #9aa7b4; --line: #2d333b; --hover: #1c232b;
    --accent: #6cb6ff; --accent-fg: #0f1419; --danger: #ff7b72; --ok: #56d364; --focus: #6cb6ff;
    --bar: #2d333b; --panel: #161b22;
    --k-folder: #e3b341; --k-image: #b197fc; --k-video: #f0abfc; --k-audio: #67e8f9; --k-pdf: #ff7b72;
    --k-text: #a8b3c1; --k-code: #7ee787; --k-archive: #ffa657; --k-document: #79c0ff; --k-file: #9aa7b4;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
}
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
:focus-visible { outline: 2px solid var(--focus); outline-offset: 2px; border-radius: 3px; }
header { padding: 16px 24px 8px; border-bottom: 1px solid var(--line); background: var(--panel); }
main { padding: 8px 24px 32px; }
.crumbs { font-size: 18px; font-weight: 600; overflow-wrap: anywhere; margin: 0 0 8px; }
.crumbs a, .crumbs span { white-space: pre-wrap; }
.crumbs .sep { color: var(--muted); margin: 0 4px; font-weight: 400; }
.toolbar { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 8px 0; }
.toolbar[hidden], [hidden] { display: none !important; }
.toolbar input[type=search] {
  flex: 1 1 200px; min-width: 0; padding: 7px 10px; font: inherit; color: var(--fg);
  background: var(--bg); border: 1px solid var(--line); border-radius: 6px;
}
button, .button {
  font: inherit; font-size: 14px; padding: 6px 12px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--line); background: var(--bg); color: var(--fg); white-space: nowrap;
}
button:hover, .button:hover { background: var(--hover); text-decoration: none; }
button.primary { background: var(--accent); color: var(--accent-fg); border-color: var(--accent); }
button.danger { color: var(--danger); }
.file-input { position: absolute; width: 1px; height: 1px; opacity: 0; overflow: hidden; }
.status { min-height: 1.4em; margin: 4px 0; }
.status.error { color: var(--danger); font-weight: 600; }
.status.ok { color: var(--ok); }
.status ul { margin: 4px 0; padding-left: 20px; font-weight: 400; }
/* The rows are grids, not table rows, at every width: rows off screen can then skip layout and
   painting (content-visibility), so sorting or filtering 10,000 of them stays quick. */
table, thead, tbody { display: block; width: 100%; }
tr { display: grid; grid-template-columns: minmax(0, 1fr) 96px 190px 230px; align-items: center; }
tbody tr { content-visibility: auto; contain-intrinsic-size: auto 41px; }
tr[hidden] { display: none; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 13px; padding: 6px 8px; }
tr { border-bottom: 1px solid var(--line); }
th button { border: 0; background: none; padding: 0; font: inherit; color: inherit; cursor: pointer; }
th button[aria-pressed=true] { color: var(--fg); }
th.size, td.size { text-align: right; }
th, td { min-width: 0; }
td { padding: 6px 8px; }
tbody tr:hover { background: var(--hover); }
td.name { overflow: hidden; }
td.name a { display: inline-flex; align-items: center; gap: 10px; max-width: 100%; }
.label { white-space: pre-wrap; overflow-wrap: anywhere; unicode-bidi: isolate; }
td.size, td.date { white-space: nowrap; color: var(--muted); font-variant-numeric: tabular-nums; }
td.actions { white-space: nowrap; text-align: right; overflow: hidden; }
td.size, td.date { overflow: hidden; text-overflow: ellipsis; }
td.actions button {
  padding: 3px 8px; font-size: 13px; margin-left: 2px; border-color: transparent; background: none; color: var(--accent);
}
td.actions button.danger { color: var(--danger); }
td.actions button:hover, td.actions button:focus-visible { border-color: var(--line); background: var(--hover); }
.icon {
  flex: none; display: inline-grid; place-items: center; width: 30px; height: 22px; border-radius: 5px;
  font-size: 9px; font-weight: 700; letter-spacing: .02em; color: var(--bg); background: var(--k-file);
  text-transform: uppercase;
}
.icon::before { content: attr(data-label); }
.k-folder .icon { background: var(--k-folder); } .k-image .icon { background: var(--k-image); }
.k-video .icon { background: var(--k-video); } .k-audio .icon { background: var(--k-audio); }
.k-pdf .icon { background: var(--k-pdf); } .k-text .icon { background: var(--k-text); }
.k-code .icon { background: var(--k-code); } .k-archive .icon { background: var(--k-archive); }
.k-document .icon { background: var(--k-document); }
.empty { color: var(--muted); padding: 16px 8px; }
.drop-hint { display: none; }
body.dragging main { outline: 3px dashed var(--accent); outline-offset: -6px; }
body.dragging .drop-hint { display: block; color: var(--accent); font-weight: 600; }
.uploads { margin: 8px 0; padding: 8px 12px; border: 1px solid var(--line); border-radius: 8px; background: var(--panel); }
.uploads .row { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 2px 12px; align-items: center; margin: 6px 0; }
.uploads .row .label { font-size: 14px; }
.uploads .row .info { font-size: 12px; color: var(--muted); text-align: right; font-variant-numeric: tabular-nums; }
.uploads progress { grid-column: 1 / -1; width: 100%; height: 8px; accent-color: var(--accent); }
.uploads .total { font-weight: 600; }
.uploads .failed .info { color: var(--danger); }
footer { color: var(--muted); font-size: 12px; padding: 0 24px 24px; }
@media (max-width: 600px) {
  header { padding: 12px 12px 6px; }
  main { padding: 4px 12px 24px; }
  footer { padding: 0 12px 16px; }
  .crumbs { font-size: 16px; }
  thead tr { display: flex; gap: 16px; border-bottom: 1px solid var(--line); }
  thead th { border: 0; padding: 6px 0; }
  thead th.actions { display: none; }
  tbody tr { grid-template-columns: minmax(0, 1fr) auto; gap: 0 8px; padding: 8px 0; border-bottom: 1px solid var(--line); contain-intrinsic-size: auto 76px; }
  td { border: 0; padding: 0; }
  td.name { grid-column: 1 / -1; }
  td.size { grid-row: 2; grid-column: 2; font-size: 12px; }
  td.date { grid-row: 2; grid-column: 1; font-size: 12px; padding-left: 40px; }
  td.actions { grid-column: 1 / -1; text-align: left; padding: 4px 0 0 36px; white-space: normal; }
  td.actions button { margin: 0 4px 0 0; padding: 2px 6px; }
  td.actions:empty { display: none; }
}
`;
