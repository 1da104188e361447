/** The deepest folder level the folder list indents (deeper ones line up with it). */
export const MAX_INDENT_DEPTH = 12;

/** `.depth-N`: the indentation of a folder N levels below a top-level folder. */
const DEPTH_CLASSES = Array.from(
  { length: MAX_INDENT_DEPTH },
  (_, i) => `.depth-${i + 1} { padding-left:${(0.6 + (i + 1) * 1.2).toFixed(1)}rem; }`,
).join("\n");

/** The one stylesheet, served at /static/style.css. */
export const STYLESHEET = `
:root { --fg:#1d2430; --muted:#5b6575; --line:#d9dee6; --bg:#f6f7f9; --accent:#1f5fbf; --bad:#a4262c; --good:#1e7b34; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif; color:var(--fg); background:var(--bg); }
header.top { display:flex; gap:1.5rem; align-items:center; padding:.6rem 1.5rem; background:#fff; border-bottom:1px solid var(--line); }
header.top .brand { font-weight:700; color:var(--fg); text-decoration:none; }
header.top nav { display:flex; gap:1rem; flex:1; }
header.top .me { display:flex; gap:.75rem; align-items:center; color:var(--muted); }
main { max-width:1200px; margin:1.5rem auto; padding:0 1.5rem; }
a { color:var(--accent); }
h1 { font-size:1.5rem; margin:.2rem 0 1rem; }
h2 { font-size:1.15rem; margin:1.5rem 0 .6rem; }
.crumbs { color:var(--muted); font-size:.9rem; }
.card { background:#fff; border:1px solid var(--line); border-radius:6px; padding:1rem 1.25rem; margin:1rem 0; }
table { border-collapse:collapse; width:100%; background:#fff; }
th, td { text-align:left; padding:.35rem .6rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#eef1f5; font-weight:600; }
td.num { text-align:right; font-variant-numeric:tabular-nums; }
.grid { overflow-x:auto; }
.grid:focus { outline:2px solid var(--accent); }
table.audit td.detail { min-width:16rem; max-width:32rem; overflow-wrap:anywhere; }
table.audit td.detail code { white-space:pre-wrap; }
form.inline { display:inline; }
label { display:block; margin:.4rem 0 .15rem; font-weight:600; }
input[type=text], input[type=email], input[type=password], input[type=number], input[type=date],
input[type=datetime-local], select, textarea { font:inherit; padding:.35rem .5rem; border:1px solid var(--line); border-radius:4px; width:100%; max-width:32rem; background:#fff; }
textarea { max-width:100%; min-height:8rem; font-family:ui-monospace,monospace; }
button, .button { font:inherit; padding:.35rem .9rem; border:1px solid var(--accent); background:var(--accent); color:#fff; border-radius:4px; cursor:pointer; text-decoration:none; display:inline-block; }
button.secondary, .button.secondary { background:#fff; color:var(--accent); }
button.danger { background:var(--bad); border-color:var(--bad); }
.row { display:flex; gap:1rem; flex-wrap:wrap; align-items:flex-end; }
.row > * { flex:1; min-width:10rem; }
.notice { padding:.6rem 1rem; border-radius:4px; background:#e7f3ea; color:var(--good); margin:1rem 0; }
.error { padding:.6rem 1rem; border-radius:4px; background:#fbeaea; color:var(--bad); margin:1rem 0; }
.error ul { margin:.3rem 0 0; }
.field-error { color:var(--bad); margin:.15rem 0 .4rem; font-size:.9rem; }
input[aria-invalid=true] { border-color:var(--bad); outline:1px solid var(--bad); }
.muted { color:var(--muted); }
.pill { display:inline-block; padding:0 .5rem; border-radius:999px; background:#eef1f5; font-size:.8rem; }
.secret { font-family:ui-monospace,monospace; background:#fff8db; padding:.5rem; border:1px dashed #c9a400; word-break:break-all; }
pre { background:#fff; border:1px solid var(--line); padding:.75rem; overflow-x:auto; }
.login { max-width:26rem; margin:4rem auto; }
.pager { display:flex; gap:1rem; align-items:center; margin:.6rem 0; }
ul.tree { list-style:none; padding-left:1.2rem; }
textarea.json-cell { min-height:2.2rem; }
${DEPTH_CLASSES}
`;

/** The key page's copy button, served at /static/copy_key.js: pages carry no inline script. */
export const COPY_KEY_SCRIPT = `document.getElementById("copy-key").addEventListener("click", () =>
  navigator.clipboard.writeText(document.getElementById("key-value").textContent));
`;
