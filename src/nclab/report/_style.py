"""The report page's stylesheet (inline in the page: no network, no external files)."""

CSS = """
:root { --pass:#2E7D32; --fail:#C62828; --crash:#6A1B9A; --pend:#8D6E63; --ink:#1f2328; --muted:#6b7280;
        --line:#d8dee4; --bg:#ffffff; --soft:#f6f8fa; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:var(--ink); background:var(--bg); }
header { background:#1f3b57; color:#fff; padding:18px 32px 10px; }
header h1 { margin:0 0 4px; font-size:24px; }
header .sub { margin:0 0 10px; opacity:.85; }
nav { display:flex; flex-wrap:wrap; gap:6px 16px; }
nav a { color:#cfe3ff; text-decoration:none; font-weight:600; }
nav a:hover { text-decoration:underline; }
main { max-width:1400px; margin:0 auto; padding:8px 32px 40px; }
h2 { border-bottom:2px solid var(--line); padding-bottom:4px; margin-top:36px; }
h3 { margin:0 0 4px; font-size:19px; }
h4 { margin:14px 0 6px; font-size:15px; }
code { font:13px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background:var(--soft); padding:10px; overflow:auto; font-size:12.5px; max-height:420px; }
a { color:#0b5cad; }
.muted, .meta { color:var(--muted); }
.meta { margin:0 0 10px; }
.cite { font-style:italic; color:var(--muted); margin-top:-6px; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:700;
         color:#fff; vertical-align:middle; letter-spacing:.02em; white-space:nowrap; }
.badge.pass { background:var(--pass); } .badge.fail { background:var(--fail); }
.badge.crash { background:var(--crash); } .badge.pending { background:var(--pend); }
.boxes { display:flex; flex-wrap:wrap; gap:12px; margin:12px 0 18px; }
.box { min-width:130px; padding:10px 16px; border:1px solid var(--line); border-radius:8px; background:var(--soft); }
.box span { display:block; font-size:28px; font-weight:700; }
.box.pass span { color:var(--pass); } .box.fail span { color:var(--fail); }
.box.crash span { color:var(--crash); } .box.pending span { color:var(--pend); }
table { border-collapse:collapse; margin:8px 0 12px; }
th, td { border:1px solid var(--line); padding:5px 9px; text-align:left; vertical-align:top; }
thead th { background:var(--soft); }
table.summary tr.fail td:first-child { border-left:4px solid var(--fail); }
table.summary tr.pass td:first-child { border-left:4px solid var(--pass); }
table.claims { width:100%; }
table.claims td:nth-child(3), table.claims td:nth-child(4) { max-width:340px; overflow-wrap:anywhere; }
table.claims td:nth-child(2) { max-width:220px; }
table.coverage td:nth-child(2) { max-width:420px; overflow-wrap:anywhere; }
table.claims tr.fail { background:#fdecea; }
table.claims tr.fail td:first-child { border-left:4px solid var(--fail); }
table.claims tr.pass td:first-child { border-left:4px solid var(--pass); }
table.claims tr:target { outline:3px solid #f9a825; }
table.kv th { font-weight:600; background:var(--soft); white-space:nowrap; }
table.data td { font-size:13px; }
.scroll { overflow-x:auto; }
ul.bad li { margin:4px 0; }
.warning { border:2px solid var(--crash); background:#fff4e5; border-radius:8px; padding:8px 14px; margin:10px 0; }
.allgood { color:var(--pass); font-weight:600; }
section.exp { border:1px solid var(--line); border-radius:10px; padding:16px 20px; margin:18px 0; }
section.exp.crashed { border-color:var(--crash); border-width:2px; }
section.exp:target { box-shadow:0 0 0 3px #f9a825; }
.exp-body { display:grid; grid-template-columns:minmax(0, 3fr) minmax(260px, 2fr); gap:20px; align-items:start; }
@media (max-width: 1000px) { .exp-body { grid-template-columns:1fr; } }
.figs { display:flex; flex-direction:column; gap:12px; }
.figs.grid { flex-direction:row; flex-wrap:wrap; }
.figs.grid figure { max-width:640px; }
figure { margin:0; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:4px; background:#fff; }
figcaption { font-size:12px; color:var(--muted); }
figure.missing p { color:var(--fail); }
figure.summary-fig img { max-width:560px; border:none; }
aside.wide { max-width:1000px; margin-bottom:12px; }
.figs.wide { margin-bottom:8px; }
aside blockquote { margin:0; padding:6px 14px; border-left:4px solid #1f3b57; background:var(--soft); }
aside blockquote p { margin:6px 0; }
.error { border-left:4px solid var(--crash); background:#f3e5f5; padding:6px 14px; margin:8px 0 12px; }
details { margin:8px 0; } summary { cursor:pointer; font-weight:600; }
footer { margin-top:40px; color:var(--muted); font-size:13px; }
"""
