"""The report's embedded stylesheet: one small block, screen and print (A4 landscape) alike, so
the page needs nothing from the network and the PDF is the same page printed."""

CSS = """
:root { --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb; --bg:#f8fafc; --up:#15803d;
        --down:#b91c1c; --accent:#2563eb; --nav-h:34px; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 14px/1.45 Inter, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1320px; margin: 0 auto; padding: 0 24px 48px; }
header.top { background: #0f172a; color: #f8fafc; padding: 20px 24px 16px; }
header.top .inner { max-width: 1272px; margin: 0 auto; }
header.top h1 { margin: 0 0 2px; font-size: 22px; font-weight: 650; }
header.top .sub { color: #cbd5e1; margin-bottom: 12px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
         gap: 8px 24px; margin: 0; }
.facts dt { color: #94a3b8; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; }
.facts dd { margin: 0; font-weight: 550; font-variant-numeric: tabular-nums; }
.facts .wide { grid-column: span 2; }
nav.toc { position: sticky; top: 0; z-index: 5; background: #fff; border-bottom: 1px solid
          var(--line); height: var(--nav-h); padding: 7px 24px 0; font-size: 13px;
          white-space: nowrap; overflow-x: auto; overflow-y: hidden; }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 16px; }
section.sec { background: #fff; border: 1px solid var(--line); border-radius: 8px;
              padding: 16px 20px; margin-top: 20px; scroll-margin-top: calc(var(--nav-h) + 8px); }
section.sec > h2 { margin: 0 0 12px; font-size: 17px; font-weight: 650; }
h3 { font-size: 14px; margin: 18px 0 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(118px, 1fr)); gap: 10px;
         margin-bottom: 16px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
        background: #fcfcfd; }
.card-label { color: var(--muted); font-size: 12px; }
.card-value { font-size: 20px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card.pos .card-value, td.pos, .pos { color: var(--up); }
.card.neg .card-value, td.neg, .neg { color: var(--down); }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
thead th { background: #f1f5f9; font-weight: 600; position: sticky; top: var(--nav-h); }
tbody tr:nth-child(even) { background: #fafafa; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.def { color: var(--muted); font-size: 12px; }
td.src { color: var(--muted); font-size: 12px; word-break: break-all; }
table.metrics th[scope=row] { font-weight: 500; white-space: nowrap; }
.trade-table th[data-col] { cursor: pointer; user-select: none; white-space: nowrap; }
.trade-table th[data-sort=asc]::after { content: " ▲"; }
.trade-table th[data-sort=desc]::after { content: " ▼"; }
.trade-table td { white-space: nowrap; }
.table-wrap { overflow-x: auto; }
.pager { display: flex; gap: 8px; align-items: center; margin-bottom: 8px; }
.pager input { padding: 4px 8px; border: 1px solid #cbd5e1; border-radius: 4px; width: 240px; }
.pager button { padding: 3px 10px; border: 1px solid #cbd5e1; background: #fff;
                border-radius: 4px; cursor: pointer; }
.page-info { color: var(--muted); font-size: 12px; }
dl.dl { display: grid; grid-template-columns: minmax(160px, max-content) 1fr; gap: 4px 18px;
        margin: 0; }
dl.dl dt { color: var(--muted); }
dl.dl dd { margin: 0; word-break: break-word; }
dl.dl dl.dl { grid-template-columns: minmax(120px, max-content) 1fr; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
.warn { color: #92400e; background: #fffbeb; border: 1px solid #fde68a; padding: 6px 10px;
        border-radius: 4px; }
td.warn-cell { color: #92400e; }
.chart { break-inside: avoid; }
.pair-chart + .pair-chart { margin-top: 20px; }
.pair-chart > h3 { margin: 0 0 4px; font-size: 15px; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
footer { color: var(--muted); font-size: 12px; max-width: 1272px; margin: 24px auto 0;
         padding: 0 24px; }
.print-only { display: none; }
@page { size: A4 landscape; margin: 10mm; }
@media print {
  /* A4 landscape: 277 x 190 mm inside the margins, about 1047 x 718 CSS px. Each main section
     starts a page; short ones (.flow) follow on the page before when they fit. */
  body { background: #fff; font-size: 12px; }
  main { max-width: none; padding: 0; }
  header.top { padding: 10px 14px; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  header.top h1 { font-size: 19px; }
  header.top .sub { margin-bottom: 6px; }
  .facts { display: flex; flex-wrap: wrap; gap: 4px 30px; }
  .facts dd { font-size: 12px; }
  nav.toc, .no-print, .modebar-container { display: none !important; }
  .print-only { display: inline; }
  section.sec { break-before: page; border: none; border-radius: 0; padding: 0; margin-top: 0; }
  main > section.sec:first-child { break-before: auto; margin-top: 10px; }
  section.sec.flow { break-before: auto; break-inside: avoid; margin-top: 18px; }
  section.sec > h2 { margin-bottom: 8px; }
  .cards { margin-bottom: 8px; }
  .card { padding: 6px 10px; }
  .card-value { font-size: 17px; }
  .pair-chart + .pair-chart { break-before: page; margin-top: 0; }
  .table-wrap { overflow: visible; }
  th, td { padding: 3px 8px; }
  .trade-table { font-size: 10.5px; }
  .trade-table th, .trade-table td { padding: 2px 5px; }
  thead th { position: static; }
  tr { break-inside: avoid; }
  .two { grid-template-columns: 1fr 1fr; }
  footer { padding: 0; margin-top: 18px; }
}
"""
